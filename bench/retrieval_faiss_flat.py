"""Peer for bench/exact-search.ts: FAISS IndexFlatIP on the same vectors, same machine.

argv: base.f32 queries.f32 dim k out_indices.i64
stdout: one JSON line {seconds, threads, byThreads}: the best time over 1 thread and all threads
(OpenMP spin-waits badly on a shared, loaded machine, so one thread can win); the top-k ids go
to out_indices (int64, nq*k).
"""
import json
import sys
import time

import faiss
import numpy as np

base_file, query_file, dim, k, out_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = np.fromfile(base_file, dtype="<f4").reshape(-1, dim)
queries = np.fromfile(query_file, dtype="<f4").reshape(-1, dim)
index = faiss.IndexFlatIP(dim)
index.add(base)
index.search(queries[:100], k)  # warm-up
by_threads = {}
for threads in sorted({1, faiss.omp_get_max_threads()}):
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    _, ids = index.search(queries, k)
    by_threads[threads] = time.perf_counter() - t
best = min(by_threads, key=by_threads.get)
ids.astype("<i8").tofile(out_file)
print(json.dumps({"seconds": by_threads[best], "threads": best, "byThreads": by_threads}))
