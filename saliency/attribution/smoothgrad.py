"""SmoothGrad: the gradient saliency averaged over noisy copies of the input.

Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise". Noise is Gaussian with
sigma = noise * (max - min) of the embedding table (the paper's "noise level" over the
input range). Each example draws from its own generator seeded with `seed`, so results do
not depend on the engine, the batch or the example's place in it.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..arrays import add_by_owner, like, zeros
from .base import (REDUCTIONS, Attributions, Method, check_count, check_reduce, gradient_at, option, pair_chunks,
                   reduce_vectors, register)


def embedding_spread(engine) -> float:
    if engine.config.embedding_dim == 0:
        return 1.0  # one-hot inputs: 0 to 1 (and no V x V table made to find it out)
    table = engine.embed(np.arange(engine.config.vocab_size)[None, :])
    return float(table.max() - table.min())


MAX_SAMPLES = 100_000  # as integrated gradients' MAX_STEPS: time, not memory, sets it
MAX_NOISE = 100.0  # sigma 100x the embeddings' spread: already pure noise


@register
@dataclass
class SmoothGrad(Method):
    name = "smoothgrad"
    signed = False
    samples: int = option(25, "noisy copies.")
    noise: float = option(0.1, "noise sigma as a fraction of the embeddings' spread.")
    seed: int = option(0, "random seed.")
    reduce: str = option("l2", "l2 | l1 | max over dx_t's components.", REDUCTIONS)

    def cost(self, tokens: int) -> float:
        return self.samples

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
        x = batch.x
        B, T, E = x.shape
        sigma = self.noise * embedding_spread(engine)
        # Each example's noise comes from its own generator, drawn in order chunk by chunk: the same
        # numbers as one (samples, n, E) draw, whatever the chunking, engine or batch. Numpy draws
        # them (so both engines agree); they cross to the device once, as each chunk is made.
        rngs = [np.random.default_rng(self.seed) for _ in range(B)]
        total_scores = zeros(x, (B, T))
        total_grads = zeros(x, (B, T, E))
        for owners, _ in pair_chunks(batch, self.samples):
            noise = np.zeros((len(owners), T, E))
            for b, run in zip(*np.unique(owners, return_counts=True)):
                rows = np.flatnonzero(owners == b)
                n = int(batch.lengths[b])
                noise[rows, :n] = rngs[b].normal(0.0, sigma, (run, n, E))
            _, grads = gradient_at(engine, batch, x[like(x, owners, np.int64)] + like(x, noise), owners)
            add_by_owner(total_scores, reduce_vectors(grads, self.reduce), owners)
            add_by_owner(total_grads, grads, owners)
        _, values, _ = engine.gradient(x, batch.lengths, batch.positions, batch.classes, batch.objective)
        return Attributions(total_scores / self.samples * batch.mask_like(x), values, total_grads / self.samples)
