"""Oracle for test/oracle/margin.test.ts: margin heads written from the papers / insightface's
ArcMarginProduct in PyTorch (float64), plus F.cross_entropy with label smoothing and the gradients.
Reads a JSON list of cases on stdin, prints one JSON line (a list of results)."""
import json
import math
import sys

import torch
import torch.nn.functional as F

def run(c):
    B, D, C, k = c["batch"], c["dim"], c["classes"], c.get("k", 1)
    x = torch.tensor(c["x"], dtype=torch.float64).reshape(B, D).requires_grad_()
    W = torch.tensor(c["W"], dtype=torch.float64).reshape(C * k, D).requires_grad_()
    labels = torch.tensor(c["labels"], dtype=torch.long)
    s = c["s"]
    m = torch.tensor(c["m"] if isinstance(c["m"], list) else [c["m"]] * C, dtype=torch.float64)[labels]  # per-row margin

    cosine = F.linear(F.normalize(x), F.normalize(W))
    if k > 1:  # sub-center ArcFace: best of k centres per class
        cosine = cosine.reshape(B, C, k).max(dim=2).values
    one_hot = F.one_hot(labels, C).to(torch.float64)
    if c["kind"] == "cosface":  # CosFace: s * (cos - m) on the target
        phi = cosine - m[:, None]
    else:  # insightface ArcMarginProduct
        sine = torch.sqrt((1.0 - cosine ** 2).clamp(0, 1))
        phi = cosine * torch.cos(m)[:, None] - sine * torch.sin(m)[:, None]
        if c.get("easyMargin"):
            phi = torch.where(cosine > 0, phi, cosine)
        else:
            th = torch.cos(math.pi - m)[:, None]
            mm = (torch.sin(math.pi - m) * m)[:, None]
            phi = torch.where(cosine > th, phi, cosine - mm)
    logits = s * (one_hot * phi + (1.0 - one_hot) * cosine)
    loss = F.cross_entropy(logits, labels, label_smoothing=c.get("labelSmoothing", 0.0))
    loss.backward()
    return {
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradX": x.grad.flatten().tolist(),
        "gradW": W.grad.flatten().tolist(),
    }


print(json.dumps([run(c) for c in json.loads(sys.stdin.read())]))
