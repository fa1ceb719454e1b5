"""Peer of bench/vit-train.ts: one training step of open_clip's VisionTransformer (random weights)
-> Linear(out -> 64) -> L2 -> ArcFace (s=30, m=0.3) -> label-smoothed CE -> torch.optim.AdamW
(backbone lr with layer-wise decay, no weight decay on 1-d tensors and embeddings), float32, CPU,
`threads` threads (the tfjs side's count). Warm-up step, then `steps` timed steps.
Usage: vit_train_torch.py '<json: width layers heads patch image outputDim act batch steps threads classes lr backboneLr layerDecay weightDecay>';
prints one JSON line."""
import json
import math
import re
import sys
import time

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, VisionTransformer

c = json.loads(sys.argv[1])
torch.set_num_threads(c["threads"])
torch.manual_seed(0)
out_dim = c["outputDim"] or c["width"]
visual = VisionTransformer(image_size=c["image"], patch_size=c["patch"], width=c["width"], layers=c["layers"], heads=c["heads"],
                           mlp_ratio=4.0, output_dim=out_dim, act_layer=QuickGELU if c["act"] == "quick_gelu" else torch.nn.GELU).train()
proj = torch.nn.Linear(out_dim, 64)
centres = torch.nn.Parameter(torch.empty(c["classes"], 64).uniform_(-0.1, 0.1))
L = c["layers"]


def lr_scale(name):
    m = re.match(r"transformer\.resblocks\.(\d+)\.", name)
    layer_id = int(m.group(1)) + 1 if m else (0 if name in ("conv1.weight", "positional_embedding", "class_embedding") or name.startswith("ln_pre.") else L + 1)
    return c["layerDecay"] ** (L + 1 - layer_id)


groups = {}
for n, p in visual.named_parameters():
    wd = 0.0 if p.ndim <= 1 or n in ("positional_embedding", "class_embedding") else c["weightDecay"]
    groups.setdefault((c["backboneLr"] * lr_scale(n), wd), []).append(p)
groups.setdefault((c["lr"], c["weightDecay"]), []).extend([proj.weight, centres])
groups.setdefault((c["lr"], 0.0), []).append(proj.bias)
opt = torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()])

x = torch.randn(c["batch"], 3, c["image"], c["image"])
y = torch.arange(c["batch"]) * 37 % c["classes"]
s, m = 30.0, 0.3


def step():
    e = F.normalize(proj(visual(x)), dim=-1)
    cos = F.linear(e, F.normalize(centres, dim=-1))
    onehot = F.one_hot(y, c["classes"]).float()
    cos_t = (cos * onehot).sum(-1)
    phi = cos_t * math.cos(m) - torch.sqrt(torch.clamp(1 - cos_t * cos_t, 1e-12, 1)) * math.sin(m)
    phi = torch.where(cos_t > math.cos(math.pi - m), phi, cos_t - math.sin(math.pi - m) * m)
    loss = F.cross_entropy(s * (cos + onehot * (phi - cos_t).unsqueeze(1)), y, label_smoothing=0.1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


first = step()  # warm-up
t = time.perf_counter()
for _ in range(c["steps"]):
    step()
secs = time.perf_counter() - t
print(json.dumps({"imagesPerSec": c["batch"] * c["steps"] / secs, "threads": torch.get_num_threads(), "torch": torch.__version__, "loss": first}))
