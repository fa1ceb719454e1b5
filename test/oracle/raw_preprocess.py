"""Oracle for test/export/raw-preprocess.test.ts: our SavedModels in real TensorFlow, and Pillow itself.

  python raw_preprocess.py < request.json  -> one JSON line

request: {"models": {name: saved_model dir}, "output": signature output key,
          "images": [{"file": raw uint8 HWC RGB, "width": w, "height": h}, ...],
          "pillow": [{"imageSize": S, "resize": "shortest_bicubic_crop" | "bilinear"}, ...]}
answer:  {"tf": {name: [base64 float32 output of serving_default on each image (batch of 1)]},
          "pillow": [[base64 uint8 HWC per image] per spec], "tf_version": ...}
Pillow's pixels: OpenCLIP's eval transform (Resize(S, BICUBIC) + CenterCrop(S)) or img.resize((S, S), BILINEAR).
"""
import base64
import json
import sys

import numpy as np
from PIL import Image
from open_clip.transform import image_transform
import tensorflow as tf


def b64(a, dtype):
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()


req = json.load(sys.stdin)
images = [np.fromfile(im["file"], np.uint8).reshape(im["height"], im["width"], 3) for im in req["images"]]
out = {"tf": {}, "pillow": [], "tf_version": tf.__version__}
for name, d in req.get("models", {}).items():
    sig = tf.saved_model.load(d).signatures["serving_default"]
    out["tf"][name] = [b64(sig(tf.constant(x[None]))[req["output"]].numpy(), np.float32) for x in images]
for spec in req.get("pillow", []):
    s = spec["imageSize"]
    if spec["resize"] == "bilinear":
        resize = lambda im: im.resize((s, s), Image.BILINEAR)
    else:
        # OpenCLIP's eval transform without ToTensor/Normalize: its PIL steps
        steps = image_transform(s, is_train=False).transforms
        resize = lambda im: steps[1](steps[0](im))
    out["pillow"].append([b64(np.asarray(resize(Image.fromarray(x))), np.uint8) for x in images])
print(json.dumps(out))
