"""Integrated gradients: (x_t - x'_t) . the mean gradient along the straight path from x' to x.

Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks". The integral over
the path is a quadrature: the midpoint rule (default), alpha_k = (k - 1/2) / steps, whose error
falls as 1/steps^2, or Gauss-Legendre (`rule="gauss-legendre"`, as Captum's default), exact for
polynomials of degree 2 steps - 1 in alpha, so much faster to converge where the model is
smooth along the path. Path points are made chunk by chunk on the engine's device, so memory
does not grow with --steps. Completeness: the scores sum to F(x) - F(x'); `delta` reports the gap.

`steps="auto"` chooses the nodes per text by local refinement. The path [0, 1] starts as 8 equal
intervals, each with the gradient at its midpoint and F at its ends. An interval's estimate of
F(b) - F(a) is (b - a) diff . g(midpoint), its error e that minus F(b) - F(a); the completeness
gap is exactly the sum of the e's (the F's telescope). With max pooling the gradient has kinks
where a channel's winner changes hands, so the error sits in a few short stretches of the path:
each round splits a text's worst intervals (|e| at least half its largest) into thirds, whose
middle third keeps the old midpoint (2 new gradients and 2 new forwards a split), until
sum |e| / |F(x) - F(x')| <= `tolerance` (a bound on the gap that also forbids errors that merely
cancel) or the text has 1,296 nodes (the cap). The result is exactly the midpoint rule on the
text's final intervals, each weighted by its width; a text of S nodes used S + 1 forwards.
Gauss-Legendre nodes of different counts share nothing, so auto is refused with that rule.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..arrays import add_by_owner, concatenate, einsum, like, to_numpy, zeros
from .base import (Attributions, Method, check_count, chunk_rows, gradient_at, objective_at, option, pair_chunks,
                   register)

BASELINES = ("zero", "pad", "unk")
RULES = ("midpoint", "gauss-legendre")
# Memory is bounded whatever the count (chunks); time is not: 100,000 path points of a 100-token
# text take minutes. Beyond this a count is a typo, refused before any work.
MAX_STEPS = 100_000
AUTO = "auto"
AUTO_START = 8  # steps="auto": the equal intervals every text starts with (measured: 16 and 4 cost more)
AUTO_SPLIT = 0.5  # a round splits a text's intervals whose |error| is at least this share of its largest
AUTO_CAP = 1296  # nodes: a text still above tolerance stops here (a split adds 2, so the count stays even)


def baseline_inputs(engine, batch, kind: str):
    """x' for every position: zero vectors, or the embedding of <pad> or <unk>."""
    if kind == "zero":
        return batch.x * 0
    token = batch.pad_id if kind == "pad" else batch.unk_id
    if token is None:
        offered = [k for k, i in (("pad", batch.pad_id), ("unk", batch.unk_id)) if i is not None]
        raise UsageError(f"this model has no <{kind}> token (its source had none): use "
                         + " or ".join(f"--baseline {k}" for k in ["zero"] + offered))
    row = to_numpy(engine.embed(np.array([[token]])))[0, 0]  # (E,)
    return batch.x * 0 + like(batch.x, row)


def quadrature(rule: str, steps: int):
    """Nodes alpha_k in (0, 1) and weights w_k summing to 1: the integral of g over [0, 1] ~ sum w_k g(alpha_k)."""
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1) / 2, weights / 2


def endpoints(engine, batch, x0):
    """(F(x), F(x')) for every example."""
    B = len(batch.lengths)
    ends = objective_at(engine, batch, concatenate([batch.x, x0]), np.tile(np.arange(B), 2))
    return ends[:B], ends[B:]


