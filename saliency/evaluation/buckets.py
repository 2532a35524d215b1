"""Distance buckets for the decay views: widths that double (0, 1, 2-3, 4-7, ...) and the running
per-bucket sums both decay.py and decay_tagger.py add to, and the windowed explaining they both run.
"""

import numpy as np


def bucket(distance: int) -> int:
    """0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ...: bucket b covers [2^(b-1), 2^b - 1]."""
    return int(distance).bit_length()


def bucket_range(b: int):
    return (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)


def add_by_bucket(sums, counts, shares, scores, buckets, total):
    """Add one explained position's |dx_t| to the per-bucket sums, counts and shares of its total."""
    for b in np.unique(buckets).tolist():  # ints, not numpy's: they end up in JSON
        in_b = scores[buckets == b]
        sums[b] = sums.get(b, 0.0) + float(in_b.sum())
        counts[b] = counts.get(b, 0) + len(in_b)
        shares[b] = shares.get(b, 0.0) + (float(in_b.sum() / total) if total > 0 else 0.0)


def explained(explainer, records, skipped, progress=None, window=256, **options):
    """(record, Explanation) of each record the gradient method explains, `window` texts a call;
    a record that fails goes to `skipped` as (record number from 0, as batch numbers them, the
    error); progress(n) after each window. options: explain's (objective, position)."""
    for start in range(0, len(records), window):
        chunk = records[start:start + window]
        results = explainer.explain([r.text for r in chunk], method="gradient", errors="return", **options)
        for record, result in zip(chunk, results):
            if isinstance(result, Exception):
                skipped.append((record.index, str(result)))
            else:
                yield record, result
        if progress:
            progress(len(chunk))
