"""The model file: safetensors weights plus a JSON header that describes everything else.

One file holds the tensors (torch's names and layouts) and, in the safetensors metadata
under the key "saliency", a JSON object: format version, architecture, tokenizer, label
names and training figures. Loading parses JSON and raw tensor bytes only: no pickle, no
code runs. This module needs numpy and safetensors, not torch.
"""

import hashlib
import json
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .. import errors, safe_json
from . import safetensors_file
from .config import ModelConfig, is_int, tensor_count, weight_shapes
from ..errors import ModelError
from ..tokenize import Tokenizer

FORMAT = "saliency-rnn"
VERSION = 2  # 2: hidden_size may be a list, one size per layer; files that need no list are written as 1
HEADER_KEYS = {"format", "version", "config", "tokenizer", "labels", "info"}


@dataclass
class ModelFile:
    """Everything a model file holds; engines (torch or numpy) are built from it."""

    config: ModelConfig
    tokenizer: Tokenizer
    labels: list  # classifier or tagger label names; empty for a language model
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
            "version": 1 if self.config.uniform else VERSION,
            "config": self.config.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "labels": self.labels,
            "info": self.info,
        }


def check_consistent(mf: ModelFile) -> None:
    check_header(mf.config, mf.tokenizer, mf.labels, mf.info)
    check_tensors(mf.config, {name: (w.dtype, tuple(w.shape)) for name, w in mf.weights.items()})


def check_header(cfg, tokenizer, labels, info) -> None:
    if len(tokenizer.vocab) != cfg.vocab_size:
        raise ModelError(f"vocabulary has {len(tokenizer.vocab)} entries but the architecture says {cfg.vocab_size}")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ModelError("labels must be a list of strings")
    if cfg.head != "lm" and len(labels) != cfg.num_labels:
        raise ModelError(f"{len(labels)} label names for {cfg.num_labels} outputs")
    if not isinstance(info, dict):
        raise ModelError("info must be a JSON object")


def check_tensors(cfg, table: dict) -> None:
    """Names, shapes and dtypes ({name: (dtype, shape)}) against the architecture, before any tensor is read.

    The count comes first: it is computed, not listed, so a header that says 10**9 layers is
    refused at once instead of listing four billion names (names are listed only when there
    are no more of them than the file's own table holds).
    """
    if tensor_count(cfg) > len(table):
        raise ModelError(f"the architecture ({cfg.layers} layers) needs {tensor_count(cfg)} tensors, "
                         f"the file holds {len(table)}")
    expected = weight_shapes(cfg)
    missing = sorted(set(expected) - set(table))
    extra = sorted(set(table) - set(expected))
    if missing or extra:
        raise ModelError(f"tensors do not match the architecture (missing {missing[:4]}, unexpected {extra[:4]})")
    for name, shape in expected.items():
        dtype, got = table[name]
        if got != shape:
            raise ModelError(f"tensor {name} has shape {got}, expected {shape}")
        if not np.issubdtype(dtype, np.floating):
            raise ModelError(f"tensor {name} is not floating point")