def add_path_gradients(engine, batch, total, x0, nodes, weights, examples=None, done=0):
    """total[b] += sum_k weights[k] dF/dx at x0 + nodes[k] (x - x0), for the examples b (all by
    default), chunk by chunk; returns the (example, node) pairs done so far, for progress."""
    x = batch.x
    diff = x - x0
    alphas, weights = like(x, nodes), like(x, weights)  # (S,) each
    for owners, ks in pair_chunks(batch, len(nodes), examples, done):
        o, k = like(x, owners, np.int64), like(x, ks, np.int64)
        points = x0[o] + alphas[k][:, None, None] * diff[o]  # (rows, T, E), this chunk only
        _, grads = gradient_at(engine, batch, points, owners)
        add_by_owner(total, grads * weights[k][:, None, None], owners)
    return done + len(nodes) * (len(batch.lengths) if examples is None else len(examples))


@dataclass
class Path:
    """steps="auto"'s result: each text's final intervals [lo, hi] (owner-major, ascending) and the sums."""
    owners: np.ndarray  # (N,) the text each interval belongs to
    lo: np.ndarray  # (N,) float64
    hi: np.ndarray
    scores: np.ndarray  # (B, T): (x - x') . the sum over a text's intervals of (hi - lo) dF/dx at the midpoint
    values: object  # (B,) F(x)
    reference: object  # (B,) F(x')
    steps: np.ndarray  # (B,) gradient points (= intervals) each text used; it made steps + 1 forwards


def along_path(x0, diff, owners, alphas, rows):
    """(owners, points) chunk by chunk: x0 + alpha (x - x0) for each (owner, alpha), at most rows at a time."""
    for start in range(0, len(owners), rows):
        o = owners[start:start + rows]
        oi = like(x0, o, np.int64)
        yield o, x0[oi] + like(x0, alphas[start:start + rows])[:, None, None] * diff[oi]


class Nodes:
    """Path points' gradients as their per-token scores (x_t - x'_t) . dF/dx_t: T numbers a point,
    kept until the texts' final interval widths weight them (a split shrinks its old node's weight,
    so no running sum would do). The gradients themselves (T x E a point, E times more) are never
    kept: memory stays about 8 KB a point for a 1,000-token text, whatever E."""

    def __init__(self, engine, batch, x0):
        self.engine, self.batch, self.x0, self.diff = engine, batch, x0, batch.x - x0
        self.chunks = []  # (owners, per-token scores as numpy) in evaluation order: node ids count along them
        self.count = self.done = 0

    def add(self, owners, alphas):
        """Evaluate dF/dx at the points; (their node ids, diff . gradient summed over tokens) per point."""
        sums, rows = [], chunk_rows(self.batch.ids.shape[1])
        total = self.done + len(owners)
        for o, points in along_path(self.x0, self.diff, owners, alphas, rows):
            _, grads = gradient_at(self.engine, self.batch, points, o)
            per_token = to_numpy(einsum("kte,kte->kt", self.diff[like(grads, o, np.int64)], grads))
            sums.append(per_token.sum(1))
            self.chunks.append((o, per_token))
            self.done += len(o)
            self.batch.report(self.done, total)
        ids = np.arange(self.count, self.count + len(owners))
        self.count += len(owners)
        return ids, np.concatenate(sums).astype(np.float64) if sums else np.zeros(0)

    def scores(self, weights):
        """(B, T): sum over each text's nodes of weights[node] times the node's per-token scores."""
        B, T = self.batch.ids.shape
        total, start = np.zeros((B, T)), 0
        for owners, per_token in self.chunks:
            w = weights[start:start + len(owners)]
            start += len(owners)
            add_by_owner(total, per_token * w[:, None], owners)
        return total


def forwards(engine, batch, x0, owners, alphas):
    """F at x0 + alpha (x - x0) for each (owner, alpha), in float64 on the host."""
    out = [to_numpy(objective_at(engine, batch, points, o))
           for o, points in along_path(x0, batch.x - x0, owners, alphas, chunk_rows(batch.ids.shape[1]))]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def worst_intervals(owners, error, active, room):
    """The intervals to split: those of active texts whose |error| is at least AUTO_SPLIT of their
    text's largest, the largest first and at most room[text] of them (the cap)."""
    size = abs(error)
    largest = np.zeros(len(active))
    np.maximum.at(largest, owners, size)
    chosen = active[owners] & (size >= AUTO_SPLIT * largest[owners]) & (size > 0)
    order = np.lexsort((-size, owners))  # per text, the largest first
    rank = np.empty(len(owners), np.int64)
    rank[order] = np.arange(len(owners)) - np.searchsorted(owners[order], owners[order])
    return chosen & (rank < room[owners])


