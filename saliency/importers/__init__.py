"""Importing models made elsewhere: numpy character RNNs (numpy_layouts.py), Keras models (keras_model.py).

This module reads the files (never unpickling unless asked) and dispatches on their content.
"""

import os
import warnings
import zipfile

import numpy as np

from .. import safe_json
from .numpy_layouts import COURSE_VOCAB, LAYOUTS, count_note, detect_layout, import_char_rnn, output_size  # noqa: F401
from ..errors import ModelError, UsageError
from .keras_vocab import vocab_text


def read_arrays(path: str, allow_pickle: bool = False) -> dict:
    """Named arrays from .npz, or from .npy holding a dict (a pickle: only with allow_pickle).

    The kind is told from the file's first bytes, not its name: an .npz is a zip, an .npy starts
    with its magic string, and anything else is refused before numpy could try to unpickle it.
    """
    if not os.path.isfile(path):
        raise ModelError(f"file not found: {path}")
    if path.endswith((".pt", ".pth", ".pkl", ".pickle")):
        raise ModelError(f"{path}: pickled files are not loaded (they can run code); save the weights as .npz")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise ModelError(f"{path} is not a readable numpy file ({e.strerror})") from None
    if magic[:4] == b"PK\x03\x04":
        return _read_npz(path)
    if magic != b"\x93NUMPY":
        raise ModelError(f"{path} is not a numpy file (neither an .npz archive nor an .npy array)")
    try:
        loaded = np.load(path, allow_pickle=allow_pickle)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ModelError(f"{path} carries a pickle payload, which can run code; "
                             "pass --allow-pickle only if you trust the file") from None
        raise ModelError(f"{path} is not a numpy file ({e})") from None
    except (OSError, EOFError) as e:
        raise ModelError(f"{path} is not a readable numpy file ({e})") from None
    if loaded.dtype == object and loaded.shape == ():
        warnings.warn(f"{path}: unpickled a dict because --allow-pickle was given")
        obj = loaded.item()
        if isinstance(obj, dict):
            return {k: np.asarray(v) for k, v in obj.items()}
    raise ModelError(f"{path} holds one array, not named weight matrices (expected .npz or a dict)")


def _read_npz(path: str) -> dict:
    """Every array of an .npz; an object array (a pickle inside the zip) is refused, never unpickled."""
    try:
        with np.load(path, allow_pickle=False) as loaded:
            return {k: loaded[k] for k in loaded.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ModelError(f"{path} holds an object array (a pickle, which can run code); "
                             "save plain numeric arrays with np.savez") from None
        raise ModelError(f"{path} is not a readable .npz file ({str(e).splitlines()[0][:120]})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path} is not a readable .npz file ({str(e).splitlines()[0][:120]})") from None


def read_vocab(path: str, size: int = None) -> tuple:
    """(characters, note) of a vocabulary file: a JSON list of characters, or else each character
    of the file in order. The note says why the count may differ from `size` (the weights')."""
    text = vocab_text(path)
    try:
        vocab = safe_json.loads(text)
        if isinstance(vocab, list) and all(isinstance(v, str) for v in vocab):
            return vocab, ""
    except safe_json.JSONError:
        pass
    return list(text), "" if size is None else count_note(text, size)


def check_output_apart(output: str, inputs: dict) -> None:
    """Refuse an output path that is one of the inputs ({what: path}) by any name: the same path,
    a symlink to it, or a hard link (the write would replace the input it is made from)."""
    target = os.path.realpath(output)
    for what, path in inputs.items():
        if path is None:
            continue
        same = os.path.realpath(path) == target
        if not same and os.path.exists(output) and os.path.exists(path):
            try:
                same = os.path.samefile(output, path)
            except OSError:
                pass
        if same:
            raise UsageError(f"--output {output} is {what} ({path}); write the model elsewhere")


def import_any(source: str, vocab: str = None, labels: list = None, level: str = None, lowercase: bool = None,
               allow_pickle: bool = False, zero_start: bool = False):
    """A Keras model (.keras zip or HDF5, told by content) or a numpy char-RNN (.npz / .npy)."""
    from .keras_model import import_keras, is_keras_file

    if os.path.isfile(source) and is_keras_file(source):
        from .keras_vocab import read_vocab as read_keras_vocab

        if vocab is None:
            raise UsageError("a Keras model needs --vocab: its ids mean nothing without the tokens "
                             "(a JSON list, a JSON word index, Tokenizer.to_json(), or one token per line)")
        by_id, settings = read_keras_vocab(vocab)
        if zero_start:
            raise UsageError("--zero-start applies to numpy char-RNNs (the course's x<1> = 0); a Keras model "
                             "starts from zero states")
        return import_keras(source, by_id, settings, labels, level, lowercase)
    if labels or level:
        raise UsageError("--labels and --level apply to Keras models; a numpy char-RNN is a character language model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = read_arrays(source, allow_pickle)
    chars, note = read_vocab(vocab, output_size(arrays) if "by" in arrays else None) if vocab else (None, "")
    model_file = import_char_rnn(arrays, chars, lowercase, zero_start=zero_start, vocab_note=note)
    model_file.info["source"] = os.path.basename(source)
    return model_file
