"""Peer of bench/head-train.ts: the same cached-feature head training in PyTorch (CPU, float32):
shuffled batches of cached features -> Dropout -> Linear(D, 64) -> L2 -> ArcFace (s=30, m=0.3)
-> label-smoothed CE -> AdamW. Prints {"stepsPerSec": ...} on its last line."""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

n, dim, classes, batch, steps, threads = (int(a) for a in sys.argv[1:7])
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
feats = torch.randn(n, dim, generator=g)
labels = torch.randint(0, classes, (n,), generator=g)
proj = torch.nn.Linear(dim, 64)
centres = torch.nn.Parameter(torch.empty(classes, 64).uniform_(-0.1, 0.1))
decay = [proj.weight, centres]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": [proj.bias], "weight_decay": 0.0}], lr=1e-3)
s, m = 30.0, 0.3


def step(idx):
    x = F.dropout(feats[idx], 0.2, training=True)
    y = labels[idx]
    e = F.normalize(proj(x), dim=-1)
    cos = F.linear(e, F.normalize(centres, dim=-1)).clamp(-1 + 1e-7, 1 - 1e-7)
    phi = cos * math.cos(m) - torch.sqrt(1 - cos * cos) * math.sin(m)
    phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(m) * m)
    onehot = F.one_hot(y, classes).float()
    loss = F.cross_entropy(s * (onehot * phi + (1 - onehot) * cos), y, label_smoothing=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


perm = torch.randperm(n, generator=g)
per_epoch = n // batch
for i in range(3):  # warm-up
    step(perm[i * batch:(i + 1) * batch])
t0 = time.perf_counter()
for i in range(steps):
    j = i % per_epoch
    if j == 0:
        perm = torch.randperm(n, generator=g)
    step(perm[j * batch:(j + 1) * batch])
dt = time.perf_counter() - t0
print(json.dumps({"stepsPerSec": steps / dt, "threads": threads}))
