"""decay for taggers: |dx_t| against the signed distance d = t - p from the explained position p.

Every position of every sentence is explained (the gradient of its predicted tag, l2 norm), so
left context (d < 0) and right context (d > 0) are measured apart: a unidirectional tagger has
nothing on the right; a BiLSTM shows how far each direction looks. Buckets double in width on
each side (..., -3..-2, -1, 0, +1, +2..+3, ...). Per bucket: the mean |dx_t| over every
(position, t) pair in it, and its share, the fraction of each position's total sum(|dx_t|) that
falls in it, averaged over positions (shares sum to 1).
"""

import numpy as np

from ..errors import InputError
from .buckets import add_by_bucket, bucket, bucket_range, explained


def signed_bucket(d: int) -> int:
    return bucket(abs(d)) * (1 if d >= 0 else -1)


def signed_label(b: int) -> str:
    lo, hi = bucket_range(abs(b))
    sign = "-" if b < 0 else "+" if b > 0 else ""
    if lo == hi:
        return f"{sign}{lo}"
    return f"{sign}{hi}..{sign}{lo}" if b < 0 else f"{sign}{lo}..{sign}{hi}"


def tagger_decay(explainer, records, objective="logit", progress=None, window=256) -> dict:
    """{records, positions, skipped, rows: [{distance, from, to, tokens, mean, share}], reach}."""
    sums, counts, shares = {}, {}, {}
    done = positions = 0
    skipped = []
    for _, result in explained(explainer, records, skipped, progress, window, objective=objective, position="all"):
        for row in result.rows:
            scores = np.array(row["scores"])
            buckets = np.array([signed_bucket(d) for d in np.arange(len(scores)) - row["position"]])
            total = scores.sum()
            add_by_bucket(sums, counts, shares, scores, buckets, total)
            positions += 1
        done += 1
    if not done:
        raise InputError("no record could be explained")
    rows = []
    for b in sorted(sums):
        lo, hi = bucket_range(abs(b))
        low, high = (-hi, -lo) if b < 0 else (lo, hi)
        rows.append({"distance": signed_label(b), "from": low, "to": high, "tokens": counts[b],
                     "mean": sums[b] / counts[b], "share": shares[b] / positions})
    left = sum(r["share"] for r in rows if r["to"] < 0)
    right = sum(r["share"] for r in rows if r["from"] > 0)
    return {"records": done, "positions": positions, "rows": rows, "skipped": skipped,
            "context": {"left": left, "self": 1.0 - left - right, "right": right}}
