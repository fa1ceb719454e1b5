"""Oracle for test/oracle/export-read-tf.test.ts: TensorFlow writes a TF1-style SavedModel (resource
variables, Saver V2 checkpoint whose index shares key prefixes across several SSTable blocks);
our TypeScript reader must read it. Prints the variables and the signature output on a fixed batch."""
import json
import sys

import numpy as np
import tensorflow as tf

out_dir = sys.argv[1]
tf1 = tf.compat.v1
rng = np.random.default_rng(0)
values = {f"block_{i:03d}/dense/kernel": rng.standard_normal((3, 4)).astype(np.float32) for i in range(300)}
g = tf.Graph()
with g.as_default():
    x = tf1.placeholder(tf.uint8, [None, None, None, 3], name="image_tensor")
    f = tf.reduce_mean(tf.cast(x, tf.float32) / 255.0, axis=[1, 2])  # [B,3]
    acc = tf.zeros([1, 4])
    for name, v in values.items():
        var = tf1.get_variable(name.rsplit("/", 1)[0] + "/kernel", initializer=v, use_resource=True)
        acc = acc + tf.matmul(f, var)
    y = tf.math.l2_normalize(acc, axis=1, name="embedding")
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        b = tf1.saved_model.Builder(out_dir)
        sig = tf1.saved_model.predict_signature_def({"image_tensor": x}, {"embedding": y})
        b.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
        b.save()
        batch = (np.arange(2 * 5 * 7 * 3) % 251).astype(np.uint8).reshape(2, 5, 7, 3)
        emb = s.run(y, {x: batch})
print(json.dumps({"variables": {k: v.ravel().tolist() for k, v in list(values.items())[:5]}, "count": len(values), "embedding": emb.tolist()}))
