"""Oracle for lib/retrieval/pca.ts: scikit-learn's exact PCA (svd_solver='full') on the same matrix.
stdin: JSON {x, n, d, k}; stdout: JSON {components (k x d), variances, mean}."""
import json, sys
import numpy as np
from sklearn.decomposition import PCA

a = json.load(sys.stdin)
x = np.asarray(a["x"], dtype=np.float64).reshape(a["n"], a["d"])
p = PCA(n_components=a["k"], svd_solver="full").fit(x)
print(json.dumps({"components": p.components_.tolist(), "variances": p.explained_variance_.tolist(), "mean": p.mean_.tolist()}))