def save(mf: ModelFile, path: str, dtype=None) -> None:
    """Write a model file; dtype (e.g. np.float16) shrinks the shipped files.

    The file is written beside the target under a temporary name and renamed over it, so a
    failed write never leaves half a model, and whatever was at the path survives until then.
    """
    from safetensors.numpy import save_file

    check_writable(path)
    tensors = {k: np.ascontiguousarray(v if dtype is None else v.astype(dtype)) for k, v in mf.weights.items()}
    folder, base = os.path.split(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777  # replacing a file keeps its permissions
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # a new file gets what the umask allows, as open() would give it
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise ModelError(f"cannot write model file {path}: {e.strerror}") from None
    replaced = False
    try:
        with terminate_as_interrupt():
            os.close(fd)
            save_file(tensors, tmp, metadata={"saliency": json.dumps(mf.header())})
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            replaced = True
    except OSError as e:
        raise ModelError(f"cannot write model file {path}: {e.strerror or e}") from None
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the temp file goes (below), the old file stays
        said = f"{path} was written" if replaced else f"{path} was not changed"
        raise Interrupted(said, getattr(e, "exit_code", 130)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Interrupted(KeyboardInterrupt):
    """A signal stopped a write; the message says what was left as it was, exit_code how to exit."""

    def __init__(self, message="", exit_code=130):
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def terminate_as_interrupt():
    """SIGTERM raises Interrupted (exit 143) while the block runs, so `finally` clauses run (a
    default SIGTERM ends the process at once, leaving a half-written temp file of the model's size)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise Interrupted("terminated", errors.EXIT_TERMINATED)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_writable(path: str) -> None:
    """Refuse an output path before any work is done: a missing folder, a folder, a device or pipe."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ModelError(f"cannot write model file {path}: no folder {os.path.dirname(path) or folder}")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ModelError(f"cannot write model file {path}: it exists and is not a regular file")
    if not os.access(folder, os.W_OK):
        raise ModelError(f"cannot write model file {path}: folder {folder} is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path: str, name: str = "") -> ModelFile:
    """Read a model file, refusing anything that is not one with a one-line ModelError.

    Order matters for hostile files: the header and the tensor table are read and checked
    against each other first; only then are the declared tensors read, nothing else.
    """
    if not os.path.isfile(path):
        raise ModelError(f"model file not found: {path}")
    try:
        with open(path, "rb") as f:
            try:
                metadata, table = safetensors_file.read_table(f, os.fstat(f.fileno()).st_size)
            except ModelError as e:
                raise ModelError(f"not a readable model file: {e}") from None
            header = parse_header(metadata)
            config = ModelConfig.from_dict(header["config"])
            tokenizer = Tokenizer.from_dict(header["tokenizer"])
            check_header(config, tokenizer, header["labels"], header["info"])
            check_tensors(config, {k: (t.dtype, t.shape) for k, t in table.items()})
            weights = {k: safetensors_file.read_tensor(f, t, k) for k, t in table.items()}
        return ModelFile(config, tokenizer, header["labels"], weights, header["info"], name or path, path)
    except OSError as e:
        raise ModelError(_one_line(f"{path} is not a readable model file ({e.strerror or e})")) from None
    except ModelError as e:
        raise ModelError(_one_line(f"{path}: {e}")) from None


def _one_line(message: str) -> str:
    """Names taken from a hostile file (fields, tensors) may hold line breaks; errors are one line."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def parse_header(metadata: dict) -> dict:
    """Our JSON header from the safetensors metadata, every field's type checked."""
    try:
        header = safe_json.loads(metadata["saliency"], parse_constant=safetensors_file.refuse_constant)
        if header.get("format") != FORMAT:
            raise KeyError("format")
    except (KeyError, TypeError, json.JSONDecodeError, AttributeError, ValueError):
        raise ModelError("a safetensors file but not a saliency model (no 'saliency' header)") from None
    version = header.get("version")
    if not is_int(version) or version < 1:
        raise ModelError(f"bad header: version must be a positive integer, not {json.dumps(version)[:20]}")
    if version > VERSION:
        raise ModelError(f"needs a newer saliency (format version {version})")
    unknown = set(header) - HEADER_KEYS
    if unknown:
        raise ModelError(f"bad header: unknown fields {', '.join(sorted(unknown))}")
    header.setdefault("labels", [])
    header.setdefault("info", {})
    for key in ("config", "tokenizer"):
        if not isinstance(header.get(key), dict):
            raise ModelError(f"bad header: {key} must be a JSON object")
    tok = header["tokenizer"]
    if set(tok) - {"level", "lowercase", "vocab", "keras_split", "drop_unknown"} or not {"level", "vocab"} <= set(tok):
        raise ModelError("bad header: tokenizer needs level, vocab and lowercase (keras_split, drop_unknown), "
                         "nothing else")
    if not isinstance(tok.get("drop_unknown", False), bool):
        raise ModelError("bad header: tokenizer drop_unknown must be true or false")
    split = tok.get("keras_split")
    if split is not None and not (isinstance(split, dict) and set(split) == {"filters", "split"}
                                  and all(isinstance(v, str) for v in split.values()) and split["split"]):
        raise ModelError("bad header: tokenizer keras_split must be {filters, split}, two strings (split not empty)")
    vocab = tok["vocab"]
    if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab):
        raise ModelError("bad header: tokenizer vocab must be a list of strings")
    if tok["level"] not in ("char", "word") or not isinstance(tok.get("lowercase", True), bool):
        raise ModelError("bad header: tokenizer level must be char or word, lowercase true or false")
    # An imported model keeps its author's numbering: <pad> and <unk> only where its source had them.
    if not vocab or len(set(vocab)) != len(vocab):
        raise ModelError("bad header: the vocabulary must be non-empty and have no duplicates")
    return header


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
