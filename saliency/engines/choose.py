"""Choosing an engine: torch (any device, training, batch work) or numpy (fast start-up)."""

import os
import stat

from ..errors import UsageError

ENGINES = ("auto", "torch", "numpy")
# Work, in token-gradients (tokens x gradient evaluations per token), from which torch finishes
# first. Importing torch costs about 1.5 s (2.3 s with the cores busy) that numpy never pays, and
# past it torch explains about 1.5x as fast (sst2-lstm, both engines side by side on 2 cores):
# the break-even measured 150,000-180,000 token-gradients quiet, 110,000 busy (docs/performance.md).
TORCH_FROM_WORK = 150_000
BYTES_PER_TOKEN = {"word": 5, "char": 1}  # SST-2: 103 characters for 19.6 word tokens
TOKENS_PER_TEXT = 20  # for a method whose cost grows with the text (occlusion)


def load_engine(model_file, engine="auto", device="cpu", dtype="float32"):
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose {', '.join(ENGINES)})")
    if engine == "numpy" and device != "cpu":
        raise UsageError("the numpy engine runs on the CPU only")
    if engine == "numpy":
        from .numpy_engine import NumpyEngine

        return NumpyEngine(model_file, dtype)
    from .torch_engine import TorchEngine

    return TorchEngine(model_file, dtype, resolve_device(device))


def resolve_device(device: str) -> str:
    if device not in ("cpu", "cuda", "auto"):
        raise UsageError(f"unknown device {device!r} (choose cpu, cuda or auto)")
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise UsageError("--device cuda: no CUDA device is available")
    return "cpu"


def engine_for_input(device: str, level: str, size: int, method) -> str:
    """What `--engine auto` runs a batch on: torch on a GPU, or for work of at least
    TORCH_FROM_WORK token-gradients (size bytes of input, each text costing the method's
    gradient evaluations); numpy for less, or for an input of unknown size (a live pipe, whose
    lines are answered as they come: numpy answers the first in a fraction of torch's start-up)."""
    if device != "cpu":
        return "torch"
    if size is None:
        return "numpy"
    work = size / BYTES_PER_TOKEN[level] * method.cost(TOKENS_PER_TEXT)
    return "torch" if work >= TORCH_FROM_WORK else "numpy"


def engine_for_text(device: str, tokens: int, method) -> str:
    """What `explain --engine auto` runs one text of `tokens` tokens on, weighed as a batch is:
    torch from TORCH_FROM_WORK token-gradients (occlusion of 2,000 words: 1.3 million, where
    numpy took 92 s and torch 29 s), numpy below it (it answers a short text before torch loads)."""
    if device != "cpu":
        return "torch"
    return "torch" if tokens * method.cost(tokens) >= TORCH_FROM_WORK else "numpy"


def input_size(paths, stdin_fd=0):
    """Total bytes of the input files ('-' = stdin), or None where one is not a regular file."""
    total = 0
    for path in paths:
        try:
            st = os.fstat(stdin_fd) if path == "-" else os.stat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total
