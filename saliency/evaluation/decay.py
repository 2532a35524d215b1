"""The vanishing-gradient view: how |dx_t| falls with the distance from the explained position.

For each text the gradient of the explained output is taken at every input x_t (the gradient
method, l2 norm), and each timestep is put in a bucket by its distance d to the explained
position (a language model: the position predicted from; a classifier: the last token, where a
last-state head reads). Buckets double in width (0, 1, 2-3, 4-7, ...), so long texts stay
readable. Per bucket: the mean |dx_t| over every timestep in it, and its share, the fraction of
each text's total sum(|dx_t|) that falls in it, averaged over texts (shares sum to 1).
"""

import numpy as np

from ..errors import InputError
from .buckets import add_by_bucket, bucket, bucket_range, explained
from .decay_tagger import tagger_decay


def decay(explainer, records, objective="logit", progress=None, window=256) -> dict:
    """{records, skipped, rows: [{distance, from, to, tokens, mean, share}]} over Records
    (a tagger: by signed distance from every explained position, decay_tagger.py)."""
    if getattr(explainer, "is_tagger", False):
        return tagger_decay(explainer, records, objective, progress, window)
    sums, counts, shares = {}, {}, {}
    done, skipped = 0, []
    for _, result in explained(explainer, records, skipped, progress, window, objective=objective):
        scores = np.array([t.score for t in result.tokens])
        end = result.target.get("position", len(scores) - 1)
        buckets = np.array([bucket(d) for d in end - np.arange(end + 1)])
        scores = scores[: end + 1]  # a language model's later positions cannot affect it
        total = scores.sum()
        add_by_bucket(sums, counts, shares, scores, buckets, total)
        done += 1
    if not done:
        raise InputError("no record could be explained")
    rows = []
    for b in sorted(sums):
        lo, hi = bucket_range(b)
        rows.append({"distance": str(lo) if lo == hi else f"{lo}-{hi}", "from": lo, "to": hi, "tokens": counts[b],
                     "mean": sums[b] / counts[b], "share": shares[b] / done})
    return {"records": done, "rows": rows, "skipped": skipped}


def reach(rows, fraction=0.9) -> int:
    """The smallest distance within which `fraction` of the gradient lies (from the shares)."""
    total = 0.0
    for row in rows:
        total += row["share"]
        if total >= fraction - 1e-12:
            return row["to"]
    return rows[-1]["to"] if rows else 0
