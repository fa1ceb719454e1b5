"""Oracle for test/train/vit-train-oracle.test.ts: ONE training step of open_clip's ViT image tower
(open_clip.create_model(spec["model"]).visual, weights from the test's safetensors) -> Linear(out -> emb)
-> L2 -> ArcFace (insightface ArcMarginProduct, easy_margin=False) -> label-smoothed cross-entropy,
with torch.optim.AdamW over BEiT/timm parameter groups: layer-wise lr decay (block i of L:
decay^(L-i), stem: decay^(L+1), after the blocks: 1), backbone lr != head lr, no weight decay on
1-d tensors and the positional / class embeddings.

Usage: train_vit_step.py '<json spec>'; reads <dir>/init.safetensors and <dir>/input.bin (NHWC f32),
writes <dir>/torch_updated.safetensors (same names, PyTorch layouts) and prints one JSON line."""
import json
import math
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import open_clip

spec = json.loads(sys.argv[1])
d = spec["dir"]
torch.set_num_threads(spec.get("threads", torch.get_num_threads()))
torch.manual_seed(0)

t0 = time.perf_counter()
init = load_file(f"{d}/init.safetensors")
visual = open_clip.create_model(spec["model"], pretrained=None).visual.float()
visual.load_state_dict({k[len("visual."):]: v for k, v in init.items() if k.startswith("visual.")}, strict=True)
visual.train()  # train mode as in the TS loop; CLIP towers have no dropout, so both modes compute the same
W = torch.nn.Parameter(init["head.proj.weight"].clone())
b = torch.nn.Parameter(init["head.proj.bias"].clone())
M = torch.nn.Parameter(init["head.margin.weight"].clone())

B, size = len(spec["labels"]), spec["image"]
x = torch.from_numpy(np.fromfile(f"{d}/input.bin", dtype="<f4").reshape(B, size, size, 3)).permute(0, 3, 1, 2).contiguous()
y = torch.tensor(spec["labels"], dtype=torch.int64)

L, decay = spec["numLayers"], spec["layerDecay"]


def lr_scale(name):
    """BEiT / timm param_groups_layer_decay: layer id 0 = stem, i+1 = block i, L+1 = after the blocks."""
    m = re.match(r"transformer\.resblocks\.(\d+)\.", name)
    if m:
        layer_id = int(m.group(1)) + 1
    elif name in ("conv1.weight", "positional_embedding", "class_embedding") or name.startswith("ln_pre."):
        layer_id = 0
    else:
        layer_id = L + 1
    return decay ** (L + 1 - layer_id)


def no_decay(name, p):
    return p.ndim <= 1 or name in ("positional_embedding", "class_embedding")


groups = {}
named = [(f"visual.{n}", p, spec["backboneLr"] * lr_scale(n), n) for n, p in visual.named_parameters()]
named += [("head.proj.weight", W, spec["lr"], "w"), ("head.proj.bias", b, spec["lr"], "b"), ("head.margin.weight", M, spec["lr"], "m")]
for full, p, lr, short in named:
    wd = 0.0 if no_decay(short if full.startswith("visual.") else full, p) else spec["weightDecay"]
    groups.setdefault((lr, wd), []).append(p)
opt = torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()],
                        betas=tuple(spec["betas"]), eps=spec["eps"])

s, m, ls, C = spec["scale"], spec["margin"], spec["labelSmoothing"], spec["numClasses"]
t1 = time.perf_counter()
opt.zero_grad()
feats = visual(x)
e = F.normalize(F.linear(feats, W, b), dim=-1)
cos = F.linear(e, F.normalize(M, dim=-1))
onehot = F.one_hot(y, C).to(cos.dtype)
cos_t = (cos * onehot).sum(-1)
sin_t = torch.sqrt(torch.clamp(1 - cos_t * cos_t, 1e-12, 1))
phi = cos_t * math.cos(m) - sin_t * math.sin(m)
# insightface: past theta + m > pi use cos(theta) - m sin(m)
phi = torch.where(cos_t > math.cos(math.pi - m), phi, cos_t - math.sin(math.pi - m) * m)
logits = s * (cos + onehot * (phi - cos_t).unsqueeze(1))
loss = F.cross_entropy(logits, y, label_smoothing=ls)
loss.backward()
opt.step()
t2 = time.perf_counter()

out = {f"visual.{n}": p.detach().contiguous() for n, p in visual.named_parameters()}
out.update({"head.proj.weight": W.detach().contiguous(), "head.proj.bias": b.detach().contiguous(), "head.margin.weight": M.detach().contiguous()})
save_file(out, f"{d}/torch_updated.safetensors")
print(json.dumps({"loss": loss.item(), "groups": len(groups), "params": sum(p.numel() for p in out.values()),
                  "stepSeconds": t2 - t1, "setupSeconds": t1 - t0, "torch": torch.__version__, "open_clip": open_clip.__version__}))
