"""Oracle for test/oracle/train_adamw.test.ts: a few optimizer steps of Dense(64)+L2+ArcFace
(insightface formula, easy_margin=False) + label-smoothed CE, with torch.optim.AdamW / SGD and
torch.nn.utils.clip_grad_norm_. Reads a list of cases as JSON on stdin, prints per-step losses and final weights."""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
def run(case):
    B, D, E, C = case["batch"], case["inputDim"], case["embDim"], case["classes"]
    x = torch.tensor(case["x"], dtype=torch.float32).reshape(B, D)
    y = torch.tensor(case["labels"], dtype=torch.int64)
    W = torch.nn.Parameter(torch.tensor(case["projWeight"], dtype=torch.float32).reshape(E, D))
    b = torch.nn.Parameter(torch.tensor(case["projBias"], dtype=torch.float32))
    M = torch.nn.Parameter(torch.tensor(case["marginWeight"], dtype=torch.float32).reshape(C, E))
    s, m, eps_ls = case["scale"], case["margin"], case["smoothing"]
    groups = [{"params": [W, M], "weight_decay": case["weightDecay"]}, {"params": [b], "weight_decay": 0.0}]
    if case["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=case["lr"], betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.SGD(groups, lr=case["lr"], momentum=0.9)

    def loss_fn():
        e = F.normalize(F.linear(x, W, b), dim=-1)
        cos = F.linear(e, F.normalize(M, dim=-1)).clamp(-1 + 1e-7, 1 - 1e-7)
        sin = torch.sqrt(1 - cos * cos)
        phi = cos * math.cos(m) - sin * math.sin(m)
        phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(m) * m)
        onehot = F.one_hot(y, C).float()
        logits = s * (onehot * phi + (1 - onehot) * cos)
        return F.cross_entropy(logits, y, label_smoothing=eps_ls)

    losses = []
    for step in range(case["steps"]):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        if case["clip"] > 0:
            torch.nn.utils.clip_grad_norm_([W, b, M], case["clip"])
        # the schedule: lr factor per step, as the TS loop applies it
        for g in opt.param_groups:
            g["lr"] = case["lr"] * case["lrFactors"][step]
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "projWeight": W.detach().flatten().tolist(), "projBias": b.detach().tolist(), "marginWeight": M.detach().flatten().tolist()}


print(json.dumps([run(c) for c in json.load(sys.stdin)]))
