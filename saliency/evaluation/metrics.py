"""Small numpy functions behind `saliency evaluate`: rank correlations, precision-recall, removal.

Pure functions over one text's scores, tested against hand-computed values. Correlations of a
constant vector are undefined and come back as nan (callers average with nanmean).
"""

import math

import numpy as np

AOPC_PERCENTS = (1, 5, 10, 20, 50)  # ERASER's bins: the top k% of tokens, k in this set
REMOVALS = ("delete", "unk")


def rankdata(a) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as scipy.stats.rankdata)."""
    a = np.asarray(a, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a))
    sorted_a = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else math.nan


def spearman(a, b) -> float:
    """Spearman's rho: Pearson's correlation of the ranks."""
    if len(a) < 2:
        return math.nan
    return pearson(rankdata(a), rankdata(b))


def kendall_tau(a, b) -> float:
    """Kendall's tau-b (ties in either vector handled), O(n^2): texts are short."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return math.nan
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant_minus_discordant = float((da * db).sum())
    denom = math.sqrt(float(np.count_nonzero(da)) * float(np.count_nonzero(db)))
    return concordant_minus_discordant / denom if denom > 0 else math.nan


def ranking(scores) -> np.ndarray:
    """Token indices, most important first: highest score first (signed methods: most in favour
    of the explained class first); ties keep text order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def top_count(n: int, percent: float) -> int:
    """How many tokens the top `percent`% of n tokens is: at least one."""
    return max(1, math.ceil(n * percent / 100))


def perturb(ids, chosen, removal: str, unk_id: int, keep: bool) -> list:
    """ids with the `chosen` positions removed (keep=False) or with only them kept (keep=True).

    delete: the tokens leave the sequence (ERASER); unk: they are replaced by <unk>, so
    the length and every other position stay where they were.
    """
    chosen = set(int(c) for c in chosen)
    out = []
    for t, token_id in enumerate(ids):
        if (t in chosen) == keep:
            out.append(token_id)
        elif removal == "unk":
            out.append(unk_id)
    return out


def average_precision(scores, labels) -> float:
    """Area under the precision-recall curve as average precision: the mean, over the relevant
    tokens, of the precision at each one's rank (highest score first). nan with no relevant token."""
    labels = np.asarray(labels, dtype=bool)
    if not labels.any():
        return math.nan
    hits = labels[ranking(scores)]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].mean())


def token_f1(scores, labels) -> float:
    """F1 of the top-k tokens against the rationale, k = the rationale's size (so P = R = F1)."""
    labels = np.asarray(labels, dtype=bool)
    k = int(labels.sum())
    if k == 0:
        return math.nan
    return float(labels[ranking(scores)[:k]].sum() / k)


def rationale_labels(tokens, rationale) -> np.ndarray:
    """Which tokens a human rationale marks: a list of words (compared case-insensitively) or a
    list of [start, end] character spans (a token is marked if it overlaps one)."""
    if not isinstance(rationale, list):
        raise ValueError("a rationale is a list of words or of [start, end] spans")
    if all(isinstance(r, str) for r in rationale):
        words = {r.lower() for r in rationale}
        return np.array([t.text.lower() in words for t in tokens], dtype=bool)
    spans = []
    for r in rationale:
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) for v in r)):
            raise ValueError("a rationale is a list of words or of [start, end] spans")
        spans.append(r)
    return np.array([any(t.start < e and s < t.end for s, e in spans) for t in tokens], dtype=bool)
