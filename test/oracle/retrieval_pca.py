"""Oracle for lib/retrieval/pca.ts: scikit-learn's exact PCA (svd_solver='full') on the same matrix.
stdin: JSON {x, n, d, k[, whiten, apply]}; stdout: JSON {components (k x d), variances, mean[, transformed]}:
`transformed` is PCA(whiten=...).transform of the `apply` rows (default: x itself)."""
import json, sys
import numpy as np
from sklearn.decomposition import PCA

a = json.load(sys.stdin)
x = np.asarray(a["x"], dtype=np.float64).reshape(a["n"], a["d"])
p = PCA(n_components=a["k"], svd_solver="full", whiten=bool(a.get("whiten", False))).fit(x)
out = {"components": p.components_.tolist(), "variances": p.explained_variance_.tolist(), "mean": p.mean_.tolist()}
if a.get("whiten"):
    rows = np.asarray(a["apply"], dtype=np.float64).reshape(-1, a["d"]) if "apply" in a else x
    out["transformed"] = p.transform(rows).tolist()
print(json.dumps(out))