def refine_locally(engine, batch, x0, tolerance) -> Path:
    """Split each text's worst intervals into thirds until sum |e| / |F(x) - F(x')| <= tolerance."""
    B, S = len(batch.lengths), AUTO_START
    values, reference = endpoints(engine, batch, x0)
    f1, f0 = to_numpy(values).astype(np.float64), to_numpy(reference).astype(np.float64)
    change = np.maximum(np.abs(f1 - f0), 1e-12)
    edges = np.linspace(0, 1, S + 1)
    inner = forwards(engine, batch, x0, np.repeat(np.arange(B), S - 1), np.tile(edges[1:-1], B)).reshape(B, S - 1)
    at_edges = np.concatenate([f0[:, None], inner, f1[:, None]], 1)  # (B, S + 1)
    # One row per interval, owner-major and ascending along the path; node: its midpoint's gradient
    # in `nodes`, slope: diff . that gradient summed over tokens.
    table = dict(owners=np.repeat(np.arange(B), S), lo=np.tile(edges[:-1], B), hi=np.tile(edges[1:], B),
                 f_lo=at_edges[:, :-1].ravel(), f_hi=at_edges[:, 1:].ravel())
    nodes = Nodes(engine, batch, x0)
    table["node"], table["slope"] = nodes.add(table["owners"], (table["lo"] + table["hi"]) / 2)
    while True:
        owners, lo, hi = table["owners"], table["lo"], table["hi"]
        error = (hi - lo) * table["slope"] - (table["f_hi"] - table["f_lo"])
        spread = np.bincount(owners, np.abs(error), B) / change
        steps = np.bincount(owners, minlength=B)
        room = (AUTO_CAP - steps) // 2
        active = (spread > tolerance) & (room > 0)
        if not active.any():
            break
        split = worst_intervals(owners, error, active, room)
        old = {name: column[split] for name, column in table.items()}
        a, b = old["lo"], old["hi"]
        c1, c2 = a + (b - a) / 3, a + 2 * (b - a) / 3  # the cuts: 2 new ends, and the outer thirds' midpoints
        o = np.repeat(old["owners"], 2)
        ends = forwards(engine, batch, x0, o, np.c_[c1, c2].ravel()).reshape(-1, 2)
        new, slope = (v.reshape(-1, 2) for v in nodes.add(o, np.c_[(a + c1) / 2, (c2 + b) / 2].ravel()))
        # The thirds of each split interval: left and right get the new nodes, the middle keeps the old one.
        thirds = dict(owners=np.repeat(old["owners"], 3), lo=np.c_[a, c1, c2].ravel(), hi=np.c_[c1, c2, b].ravel(),
                      f_lo=np.c_[old["f_lo"], ends].ravel(), f_hi=np.c_[ends, old["f_hi"]].ravel(),
                      node=np.c_[new[:, 0], old["node"], new[:, 1]].ravel(),
                      slope=np.c_[slope[:, 0], old["slope"], slope[:, 1]].ravel())
        table = {name: np.concatenate([column[~split], thirds[name]]) for name, column in table.items()}
        order = np.lexsort((table["lo"], table["owners"]))
        table = {name: column[order] for name, column in table.items()}
    weights = np.zeros(nodes.count)
    weights[table["node"]] = hi - lo
    return Path(owners, lo, hi, nodes.scores(weights), values, reference, steps)


