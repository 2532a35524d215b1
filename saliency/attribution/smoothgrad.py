"""SmoothGrad: the gradient saliency averaged over noisy copies of the input.

Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise". Noise is Gaussian with
sigma = noise * (max - min) of the embedding table (the paper's "noise level" over the
input range). Each example draws from its own generator seeded with `seed`, so results do
not depend on the engine, the batch or the example's place in it.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .base import Attributions, Method, check_count, check_reduce, chunked_gradient, reduce_vectors, register


def embedding_spread(engine) -> float:
    table = engine.embed(np.arange(engine.config.vocab_size)[None, :])
    return float(table.max() - table.min())


MAX_SAMPLES = 100_000  # as integrated gradients' MAX_STEPS: time, not memory, sets it
MAX_NOISE = 100.0  # sigma 100x the embeddings' spread: already pure noise


@register
@dataclass
class SmoothGrad(Method):
    name = "smoothgrad"
    signed = False
    samples: int = 25
    noise: float = 0.1  # sigma as a fraction of the embeddings' spread
    seed: int = 0
    reduce: str = "l2"

    def validate(self):
        check_reduce(self.reduce)
        self.samples = check_count(self.samples, "--samples", MAX_SAMPLES)
        if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float, np.floating, np.integer)):
            raise UsageError(f"--noise must be a number, not {self.noise!r}")
        if not 0 <= self.noise <= MAX_NOISE:  # also refuses nan and inf
            raise UsageError(f"--noise must be between 0 and {MAX_NOISE:g} (got {self.noise})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed < 2**63:
            raise UsageError(f"--seed must be a whole number from 0 to 2**63 - 1 (got {self.seed!r})")

    def attribute(self, engine, batch) -> Attributions:
        B, T, E = batch.x.shape
        sigma = self.noise * embedding_spread(engine)
        noise = np.zeros((B, self.samples, T, E), dtype=batch.x.dtype)
        for i, n in enumerate(batch.lengths):
            noise[i, :, :n] = np.random.default_rng(self.seed).normal(0.0, sigma, (self.samples, n, E))
        points = (batch.x[:, None] + noise).reshape(B * self.samples, T, E)
        _, grads = chunked_gradient(engine, batch, points)
        grads = grads.reshape(B, self.samples, T, E)
        scores = np.stack([reduce_vectors(grads[:, s], self.reduce) for s in range(self.samples)], 1).mean(1)
        _, values, _ = engine.gradient(batch.x, batch.lengths, batch.positions, batch.classes, batch.objective)
        return Attributions(scores * batch.mask(), values, grads.mean(axis=1))
