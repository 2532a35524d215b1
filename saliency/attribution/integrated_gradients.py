"""Integrated gradients: (x_t - x'_t) . the mean gradient along the straight path from x' to x.

Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks". The integral over
the path is a quadrature: the midpoint rule (default), alpha_k = (k - 1/2) / steps, whose error
falls as 1/steps^2, or Gauss-Legendre (`rule="gauss-legendre"`, as Captum's default), exact for
polynomials of degree 2 steps - 1 in alpha, so much faster to converge where the model is
smooth along the path. Path points are made chunk by chunk on the engine's device, so memory
does not grow with --steps. Completeness: the scores sum to F(x) - F(x'); `delta` reports the gap.
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


@register
@dataclass
class IntegratedGradients(Method):
    name = "integrated-gradients"
    signed = True
    steps: int = 50
    baseline: str = "zero"  # zero | pad | unk: what an absent token is
    rule: str = "midpoint"  # midpoint | gauss-legendre

    def validate(self):
        self.steps = check_count(self.steps, "--steps", MAX_STEPS)
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
        return params

    def cost(self, tokens: int) -> float:
        return self.steps + 2  # a gradient per path point, a forward at each end

    def attribute(self, engine, batch) -> Attributions:
        x = batch.x
        mask = batch.mask_like(x)[..., None]  # (B, T, 1)
        x0 = baseline_inputs(engine, batch, self.baseline) * mask
        diff = x - x0  # (B, T, E)
        alphas, weights = (like(x, a) for a in quadrature(self.rule, self.steps))  # (S,) each
        integral = zeros(x, tuple(x.shape))  # (B, T, E): sum_k w_k dF/dx at point k
        for owners, ks in pair_chunks(batch, self.steps):
            o, k = like(x, owners, np.int64), like(x, ks, np.int64)
            points = x0[o] + alphas[k][:, None, None] * diff[o]  # (rows, T, E), this chunk only
            _, grads = gradient_at(engine, batch, points, owners)
            add_by_owner(integral, grads * weights[k][:, None, None], owners)
        scores = einsum("bte,bte->bt", diff, integral)
        B = len(batch.lengths)
        ends = objective_at(engine, batch, concatenate([x, x0]), np.tile(np.arange(B), 2))
        values, reference = ends[:B], ends[B:]
        delta = scores.sum(1) - (values - reference)
        return Attributions(scores, values, integral, delta, reference)

