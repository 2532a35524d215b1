"""Occlusion (leave one out): how much the target drops when one token is taken away.

Li, Monroe & Jurafsky 2016, "Understanding Neural Networks through Representation Erasure".
score_t = F(x) - F(x with token t replaced by <unk> or <pad>, or deleted). Forward passes
only; every occluded copy of every example runs in one batched, chunked pass.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UsageError
from .base import Attributions, Method, chunked_objective, register

MODES = ("unk", "pad", "delete")


@register
@dataclass
class Occlusion(Method):
    name = "occlusion"
    signed = True
    needs_gradient = False
    occlude: str = "unk"  # unk | pad | delete

    def validate(self):
        if self.occlude not in MODES:
            raise UsageError(f"unknown --occlude {self.occlude!r} (choose {', '.join(MODES)})")

    def attribute(self, engine, batch) -> Attributions:
        if self.occlude == "delete" and engine.config.head == "lm":
            # Deleting a token moves every later position: no position-preserving target exists.
            raise UsageError("--occlude delete is not supported for language models (use unk or pad)")
        if self.occlude == "delete" and batch.lengths.min() < 2:
            raise InputError("--occlude delete needs at least two tokens")
        B, T = batch.ids.shape
        copies, lengths, owners = [], [], []
        for i in range(B):
            n = int(batch.lengths[i])
            for t in range(n):
                ids = batch.ids[i].copy()
                if self.occlude == "delete":
                    ids = np.concatenate([np.delete(ids[:n], t), np.full(T - n + 1, batch.pad_id)])
                else:
                    ids[t] = batch.unk_id if self.occlude == "unk" else batch.pad_id
                copies.append(ids)
                lengths.append(n - 1 if self.occlude == "delete" else n)
                owners.append(i)
        owners = np.array(owners)
        x = engine.embed(np.stack(copies))
        both = chunked_objective(
            engine, np.concatenate([batch.x, x]), np.concatenate([batch.lengths, lengths]),
            np.concatenate([batch.positions, batch.positions[owners]]),
            np.concatenate([batch.classes, batch.classes[owners]]), batch.objective)
        values, occluded = both[:B], both[B:]
        scores = np.zeros((B, T), dtype=batch.x.dtype)
        slot = 0
        for i in range(B):
            n = int(batch.lengths[i])
            scores[i, :n] = values[i] - occluded[slot:slot + n]
            slot += n
        return Attributions(scores, values)
