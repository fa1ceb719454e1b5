"""Oracle for test/oracle/export-graph-model.test.ts: tf.saved_model.load(<our submission.zip unpacked>)
and serving_default on a uint8 batch (positional call). Prints {"embedding": [[...]], "ops": [...]}."""
import json
import sys
import tempfile
import zipfile

import numpy as np
import tensorflow as tf

zip_file, batch_file, shape = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")]
d = tempfile.mkdtemp()
zipfile.ZipFile(zip_file).extractall(d)
model = tf.saved_model.load(d)
out = model.signatures["serving_default"](tf.constant(np.fromfile(batch_file, np.uint8).reshape(shape)))
print(json.dumps({"embedding": out["embedding"].numpy().tolist(), "tf_version": tf.__version__}))
