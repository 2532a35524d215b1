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
