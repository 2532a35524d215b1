"""The shipped models in saliency/models (the repository's models/ folder), by name."""

import os
from importlib import resources

from . import checkpoint
from ..errors import ModelError

DEFAULT_MODEL = "sst2-lstm"
SUFFIX = ".safetensors"


def models_dir() -> str:
    return str(resources.files("saliency.models"))


def shipped_models() -> dict:
    """name -> path of every shipped model file."""
    folder = models_dir()
    return {n[: -len(SUFFIX)]: os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(SUFFIX)}


def load_model_file(name_or_path: str = None) -> checkpoint.ModelFile:
    """A shipped model by name, or a model file by path."""
    name_or_path = name_or_path or DEFAULT_MODEL
    shipped = shipped_models()
    if name_or_path in shipped:
        return checkpoint.load(shipped[name_or_path], name=name_or_path)
    if name_or_path.endswith((".npz", ".npy")):
        raise ModelError(f"{name_or_path} is a numpy file, not a model file: convert it with "
                         f"`saliency import {name_or_path} -o model.safetensors`")
    if os.sep in name_or_path or name_or_path.endswith(SUFFIX) or os.path.exists(name_or_path):
        return checkpoint.load(name_or_path)
    raise ModelError(f"unknown model {name_or_path!r} (shipped models: {', '.join(shipped) or 'none'})")
