"""Choosing an engine: torch (any device, training, batch work) or numpy (fast start-up)."""

from .errors import UsageError

ENGINES = ("auto", "torch", "numpy")


def load_engine(model_file, engine="auto", device="cpu", dtype="float32"):
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r} (choose {', '.join(ENGINES)})")
    if engine == "numpy" and device != "cpu":
        raise UsageError("the numpy engine runs on the CPU only")
    if engine == "numpy":
        from .numpy_engine import NumpyEngine

        return NumpyEngine(model_file, dtype)
    from .model import TorchEngine

    return TorchEngine(model_file, dtype, resolve_device(device))


# `--engine auto` for batch work, as measured (bench/compare.py, bench/coldstart.py, quiet 2-core
# machine): importing torch costs about 1.2 s; after it the torch engine explains gradients at
# about 1.8x the numpy engine's rate, and the path and sampling methods at 2x or more. So the
# numpy engine finishes first below about 2,000 texts of gradients, and below a few dozen texts
# of the other methods; where the count is unknown (stdin), torch.
NUMPY_FINISHES_FIRST = {"gradient": 2000, "grad-input": 2000}
NUMPY_FINISHES_FIRST_OTHERS = 20


def auto_engine(method: str, texts=None, device="cpu") -> str:
    """The engine that measured fastest for `texts` texts (None: unknown) of `method`."""
    if device != "cpu" or texts is None:
        return "torch"
    return "numpy" if texts <= NUMPY_FINISHES_FIRST.get(method, NUMPY_FINISHES_FIRST_OTHERS) else "torch"


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
