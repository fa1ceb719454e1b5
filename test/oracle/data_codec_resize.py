"""Oracle for the training pipeline's pixels (lib/data/jpeg.ts, lib/data/resample.ts, lib/data/image.ts).

  python data_codec_resize.py < request.json  -> one JSON line, every image as base64 uint8 HWC RGB

request: {"decode": [jpeg path, ...],
          "resized_crop": [{"path": png, "box": [left, top, width, height], "size": [w, h], "flip": bool}, ...],
          "recompress": [{"path": png, "quality": q}, ...],
          "resize": [{"path": png, "size": [w, h], "filter": "bilinear" | "bicubic"}, ...]}
answer:  {"decode": [{"tf": tf.io.decode_jpeg(channels=3), "pil": PIL .convert("RGB")}, ...],
          "resized_crop": [torchvision F.resized_crop(PIL, BICUBIC) (+ F.hflip)],
          "recompress": [tf.io.decode_jpeg(tf.io.encode_jpeg(x, quality=q))],
          "resize": [PIL img.resize((w, h), Image.BILINEAR or Image.BICUBIC)]}
"""
import base64
import json
import sys

import numpy as np
# torch before tensorflow: the other order segfaults in one process (their bundled libraries clash).
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode
import tensorflow as tf


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


req = json.load(sys.stdin)
out = {"decode": [], "resized_crop": [], "recompress": [], "resize": []}
for path in req.get("decode", []):
    data = open(path, "rb").read()
    out["decode"].append({"tf": b64(tf.io.decode_jpeg(data, channels=3).numpy()), "pil": b64(np.asarray(Image.open(path).convert("RGB")))})
for r in req.get("resized_crop", []):
    left, top, width, height = r["box"]
    img = F.resized_crop(Image.open(r["path"]).convert("RGB"), top, left, height, width, [r["size"][1], r["size"][0]], InterpolationMode.BICUBIC)
    if r["flip"]:
        img = F.hflip(img)
    out["resized_crop"].append(b64(np.asarray(img)))
for r in req.get("recompress", []):
    x = np.asarray(Image.open(r["path"]).convert("RGB"))
    out["recompress"].append(b64(tf.io.decode_jpeg(tf.io.encode_jpeg(x, quality=r["quality"]), channels=3).numpy()))
for r in req.get("resize", []):
    filt = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[r["filter"]]
    out["resize"].append(b64(np.asarray(Image.open(r["path"]).convert("RGB").resize(tuple(r["size"]), filt))))
print(json.dumps(out))
