"""The model file: safetensors weights plus a JSON header that describes everything else.

One file holds the tensors (torch's names and layouts) and, in the safetensors metadata
under the key "saliency", a JSON object: format version, architecture, tokenizer, label
names and training figures. Loading parses JSON and raw tensor bytes only: no pickle, no
code runs. This module needs numpy and safetensors, not torch.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .config import ModelConfig, weight_shapes
from .errors import ModelError
from .tokenize import Tokenizer

FORMAT = "saliency-rnn"
VERSION = 1


@dataclass
class ModelFile:
    """Everything a model file holds; engines (torch or numpy) are built from it."""

    config: ModelConfig
    tokenizer: Tokenizer
    labels: list  # classifier label names; empty for a language model
    weights: dict  # name -> np.ndarray
    info: dict = field(default_factory=dict)  # training command, figures, data
    name: str = ""  # shipped name or file path, for messages and output
    path: str = ""

    def __post_init__(self):
        check_consistent(self)

    @property
    def output_names(self) -> list:
        return self.tokenizer.vocab if self.config.head == "lm" else self.labels

    def header(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": self.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "labels": self.labels,
            "info": self.info,
        }


def check_consistent(mf: ModelFile) -> None:
    cfg = mf.config
    if len(mf.tokenizer.vocab) != cfg.vocab_size:
        raise ModelError(
            f"vocabulary has {len(mf.tokenizer.vocab)} entries but the architecture says {cfg.vocab_size}"
        )
    if cfg.head == "classifier" and len(mf.labels) != cfg.num_labels:
        raise ModelError(f"{len(mf.labels)} label names for {cfg.num_labels} outputs")
    expected = weight_shapes(cfg)
    missing = sorted(set(expected) - set(mf.weights))
    extra = sorted(set(mf.weights) - set(expected))
    if missing or extra:
        raise ModelError(f"tensors do not match the architecture (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        if tuple(mf.weights[name].shape) != shape:
            raise ModelError(f"tensor {name} has shape {tuple(mf.weights[name].shape)}, expected {shape}")
        if not np.issubdtype(mf.weights[name].dtype, np.floating):
            raise ModelError(f"tensor {name} is not floating point")


def save(mf: ModelFile, path: str, dtype=None) -> None:
    """Write a model file; dtype (e.g. np.float16) shrinks the shipped files."""
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v if dtype is None else v.astype(dtype)) for k, v in mf.weights.items()}
    save_file(tensors, path, metadata={"saliency": json.dumps(mf.header())})


def load(path: str, name: str = "") -> ModelFile:
    """Read a model file, refusing anything that is not one with a one-line ModelError."""
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise ModelError(f"model file not found: {path}")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path} is not a readable model file ({str(e).splitlines()[0][:120]})") from None
    try:
        header = json.loads(metadata["saliency"])
        if header.get("format") != FORMAT:
            raise KeyError("format")
    except (KeyError, json.JSONDecodeError, AttributeError):
        raise ModelError(f"{path} is a safetensors file but not a saliency model (no 'saliency' header)") from None
    if header.get("version", 0) > VERSION:
        raise ModelError(f"{path} needs a newer saliency (format version {header['version']})")
    try:
        tokenizer = Tokenizer.from_dict(header["tokenizer"])
        config = ModelConfig.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelError):
            raise
        raise ModelError(f"{path}: bad header ({e})") from None
    try:
        return ModelFile(config, tokenizer, list(header.get("labels", [])), weights,
                         header.get("info", {}), name or path, path)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
