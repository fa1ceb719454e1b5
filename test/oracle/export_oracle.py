"""Oracle for test/oracle/export.test.ts: loads our exports with the real runtimes.

For each model dir: tf.saved_model.load(<dir/submission.zip unpacked>).signatures['serving_default'] on every
uint8 batch; onnx.checker + onnxruntime on dir/model.onnx; and an independent reference, open_clip's
VisionTransformer (PyTorch) loaded with the same weights, on Pillow's preprocessing of each image
(OpenCLIP's eval transform for 'shortest_bicubic_crop', img.resize((S, S), BILINEAR) for 'bilinear')
+ CLIP normalisation + Dense + L2 norm in numpy.
Prints one JSON line: {model: {"checker": "ok", "batches": {name: {"tf": [...], "ort": [...], "torch": [...]}}}}.
"""
import json
import sys
import tempfile
import zipfile

import numpy as np
# torch (and the triton it pulls in) must load before TensorFlow: the other order segfaults
import torch
from PIL import Image
from open_clip.transform import image_transform
from open_clip.transformer import QuickGELU, VisionTransformer
import onnx
import onnxruntime as ort
import tensorflow as tf


def load_weights(d):
    manifest = json.load(open(f"{d}/weights.json"))
    blob = np.fromfile(f"{d}/weights.bin", np.float32)
    return {k: blob[o:o + int(np.prod(s))].reshape(s) for k, (s, o) in manifest.items()}


def torch_reference(cfg, w, batch):
    vit = VisionTransformer(image_size=cfg["imageSize"], patch_size=cfg["patchSize"], width=cfg["width"], layers=cfg["layers"],
                            heads=cfg["heads"], mlp_ratio=cfg["mlpRatio"], output_dim=cfg["outputDim"],
                            act_layer=QuickGELU if cfg["act"] == "quick_gelu" else torch.nn.GELU)
    state = {k: torch.from_numpy(v.copy()) for k, v in w.items() if not k.startswith("head.")}
    vit.load_state_dict(state, strict=True)
    vit.eval()
    p = cfg["preprocess"]
    s = p["imageSize"]
    steps = image_transform(s, is_train=False).transforms  # Resize(s, BICUBIC), CenterCrop(s), ...
    pil = (lambda im: im.resize((s, s), Image.BILINEAR)) if p["resize"] == "bilinear" else (lambda im: steps[1](steps[0](im)))
    pixels = np.stack([np.asarray(pil(Image.fromarray(img))) for img in batch]).astype(np.float32)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    x = (x / 255.0 - torch.tensor(p["mean"]).view(1, 3, 1, 1)) / torch.tensor(p["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        f = vit(x).numpy().astype(np.float64)
    y = f @ w["head.proj.weight"].astype(np.float64).T + w["head.proj.bias"]
    return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-6)


def main(root, models, batches):
    out = {}
    bmeta = json.load(open(f"{batches}/batches.json"))
    data = {name: np.fromfile(f"{batches}/{name}.bin", np.uint8).reshape(shape) for name, shape in bmeta.items()}
    for m in models:
        d = f"{root}/{m}"
        cfg = json.load(open(f"{d}/config.json"))
        w = load_weights(d)
        onnx.checker.check_model(onnx.load(f"{d}/model.onnx"), full_check=True)
        sess = ort.InferenceSession(f"{d}/model.onnx", providers=["CPUExecutionProvider"])
        # the SavedModel as submitted: unpacked from our submission.zip
        unpacked = tempfile.mkdtemp()
        zipfile.ZipFile(f"{d}/submission.zip").extractall(unpacked)
        loaded = tf.saved_model.load(unpacked)
        sig = loaded.signatures["serving_default"]
        res = {}
        for name, b in data.items():
            t = sig(tf.constant(b))  # positional call, as the scorer's notebook did
            o = sess.run(None, {"image_tensor": b})
            res[name] = {
                "tf": t["embedding"].numpy().tolist(),
                "tf_norm": t["embedding_norm"].numpy().tolist(),
                "ort": o[0].tolist(),
                "torch": torch_reference(cfg, w, b).tolist(),
            }
        out[m] = {"checker": "ok", "tf_version": tf.__version__, "batches": res,
                  "signature_inputs": [str(s) for s in sig.structured_input_signature[1].values()]}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3])
