"""FAISS IndexFlatIP oracle: exact top-k by inner product.

argv: base.f32 queries.f32 dim k   (raw little-endian float32, rows already L2-normalised)
stdout: one JSON line {indices: [[...]], scores: [[...]]}
"""
import json
import sys

import faiss
import numpy as np

base_file, query_file, dim, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = np.fromfile(base_file, dtype="<f4").reshape(-1, dim)
queries = np.fromfile(query_file, dtype="<f4").reshape(-1, dim)
index = faiss.IndexFlatIP(dim)
index.add(base)
scores, indices = index.search(queries, k)
print(json.dumps({"indices": indices.tolist(), "scores": scores.astype(float).tolist()}))
