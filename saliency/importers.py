"""Importing models made elsewhere: classic numpy character RNNs here, Keras models in keras_import.py.

Two layouts, both a vanilla tanh RNN over one-hot characters with a softmax output:
- the course layout (Coursera "Dinosaurus Island"): Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a),
  b (n_a, 1), by (n_y, 1);  a_t = tanh(Wax x_t + Waa a_{t-1} + b),  y_t = softmax(Wya a_t + by);
- min-char-rnn (Karpathy): Wxh (H, V), Whh (H, H), Why (V, H), bh (H, 1), by (V, 1), the same equations.
They become nn.RNN weights with bias_hh = 0 and a language-model head. Our vocabulary puts
<pad> and <unk> first, so the one-hot input gains two columns (zero weights: they change
nothing) and the output two rows whose bias is -1e4 (softmax gives them probability 0).
"""

import os
import warnings
import zipfile

import numpy as np

from . import safe_json
from .checkpoint import ModelFile
from .config import ModelConfig
from .errors import ModelError, UsageError
from .keras_vocab import vocab_text
from .tokenize import PAD, UNK, Tokenizer

COURSE_VOCAB = ["\n"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
LAYOUTS = {
    "course": ("Wax", "Waa", "Wya", "b", "by"),
    "min-char-rnn": ("Wxh", "Whh", "Why", "bh", "by"),
}
ABSENT_LOGIT = -1e4


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


def read_vocab(path: str) -> list:
    """A vocabulary file: a JSON list of characters, or else each character of the file in order."""
    text = vocab_text(path)
    try:
        vocab = safe_json.loads(text)
        if isinstance(vocab, list) and all(isinstance(v, str) for v in vocab):
            return vocab
    except safe_json.JSONError:
        pass
    return list(text)


def detect_layout(arrays: dict) -> str:
    for name, keys in LAYOUTS.items():
        if set(keys) <= set(arrays):
            return name
    raise ModelError(f"unrecognised layout: found {sorted(arrays)}; expected "
                     + " or ".join(f"{{{', '.join(k)}}}" for k in LAYOUTS.values()))


def import_char_rnn(arrays: dict, vocab: list = None, lowercase: bool = None, name: str = "") -> ModelFile:
    layout = detect_layout(arrays)
    w_x, w_h, w_y, b, b_y = (np.asarray(arrays[k], dtype=np.float64) for k in LAYOUTS[layout])
    b, b_y = b.reshape(-1), b_y.reshape(-1)
    if vocab is None:
        vocab, lowercase = COURSE_VOCAB, True if lowercase is None else lowercase
    H, V = w_h.shape[0], len(vocab)
    shapes = {"input": (w_x.shape, (H, V)), "recurrent": (w_h.shape, (H, H)), "output": (w_y.shape, (V, H)),
              "hidden bias": (b.shape, (H,)), "output bias": (b_y.shape, (V,))}
    for what, (got, want) in shapes.items():
        if got != want:
            raise ModelError(f"{what} weights have shape {got}, expected {want} "
                             f"(hidden size {H}, vocabulary of {V} characters)")
    if len(set(vocab)) != V or PAD in vocab or UNK in vocab:
        raise ModelError("vocabulary entries must be distinct characters")
    cfg = ModelConfig(cell="rnn", vocab_size=V + 2, embedding_dim=0, hidden_size=H, layers=1, head="lm",
                      pooling="last", num_labels=1)
    weights = {
        "rnn.weight_ih_l0": np.concatenate([np.zeros((H, 2)), w_x], axis=1),
        "rnn.weight_hh_l0": w_h,
        "rnn.bias_ih_l0": b,
        "rnn.bias_hh_l0": np.zeros(H),
        "head.weight": np.concatenate([np.zeros((2, H)), w_y], axis=0),
        "head.bias": np.concatenate([[ABSENT_LOGIT, ABSENT_LOGIT], b_y]),
    }
    tokenizer = Tokenizer("char", [PAD, UNK] + list(vocab), bool(lowercase))
    info = {"task": "lm", "imported_from": layout}
    return ModelFile(cfg, tokenizer, [], weights, info, name=name)  # float64, as the numpy original


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
               allow_pickle: bool = False) -> ModelFile:
    """A Keras model (.keras zip or HDF5, told by content) or a numpy char-RNN (.npz / .npy)."""
    from .keras_import import import_keras, is_keras_file

    if os.path.isfile(source) and is_keras_file(source):
        from .keras_vocab import read_vocab as read_keras_vocab

        if vocab is None:
            raise UsageError("a Keras model needs --vocab: its ids mean nothing without the tokens "
                             "(a JSON list, a JSON word index, Tokenizer.to_json(), or one token per line)")
        by_id, settings = read_keras_vocab(vocab)
        return import_keras(source, by_id, settings, labels, level, lowercase)
    if labels or level:
        raise UsageError("--labels and --level apply to Keras models; a numpy char-RNN is a character language model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = read_arrays(source, allow_pickle)
    model_file = import_char_rnn(arrays, read_vocab(vocab) if vocab else None, lowercase)
    model_file.info["source"] = os.path.basename(source)
    return model_file
