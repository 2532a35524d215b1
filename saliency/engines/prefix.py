"""Prefix reuse: running a text on from the states its original reached, instead of from step 0.

In a one-directional model the copy of a text that changes token t (occlusion) has exactly the
original's states before t. An engine with this capability offers two methods:
- `states(x, lengths)`: per layer (h, c or None), each (B, T+1, H), the state entering every
  step of the original texts (index 0 is the zero start, index T the state after step T-1);
- `resume(x, lengths, initial, prefix)`: the logits of suffixes x (R, T', E), end-padded to their
  lengths, run from per-layer states `initial` [(h, c or None), each (R, H)]. A classifier's
  pooled summary combines the suffix's outputs with the prefix's (`Prefix`, below); a per-position
  head (prefix None) gives (R, T', V), one row per suffix step.
Both engines (numpy_engine.NumpyEngine, model.TorchEngine) have it; engines without it (a user's
own module, saliency/engines/user_module.py) and bidirectional models run every copy from step 0.
"""

from dataclasses import dataclass

import numpy as np

from ..attribution.arrays import amax, is_numpy, like


@dataclass
class Prefix:
    """What a classifier's pooling needs of the steps before a suffix, one row per suffix."""

    summary: object  # (R, H), the engine's array: max pooling, the outputs' running max (-inf before
    # any step); mean, their running sum; last, the last output (used where the suffix is empty)
    steps: np.ndarray  # (R,) how many steps came before: mean divides by steps + the suffix's length


def can_resume(engine) -> bool:
    config = getattr(engine, "config", None)
    return hasattr(engine, "resume") and config is not None and not config.bidirectional


def running_summaries(pooling, h_top):
    """(B, T+1, H) from the top layer's states entering every step (B, T+1, H): at index s, the
    prefix summary of outputs 0..s-1 that `Prefix.summary` holds for a suffix starting at step s."""
    if pooling == "last":
        return h_top  # the state entering step s is output s-1
    outputs = h_top[:, 1:]
    if is_numpy(h_top):
        if pooling == "max":
            return np.concatenate([np.full_like(h_top[:, :1], -np.inf), np.maximum.accumulate(outputs, axis=1)], 1)
        return np.concatenate([np.zeros_like(h_top[:, :1]), np.cumsum(outputs, axis=1)], 1)
    import torch

    if pooling == "max":
        return torch.cat([torch.full_like(h_top[:, :1], float("-inf")), outputs.cummax(1).values], 1)
    return torch.cat([torch.zeros_like(h_top[:, :1]), outputs.cumsum(1)], 1)


def pool_after(pooling, out, lengths, prefix: Prefix):
    """(R, H): the pooled summary of prefix then suffix outputs out (R, T', H), whose steps past
    `lengths` (numpy, may be 0) are padding. Equal to pooling the whole text's outputs at once."""
    R, T = out.shape[:2]
    lengths = np.asarray(lengths)
    if T == 0:  # every suffix empty (a deleted last token): the prefix is the whole text
        return prefix.summary if pooling != "mean" else prefix.summary / like(out, prefix.steps)[:, None]
    valid = like(out, np.arange(T)[None, :] < lengths[:, None], bool)[..., None]  # (R, T', 1)
    where = np.where if is_numpy(out) else _torch().where
    if pooling == "last":
        last = out[np.arange(R), np.maximum(lengths - 1, 0)]
        return where(valid[:, 0], last, prefix.summary)  # valid at step 0: the suffix is not empty
    if pooling == "max":
        maximum = np.maximum if is_numpy(out) else _torch().maximum
        return maximum(prefix.summary, amax(where(valid, out, float("-inf")), 1))
    total = where(valid, out, 0.0).sum(1)
    return (prefix.summary + total) / like(out, prefix.steps + lengths)[:, None]


def _torch():
    import torch

    return torch
