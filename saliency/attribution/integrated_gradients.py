"""Integrated gradients: (x_t - x'_t) . the mean gradient along the straight path from x' to x.

Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks". The integral over
the path is a quadrature: the midpoint rule (default), alpha_k = (k - 1/2) / steps, whose error
falls as 1/steps^2, or Gauss-Legendre (`rule="gauss-legendre"`, as Captum's default), exact for
polynomials of degree 2 steps - 1 in alpha, so much faster to converge where the model is
smooth along the path. Path points are made chunk by chunk on the engine's device, so memory
does not grow with --steps. Completeness: the scores sum to F(x) - F(x'); `delta` reports the gap.

`steps="auto"` chooses the count per text: 16 midpoint nodes first, then each text whose relative
gap |delta| / |F(x) - F(x')| is above `tolerance` is refined by tripling its count (the midpoints
of 3S include those of S, so only the 2S new nodes are evaluated and every gradient is kept),
until every text is under tolerance or has used 1,296 nodes (16 x 3^4, the cap). Each text's
result is then exactly the midpoint rule at its own final count. Gauss-Legendre nodes of
different counts share nothing, so auto is refused with that rule.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .arrays import add_by_owner, concatenate, einsum, like, to_numpy, zeros
from .base import Attributions, Method, check_count, gradient_at, objective_at, pair_chunks, register

BASELINES = ("zero", "pad", "unk")
RULES = ("midpoint", "gauss-legendre")
# Memory is bounded whatever the count (chunks); time is not: 100,000 path points of a 100-token
# text take minutes. Beyond this a count is a typo, refused before any work.
MAX_STEPS = 100_000
AUTO = "auto"
AUTO_START = 16  # steps="auto": nodes every text gets in the first round
AUTO_GROWTH = 3  # tripling nests the midpoints (doubling would not: (k + 1/2) / S are not among 2S's)
AUTO_CAP = AUTO_START * AUTO_GROWTH ** 4  # 1,296 nodes: a text still above tolerance stops here


def baseline_inputs(engine, batch, kind: str):
    """x' for every position: zero vectors, or the embedding of <pad> or <unk>."""
    if kind == "zero":
        return batch.x * 0
    token = batch.pad_id if kind == "pad" else batch.unk_id
    row = to_numpy(engine.embed(np.array([[token]])))[0, 0]  # (E,)
    return batch.x * 0 + like(batch.x, row)


def quadrature(rule: str, steps: int):
    """Nodes alpha_k in (0, 1) and weights w_k summing to 1: the integral of g over [0, 1] ~ sum w_k g(alpha_k)."""
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1) / 2, weights / 2


def refined_nodes(steps: int):
    """The 2 steps midpoints of 3 steps that are not midpoints of steps (node 3k + 1 of 3 steps
    is node k of steps): evaluating only these turns a steps-point sum into a 3 steps-point one."""
    j = np.arange(AUTO_GROWTH * steps)
    j = j[j % AUTO_GROWTH != 1]
    return (j + 0.5) / (AUTO_GROWTH * steps)


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


def relative_gaps(delta, values, reference):
    """|delta| / |F(x) - F(x')| per example, in float64 on the host, as the Explanation reports it."""
    change = to_numpy(values).astype(np.float64) - to_numpy(reference).astype(np.float64)
    return np.abs(to_numpy(delta).astype(np.float64)) / np.maximum(np.abs(change), 1e-12)


@register
@dataclass
class IntegratedGradients(Method):
    name = "integrated-gradients"
    signed = True
    steps: int = 50  # or "auto": per text, until the relative completeness gap is under tolerance
    baseline: str = "zero"  # zero | pad | unk: what an absent token is
    rule: str = "midpoint"  # midpoint | gauss-legendre
    tolerance: float = 0.01  # steps="auto" only

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
        if self.steps == AUTO:  # unknown before the work: the count the gap falls under tolerance at,
            # about 4 / tolerance (the gap falls as 1/steps with max pooling's kinks; measured on sst2-lstm,
            # first 50 SST-2 dev texts: a mean of 389 nodes at 0.01, 89 at 0.05)
            return min(AUTO_CAP, max(AUTO_START, 4 / self.tolerance)) + 2
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
        """steps="auto": rounds of nested midpoint nodes, each only for the texts still above tolerance."""
        x = batch.x
        diff = x - x0  # (B, T, E)
        values, reference = endpoints(engine, batch, x0)  # once: every round's gap needs them
        total = zeros(x, tuple(x.shape))  # (B, T, E): sum of dF/dx over the nodes evaluated so far
        count = AUTO_START  # this round's count, shared by every text still refined
        steps = np.full(len(batch.lengths), count)  # (B,) each text's count
        nodes, active, done = quadrature("midpoint", count)[0], None, 0
        while True:
            done = add_path_gradients(engine, batch, total, x0, nodes, np.ones(len(nodes)), active, done)
            integral = total / like(x, steps)[:, None, None]  # the midpoint rule at each text's count
            scores = einsum("bte,bte->bt", diff, integral)
            delta = scores.sum(1) - (values - reference)
            # A text that stopped keeps its sum and count, so its gap stays under tolerance.
            active = np.flatnonzero(relative_gaps(delta, values, reference) > self.tolerance)
            if not len(active) or count >= AUTO_CAP:
                return Attributions(scores, values, integral, delta, reference, steps=steps)
            nodes, count = refined_nodes(count), AUTO_GROWTH * count
            steps[active] = count
