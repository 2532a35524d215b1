"""Occlusion (leave one out): how much the target drops when one token is taken away.

Li, Monroe & Jurafsky 2016, "Understanding Neural Networks through Representation Erasure".
score_t = F(x) - F(x with token t replaced by <unk> or <pad>, or deleted, or its input vector
zeroed: for a model that keeps its author's vocabulary, with no <unk> or <pad>). Forward passes
only. The occluded copies of all examples go through the network in chunks, each chunk made
just before it runs, so memory grows with the text's length T, not with T copies of it.

In a one-directional model the copy occluding token t has the original's states before t: each
copy runs on from them (saliency/engines/prefix.py), about T^2/2 recurrent steps of T^2 for a T-token
text; a language model's or tagger's copies run only up to the explained position, and a token
after it needs no run at all. Other models and engines run every copy from step 0.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UsageError
from ..engines.prefix import Prefix, can_resume, running_summaries
from .arrays import is_numpy, native, to_numpy
from .base import CHUNK_POSITIONS, Attributions, Method, chunk_rows, objective_at, objective_of, register

MODES = ("unk", "pad", "delete", "zero")  # zero: the token's input vector set to zeros (no character at all)
# False: every copy runs from step 0 even where the engine could reuse the prefix (the tests
# compare the two paths; a measurement counts the steps each runs).
REUSE_PREFIX = True
# The original texts' states held at once, in (text x timestep) positions: each step's h (and an
# LSTM's c) per layer and the pooling's running summary, about 50 MB on sst2-lstm in float32. A
# text longer than this is held alone: memory grows with its length, as its inputs do.
STATE_POSITIONS = 8 * CHUNK_POSITIONS


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
        if REUSE_PREFIX and can_resume(engine):
            occluded = occluded_by_reuse(engine, batch, self.occlude, owners, where, values)
        else:
            occluded = occluded_from_start(engine, batch, self.occlude, owners, where)
        scores = np.zeros((B, T), dtype=occluded.dtype)
        scores[owners, where] = to_numpy(values)[owners] - occluded
        return Attributions(scores, values)


def occluded_from_start(engine, batch, mode, owners, where):
    """F of every copy (owners[c] with token where[c] occluded), each run from step 0."""
    T = batch.ids.shape[1]
    shorter = 1 if mode == "delete" else 0
    rows, occluded = chunk_rows(T), None
    for start in range(0, len(owners), rows):
        o, w = owners[start:start + rows], where[start:start + rows]
        if mode == "zero":  # for models without <unk>/<pad>: the input vector itself goes
            x = engine.embed(native(engine, batch.ids[o]))
            x[np.arange(len(o)), w] = 0
        else:
            x = engine.embed(native(engine, occluded_ids(batch, o, w, mode)))
        chunk = to_numpy(objective_at(engine, batch, x, o, batch.lengths[o] - shorter))
        del x
        if occluded is None:
            occluded = np.empty(len(owners), chunk.dtype)
        occluded[start:start + len(o)] = chunk  # into numpy at once: no small tensors kept between chunks
        batch.report(start + len(o), len(owners))
    return occluded


def occluded_by_reuse(engine, batch, mode, owners, where, values):
    """F of every copy, each run on from the original's states just before its occluded token."""
    positional = engine.config.per_position  # lm, tagger
    # The steps F reads: a classifier's whole text; a per-position head's, up to the explained position.
    ends = batch.positions[owners] + 1 if positional else batch.lengths[owners]
    runs = ends - where - (1 if mode == "delete" else 0)  # steps each copy runs (a deleted last token: none)
    occluded = to_numpy(values)[owners]  # a token after the explained position changes nothing: F(x)
    B, T = batch.ids.shape
    group = max(1, STATE_POSITIONS // (T + 1))
    done = 0
    for first in range(0, B, group):  # examples whose original states are held at once
        examples = slice(first, first + group)
        states = engine.states(batch.x[examples], batch.lengths[examples])  # per layer (h, c): (b, T+1, H)
        summaries = None if positional else running_summaries(engine.config.pooling, states[-1][0])
        index = np.asarray if is_numpy(states[-1][0]) else lambda a: native(engine, a)  # states' own kind
        mine = (owners >= first) & (owners < first + group)
        todo = np.flatnonzero(mine & (where < ends))
        done += int(mine.sum()) - len(todo)
        order = todo[np.argsort(-runs[todo], kind="stable")]  # longest first: chunks of like widths
        start = 0
        while start < len(order):
            width = bucket(int(runs[order[start]]))
            chunk = order[start:start + max(1, CHUNK_POSITIONS // max(1, width))]  # positions bounded, as today
            o, s, n = owners[chunk], where[chunk], runs[chunk]
            x = engine.embed(native(engine, suffix_ids(batch, o, s, n, width, mode)))
            if mode == "zero":
                x[:, 0] = 0  # every copy's suffix starts at its occluded token
            at = (index(o - first), index(s))  # a suffix from step s starts from the state entering step s
            initial = [(h[at], None if c is None else c[at]) for h, c in states]
            prefix = None if positional else Prefix(summaries[at], s)
            logits = engine.resume(x, n, initial, prefix)
            # A per-position head's explained position is the suffix's last step.
            explained = n - 1 if positional else batch.positions[o]
            occluded[chunk] = to_numpy(objective_of(logits, explained, batch.classes[o], batch.objective))
            del x, initial, logits
            start += len(chunk)
            batch.report(done + start, len(owners))
        done += len(order)
        if not len(order):  # every copy of these texts past the explained position
            batch.report(done, len(owners))
        del states, summaries
    return occluded


def suffix_ids(batch, owners, starts, lengths, width, mode):
    """(rows, width) ids of each copy from its occluded token on (from the token after it, when
    deleted; the token itself for zero, whose input vector is zeroed after embedding), `lengths`
    real ones then padding."""
    offset = np.arange(width)[None, :]
    source = starts[:, None] + offset + (1 if mode == "delete" else 0)
    ids = batch.ids[owners[:, None], np.minimum(source, batch.ids.shape[1] - 1)]
    ids = np.where(offset < lengths[:, None], ids, 0 if batch.pad_id is None else batch.pad_id)
    if mode in ("unk", "pad") and width:
        ids[:, 0] = reserved_id(batch, mode)
    return ids


def bucket(width: int) -> int:
    """The width a chunk runs at: its longest copy's, rounded up to one of 8 widths a doubling
    (exact below 16; at most 1/8 more steps), so that chunks come in few shapes. torch's CPU LSTM
    (oneDNN) keeps a compiled primitive for each shape it meets: with a width per chunk, peak RSS
    grew with the text (sst2-lstm, float32: 368 MB at 1,000 words, 766 MB at 2,000); bucketed,
    291 and 302 MB, against 294 and 298 MB on torch's own kernels, which ran 1.7x slower."""
    step = 1 << max(0, width.bit_length() - 4)
    return -(-width // step) * step
