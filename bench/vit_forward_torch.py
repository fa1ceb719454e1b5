"""Peer of bench/vit-forward.ts: open_clip VisionTransformer forward images/s, random weights, CPU.
Tries torch's default thread count and 1 thread (OpenMP barriers collapse on an oversubscribed
shared machine) and reports the faster.
Usage: vit_forward_torch.py '<json: width layers heads patch image outputDim act batch runs>'; prints one JSON line."""
import json
import sys
import time

import torch
from open_clip.transformer import QuickGELU, VisionTransformer

c = json.loads(sys.argv[1])
torch.manual_seed(0)
model = VisionTransformer(image_size=c["image"], patch_size=c["patch"], width=c["width"], layers=c["layers"], heads=c["heads"],
                          mlp_ratio=4.0, output_dim=c["outputDim"], act_layer=QuickGELU if c["act"] == "quick_gelu" else torch.nn.GELU).eval()
x = torch.randn(c["batch"], 3, c["image"], c["image"])
best = {"imagesPerSec": 0.0, "threads": 0}
for threads in sorted({torch.get_num_threads(), 1}, reverse=True):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        model(x)  # warm-up
        t = time.perf_counter()
        for _ in range(c["runs"]):
            model(x)
        secs = time.perf_counter() - t
    if c["batch"] * c["runs"] / secs > best["imagesPerSec"]:
        best = {"imagesPerSec": c["batch"] * c["runs"] / secs, "threads": threads}
print(json.dumps({**best, "torch": torch.__version__}))
