"""The few array operations the methods need, for numpy arrays and torch tensors alike.

Methods are written once. On the torch engine their arrays are tensors on the engine's device:
path points, noisy copies and occluded copies are made there, and only the results cross to
numpy, once, at the end (`to_numpy`). On the numpy engine the same code runs on numpy arrays.
"""

import numpy as np


def is_numpy(a) -> bool:
    return isinstance(a, np.ndarray)


def to_numpy(a):
    if a is None or isinstance(a, np.ndarray):
        return a
    return a.detach().cpu().numpy()


def like(ref, a, dtype=None):
    """Numpy data `a` as the same kind of array as `ref` (its device; ref's dtype unless given)."""
    if is_numpy(ref):
        return np.asarray(a, dtype or ref.dtype)
    import torch

    dtype = ref.dtype if dtype is None else torch.from_numpy(np.zeros(0, dtype)).dtype
    return torch.as_tensor(np.asarray(a), device=ref.device).to(dtype)


def einsum(spec, *operands):
    if is_numpy(operands[0]):
        return np.einsum(spec, *operands)
    import torch

    return torch.einsum(spec, *operands)


def concatenate(arrays):
    if is_numpy(arrays[0]):
        return np.concatenate(arrays)
    import torch

    return torch.cat(arrays)


def zeros(ref, shape):
    return np.zeros(shape, ref.dtype) if is_numpy(ref) else ref.new_zeros(shape)


def amax(a, axis):
    return a.max(axis) if is_numpy(a) else a.amax(axis)


def l2_norm(a):
    """The Euclidean norm over the last axis (torch's own is 8x its einsum on a gradient laid out
    time-major, as the torch engine's is)."""
    if is_numpy(a):
        return np.sqrt(np.einsum("...e,...e->...", a, a))
    import torch

    return torch.linalg.vector_norm(a, dim=-1)


def add_by_owner(total, values, owners):
    """total[o] += the sum of the values rows owned by o; owners (numpy) ascending, as chunks are
    example-major: one slice sum per example in the chunk, not one Python step per row."""
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    ends = np.r_[starts[1:], len(owners)]
    for s, e in zip(starts.tolist(), ends.tolist()):
        total[owners[s]] += values[s:e].sum(0)
