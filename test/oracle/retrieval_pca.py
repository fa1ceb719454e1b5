"""scikit-learn PCA oracle for lib/viz/projection.ts pca2.

argv: vectors.f32 dim
stdout: one JSON line {points: [[x, y], ...], explained: [r1, r2]} (explained_variance_ratio_)
"""
import json
import sys

import numpy as np
from sklearn.decomposition import PCA

x = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, int(sys.argv[2])).astype(np.float64)
pca = PCA(n_components=2, svd_solver="full").fit(x)
print(json.dumps({"points": pca.transform(x).tolist(), "explained": pca.explained_variance_ratio_.tolist()}))
