"""Independent Python oracle for the host's GUIE metric (CalibratedPrecision) and the GLDv2
mAP@100 / recall@k rules, written from the metric's definition, not from lib/retrieval.

stdin: JSON list of cases {predictions: {q: [ids]}, solution: {q: [ids]}, usage: {q: split}}
stdout: one JSON line, a list of {overall, splits: {split: {...}}} or {error: text} per case.
"""
import json
import sys


def check(predictions, solution):
    for q, _ in predictions.items():
        if q not in solution:
            raise ValueError(f"test image {q} is not part of the retrieval solution")
        if len(solution[q]) == 0:
            raise ValueError(f"test image {q} has no relevant images")


def mp_at_k(predictions, solution, k=5):
    total = 0.0
    for q, pred in predictions.items():
        rel = set(solution[q])
        window = pred[: min(len(rel), k)]
        distinct = dict.fromkeys(window)  # first occurrences, in order; repeats add nothing
        total += sum(1 for p in distinct if p in rel) / min(len(rel), k)
    return total / len(solution)


def map_at_n(predictions, solution, n=100):
    total = 0.0
    for q, pred in predictions.items():
        rel = set(solution[q])
        first = {}
        for pos, p in enumerate(pred[:n]):
            first.setdefault(p, pos)
        hits = sorted(pos for p, pos in first.items() if p in rel)
        ap = sum((r + 1) / (pos + 1) for r, pos in enumerate(hits))
        total += ap / min(len(rel), n)
    return total / len(solution)


def recall_at_k(predictions, solution, k):
    total = 0.0
    for q, pred in predictions.items():
        rel = set(solution[q])
        total += len(rel & set(pred[:k])) / len(rel)
    return total / len(solution)


def all_metrics(predictions, solution):
    return {
        "queries": len(solution),
        "mP5": mp_at_k(predictions, solution),
        "mAP100": map_at_n(predictions, solution),
        "recall": {str(k): recall_at_k(predictions, solution, k) for k in (1, 5, 10, 100)},
    }


def score(case):
    preds, sol, usage = case["predictions"], case["solution"], case.get("usage", {})
    try:
        check(preds, sol)
        out = {"overall": all_metrics(preds, sol), "splits": {}}
        for split in sorted(set(usage.values())):
            sub = {q: r for q, r in sol.items() if usage.get(q) == split}
            out["splits"][split] = all_metrics({q: p for q, p in preds.items() if q in sub}, sub)
        return out
    except ValueError as e:
        return {"error": str(e)}


print(json.dumps([score(c) for c in json.load(sys.stdin)]))
