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


def bucket(distance: int) -> int:
    """0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ...: bucket b covers [2^(b-1), 2^b - 1]."""
    return int(distance).bit_length()


def bucket_range(b: int):
    return (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)


def decay(explainer, records, objective="logit", progress=None, window=256) -> dict:
    """{records, skipped, rows: [{distance, from, to, tokens, mean, share}]} over io.Records
    (a tagger: by signed distance from every explained position, decay_tagger.py)."""
    if getattr(explainer, "is_tagger", False):
        from .decay_tagger import tagger_decay

        return tagger_decay(explainer, records, objective, progress, window)
    sums, counts, shares = {}, {}, {}
    done, skipped = 0, []
    for start in range(0, len(records), window):
        chunk = records[start:start + window]
        results = explainer.explain([r.text for r in chunk], method="gradient", objective=objective,
                                    errors="return")
        for record, result in zip(chunk, results):
            if isinstance(result, Exception):
                skipped.append((record.index, str(result)))
                continue
            scores = np.array([t.score for t in result.tokens])
            end = result.target.get("position", len(scores) - 1)
            buckets = np.array([bucket(d) for d in end - np.arange(end + 1)])
            scores = scores[: end + 1]  # a language model's later positions cannot affect it
            total = scores.sum()
            add_by_bucket(sums, counts, shares, scores, buckets, total)
            done += 1
        if progress:
            progress(len(chunk))
    if not done:
        raise InputError("no record could be explained")
    rows = []
    for b in sorted(sums):
        lo, hi = bucket_range(b)
        rows.append({"distance": str(lo) if lo == hi else f"{lo}-{hi}", "from": lo, "to": hi, "tokens": counts[b],
                     "mean": sums[b] / counts[b], "share": shares[b] / done})
    return {"records": done, "rows": rows, "skipped": skipped}


def add_by_bucket(sums, counts, shares, scores, buckets, total):
    """Add one explained position's |dx_t| to the per-bucket sums, counts and shares of its total."""
    for b in np.unique(buckets).tolist():  # ints, not numpy's: they end up in JSON
        in_b = scores[buckets == b]
        sums[b] = sums.get(b, 0.0) + float(in_b.sum())
        counts[b] = counts.get(b, 0) + len(in_b)
        shares[b] = shares.get(b, 0.0) + (float(in_b.sum() / total) if total > 0 else 0.0)


def reach(rows, fraction=0.9) -> int:
    """The smallest distance within which `fraction` of the gradient lies (from the shares)."""
    total = 0.0
    for row in rows:
        total += row["share"]
        if total >= fraction - 1e-12:
            return row["to"]
    return rows[-1]["to"] if rows else 0
