"""Integrated gradients: (x_t - x'_t) . the mean gradient along the straight path from x' to x.

Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks". The integral uses
the midpoint rule, alpha_k = (k - 1/2) / steps, whose error falls as 1/steps^2; all path
points of all examples go through the network together, in memory-bounded chunks.
Completeness: the scores sum to F(x) - F(x'); `delta` reports the gap.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .base import Attributions, Method, check_count, chunked_gradient, chunked_objective, register

BASELINES = ("zero", "pad", "unk")
# Memory is bounded whatever the count (chunks); time is not: 100,000 path points of a 100-token
# text take minutes. Beyond this a count is a typo, refused before any work.
MAX_STEPS = 100_000


def baseline_inputs(engine, batch, kind: str) -> np.ndarray:
    """x' for every position: zero vectors, or the embedding of <pad> or <unk>."""
    if kind == "zero":
        return np.zeros_like(batch.x)
    token = batch.pad_id if kind == "pad" else batch.unk_id
    return np.broadcast_to(engine.embed(np.array([[token]]))[0, 0], batch.x.shape).astype(batch.x.dtype)


@register
@dataclass
class IntegratedGradients(Method):
    name = "integrated-gradients"
    signed = True
    steps: int = 50
    baseline: str = "zero"  # zero | pad | unk: what an absent token is

    def validate(self):
        self.steps = check_count(self.steps, "--steps", MAX_STEPS)
        if self.baseline not in BASELINES:
            raise UsageError(f"unknown --baseline {self.baseline!r} (choose {', '.join(BASELINES)})")

    def attribute(self, engine, batch) -> Attributions:
        mask = batch.mask()[..., None]
        x0 = baseline_inputs(engine, batch, self.baseline) * mask
        diff = batch.x - x0  # (B, T, E)
        alphas = ((np.arange(self.steps) + 0.5) / self.steps).astype(batch.x.dtype)  # (S,)
        points = x0[:, None] + alphas[None, :, None, None] * diff[:, None]  # (B, S, T, E)
        B, S, T, E = points.shape
        _, grads = chunked_gradient(engine, batch, points.reshape(B * S, T, E))
        mean_grad = grads.reshape(B, S, T, E).mean(axis=1)
        scores = np.einsum("bte,bte->bt", diff, mean_grad)
        ends = chunked_objective(engine, np.concatenate([batch.x, x0]), np.tile(batch.lengths, 2),
                                 np.tile(batch.positions, 2), np.tile(batch.classes, 2), batch.objective)
        values, reference = ends[:B], ends[B:]
        delta = scores.sum(axis=1) - (values - reference)
        return Attributions(scores, values, mean_grad, delta, reference)