@register
@dataclass
class IntegratedGradients(Method):
    name = "integrated-gradients"
    signed = True
    steps: int = option(50, "path points, or auto: per text, until the completeness gap is under --tolerance.",
                        words=(AUTO,))
    baseline: str = option("zero", "zero | pad | unk, what an absent token is.", BASELINES)
    rule: str = option("midpoint", "midpoint | gauss-legendre, the quadrature along the path.", RULES)
    tolerance: float = option(0.01, "the largest relative completeness gap |delta| / |F(x) - F(x')| to stop at.",
                              when="--steps auto")

    def validate(self):
        if isinstance(self.steps, str):
            if self.steps != AUTO:
                raise UsageError(f"--steps must be a whole number or 'auto', not {self.steps!r}")
            if self.rule == "gauss-legendre":
                raise UsageError("--steps auto refines midpoint nodes; --rule gauss-legendre needs a number of --steps")
        else:
            self.steps = check_count(self.steps, "--steps", MAX_STEPS)
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float, np.floating)) \
                or not 0 < self.tolerance < 1:  # NaN fails the comparison too
            raise UsageError(f"--tolerance must be a number between 0 and 1 (exclusive), not {self.tolerance!r}")
        self.tolerance = float(self.tolerance)
        if self.baseline not in BASELINES:
            raise UsageError(f"unknown --baseline {self.baseline!r} (choose {', '.join(BASELINES)})")
        if self.rule not in RULES:
            raise UsageError(f"unknown --rule {self.rule!r} (choose {', '.join(RULES)})")
        if self.rule == "gauss-legendre" and self.steps > 1000:
            # numpy's Legendre nodes lose accuracy past a few hundred; nothing needs more here.
            raise UsageError("--rule gauss-legendre takes at most 1,000 --steps")

    def params(self) -> dict:
        params = super().params()
        if self.rule == "midpoint":  # the default keeps the output it always had
            del params["rule"]
        if self.steps != AUTO:  # tolerance means nothing to a fixed count
            del params["tolerance"]
        return params

    def cost(self, tokens: int) -> float:
        if self.steps == AUTO:  # unknown before the work: the nodes at which sum |e| falls under tolerance,
            # about 4 / tolerance (measured on sst2-lstm, first 200 SST-2 dev texts: a mean of 361 at 0.01,
            # 199 at 0.02, 60 at 0.07), each with a forward at its interval's end, and F(x')
            return 2 * min(AUTO_CAP, max(AUTO_START, 4 / self.tolerance)) + 1
        return self.steps + 2  # a gradient per path point, a forward at each end

    def attribute(self, engine, batch) -> Attributions:
        x = batch.x
        mask = batch.mask_like(x)[..., None]  # (B, T, 1)
        x0 = baseline_inputs(engine, batch, self.baseline) * mask
        if self.steps == AUTO:
            return self.refine(engine, batch, x0)
        diff = x - x0  # (B, T, E)
        integral = zeros(x, tuple(x.shape))  # (B, T, E): sum_k w_k dF/dx at point k
        add_path_gradients(engine, batch, integral, x0, *quadrature(self.rule, self.steps))
        scores = einsum("bte,bte->bt", diff, integral)
        values, reference = endpoints(engine, batch, x0)
        delta = scores.sum(1) - (values - reference)
        return Attributions(scores, values, integral, delta, reference)

    def refine(self, engine, batch, x0) -> Attributions:
        """steps="auto": the midpoint rule on intervals refined where each text's error is. The
        gradient vectors, if wanted, take one more pass over the final midpoints (summed as they
        come, so memory stays bounded): the final weights are known only at the end."""
        path = refine_locally(engine, batch, x0, self.tolerance)
        values, reference = (to_numpy(v).astype(np.float64) for v in (path.values, path.reference))
        delta = path.scores.sum(1) - (values - reference)
        integral = None
        if batch.vectors:
            integral, widths, start = zeros(batch.x, tuple(batch.x.shape)), path.hi - path.lo, 0
            for o, points in along_path(x0, batch.x - x0, path.owners, (path.lo + path.hi) / 2,
                                        chunk_rows(batch.ids.shape[1])):
                _, grads = gradient_at(engine, batch, points, o)
                add_by_owner(integral, grads * like(grads, widths[start:start + len(o)])[:, None, None], o)
                start += len(o)
        return Attributions(path.scores, path.values, integral, delta, path.reference, steps=path.steps)
