"""Occlusion (leave one out): how much the target drops when one token is taken away.

Li, Monroe & Jurafsky 2016, "Understanding Neural Networks through Representation Erasure".
score_t = F(x) - F(x with token t replaced by <unk> or <pad>, or deleted, or its input vector
zeroed: for a model that keeps its author's vocabulary, with no <unk> or <pad>). Forward passes
only. The occluded copies of all examples go through the network in chunks, each chunk made
just before it runs, so memory grows with the text's length T, not with T copies of it.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UsageError
from .arrays import native, to_numpy
from .base import Attributions, Method, chunk_rows, objective_at, register

MODES = ("unk", "pad", "delete", "zero")  # zero: the token's input vector set to zeros (no character at all)


def occluded_ids(batch, owners, where, mode):
    """(rows, T) ids: example owners[r] with token where[r] replaced, or deleted (padding after)."""
    ids = batch.ids[owners]
    rows = np.arange(len(owners))
    if mode != "delete":
        ids[rows, where] = reserved_id(batch, mode)
        return ids
    T = ids.shape[1]
    source = np.arange(T)[None, :] + (np.arange(T)[None, :] >= where[:, None])  # skip the deleted token
    shifted = np.take_along_axis(ids, np.minimum(source, T - 1), axis=1)
    shifted[source >= batch.lengths[owners][:, None]] = 0 if batch.pad_id is None else batch.pad_id
    return shifted


def reserved_id(batch, kind: str, lm: bool = False) -> int:
    """The id of <unk> or <pad>; a model that keeps its author's vocabulary may have neither."""
    token = batch.unk_id if kind == "unk" else batch.pad_id
    if token is None:
        offered = [k for k, i in (("unk", batch.unk_id), ("pad", batch.pad_id)) if i is not None]
        offered += ["zero"] + ([] if lm else ["delete"])  # delete moves a language model's positions
        raise UsageError(f"this model has no <{kind}> token (its source had none): use "
                         + " or ".join(f"--occlude {k}" for k in offered))
    return token


@register
@dataclass
class Occlusion(Method):
    name = "occlusion"
    signed = True
    needs_gradient = False
    occlude: str = "unk"  # unk | pad | delete | zero

    def validate(self):
        if self.occlude not in MODES:
            raise UsageError(f"unknown --occlude {self.occlude!r} (choose {', '.join(MODES)})")

    def cost(self, tokens: int) -> float:
        return (tokens + 1) / 3  # a forward pass per token and one at x; a forward costs about a third of a gradient

    def attribute(self, engine, batch) -> Attributions:
        if self.occlude == "delete" and engine.config.per_position:
            # Deleting a token moves every later position: no position-preserving target exists.
            raise UsageError("--occlude delete is not supported for language models or taggers (use unk, pad or zero)")
        if self.occlude in ("unk", "pad"):  # refused before any work where the vocabulary has no such token
            reserved_id(batch, self.occlude, engine.config.per_position)
        if self.occlude == "delete" and batch.lengths.min() < 2:
            raise InputError("--occlude delete needs at least two tokens")
        B, T = batch.ids.shape
        values = objective_at(engine, batch, batch.x, np.arange(B))
        # Copy c occludes token where[c] of example owners[c], example-major.
        owners = np.repeat(np.arange(B), batch.lengths)
        where = np.arange(len(owners)) - np.repeat(np.cumsum(batch.lengths) - batch.lengths, batch.lengths)
        shorter = 1 if self.occlude == "delete" else 0
        rows, occluded = chunk_rows(T), None
        for start in range(0, len(owners), rows):
            o, w = owners[start:start + rows], where[start:start + rows]
            if self.occlude == "zero":  # for models without <unk>/<pad>: the input vector itself goes
                x = engine.embed(native(engine, batch.ids[o]))
                x[np.arange(len(o)), w] = 0
            else:
                x = engine.embed(native(engine, occluded_ids(batch, o, w, self.occlude)))
            chunk = to_numpy(objective_at(engine, batch, x, o, batch.lengths[o] - shorter))
            del x
            if occluded is None:
                occluded = np.empty(len(owners), chunk.dtype)
            occluded[start:start + len(o)] = chunk  # into numpy at once: no small tensors kept between chunks
            batch.report(start + len(o), len(owners))
        scores = np.zeros((B, T), dtype=occluded.dtype)
        scores[owners, where] = to_numpy(values)[owners] - occluded
        return Attributions(scores, values)
