"""Numpy character RNNs as their authors wrote them: the arrays, the equations, the numbering.

Three layouts, each over one-hot characters x_t (n_x of them) with a softmax over the same
characters (n_y = n_x):

- course RNN (Coursera "Dinosaurus Island"): Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a),
  ba (n_a, 1) (or b), by (n_y, 1):
      a_t = tanh(Wax x_t + Waa a_{t-1} + ba),  y_t = softmax(Wya a_t + by)
- min-char-rnn (Karpathy): Wxh (H, V), Whh (H, H), Why (V, H), bh (H, 1), by (V, 1): the same.
- course LSTM: Wf, Wi, Wc, Wo (n_a, n_a + n_x) over the concatenation [a_{t-1}; x_t], their
  biases bf, bi, bc, bo (n_a, 1), Wy (n_y, n_a), by (n_y, 1):
      f = sigmoid(Wf [a; x] + bf), i = sigmoid(Wi [a; x] + bi), c~ = tanh(Wc [a; x] + bc),
      o = sigmoid(Wo [a; x] + bo), c_t = f c_{t-1} + i c~, a_t = o tanh(c_t), y_t = softmax(Wy a_t + by)

Each becomes torch's own module exactly (bias_hh = 0; the LSTM's columns split into weight_hh
and weight_ih, its gates reordered to torch's i, f, g, o) with a language-model head. The
vocabulary is the author's, in the author's order: character k is output k, as the author's
sampling code reads it; there is no <pad> or <unk> (a character outside it is refused).
"""

import numpy as np

from ..modelfile.checkpoint import ModelFile
from ..modelfile.config import ModelConfig
from ..errors import InputError, ModelError

COURSE_VOCAB = ["\n"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
LSTM_GATES = ("i", "f", "c", "o")  # torch's order (i, f, g, o); the course names the candidate c
LAYOUTS = {  # name: (input, recurrent, output, hidden bias, output bias); the LSTM's are listed whole
    "course": ("Wax", "Waa", "Wya", "ba", "by"),
    "min-char-rnn": ("Wxh", "Whh", "Why", "bh", "by"),
    "course-lstm": ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by"),
}


def detect_layout(arrays: dict) -> str:
    names = set(arrays)
    if "b" in names and "ba" not in names and {"Wax", "Waa", "Wya", "by"} <= names:
        return "course"  # the course's own code calls the hidden bias b; its saved parameters, ba
    for name, keys in reversed(LAYOUTS.items()):  # the LSTM first: its names include Wy and by
        if set(keys) <= names:
            return name
    raise ModelError(f"unrecognised layout: found {sorted(arrays)[:12]}; expected "
                     + " or ".join(f"{{{', '.join(k)}}}" for k in LAYOUTS.values())
                     + " (course RNN: b for ba is accepted too); docs/own-model.md lists them with their equations")


def course_arrays(arrays: dict, layout: str) -> list:
    keys = list(LAYOUTS[layout])
    if layout == "course" and "ba" not in arrays:
        keys[3] = "b"
    return [np.asarray(arrays[k], dtype=np.float64) for k in keys]


def rnn_weights(arrays: dict, layout: str, V: int):
    """(cell, H, torch-named weights) of a vanilla RNN layout, shapes checked."""
    w_x, w_h, w_y, b, b_y = course_arrays(arrays, layout)
    H = w_h.shape[0] if w_h.ndim == 2 else -1
    check_shapes({"input": (w_x, (H, V)), "recurrent": (w_h, (H, H)), "output": (w_y, (V, H)),
                  "hidden bias": (b, (H, 1)), "output bias": (b_y, (V, 1))}, H, V)
    return "rnn", H, {
        "rnn.weight_ih_l0": w_x, "rnn.weight_hh_l0": w_h,
        "rnn.bias_ih_l0": b.reshape(-1), "rnn.bias_hh_l0": np.zeros(H),  # torch adds two biases; the course has one
        "head.weight": w_y, "head.bias": b_y.reshape(-1),
    }


def lstm_weights(arrays: dict, V: int):
    """The course LSTM as torch's nn.LSTM: each gate's (n_a, n_a + n_x) weight over [a_prev; x]
    splits into its recurrent columns (the first n_a) and its input columns."""
    a = {k: np.asarray(arrays[k], dtype=np.float64) for k in LAYOUTS["course-lstm"]}
    H = a["Wy"].shape[1] if a["Wy"].ndim == 2 else -1
    shapes = {f"gate {g} (W{g})": (a[f"W{g}"], (H, H + V)) for g in LSTM_GATES}
    shapes.update({f"gate {g} bias (b{g})": (a[f"b{g}"], (H, 1)) for g in LSTM_GATES})
    shapes.update({"output (Wy)": (a["Wy"], (V, H)), "output bias (by)": (a["by"], (V, 1))})
    check_shapes(shapes, H, V)
    return "lstm", H, {
        "rnn.weight_ih_l0": np.concatenate([a[f"W{g}"][:, H:] for g in LSTM_GATES]),
        "rnn.weight_hh_l0": np.concatenate([a[f"W{g}"][:, :H] for g in LSTM_GATES]),
        "rnn.bias_ih_l0": np.concatenate([a[f"b{g}"].reshape(-1) for g in LSTM_GATES]),
        "rnn.bias_hh_l0": np.zeros(4 * H),
        "head.weight": a["Wy"], "head.bias": a["by"].reshape(-1),
    }


def check_shapes(shapes: dict, H: int, V: int) -> None:
    for what, (got, want) in shapes.items():
        if got.ndim == 1 and len(want) == 2 and want[1] == 1:
            got = got[:, None]  # a bias saved flat: (n,) for (n, 1)
        if got.shape != want:
            raise ModelError(f"{what} weights have shape {got.shape}, expected {want} "
                             f"(hidden size {H}, vocabulary of {V} characters)")


def output_size(arrays: dict) -> int:
    """n_y, the number of characters the weights are for (the output bias's length)."""
    shape = np.shape(arrays["by"])
    if not shape:
        raise ModelError(f"output bias by is a scalar, expected (n_y, 1)")
    return int(shape[0])


def import_char_rnn(arrays: dict, vocab: list = None, lowercase: bool = None, name: str = "",
                    zero_start: bool = False, vocab_note: str = "") -> ModelFile:
    """A model file of a numpy char-RNN; vocab: the author's characters in order (default the
    course's newline then a-z). lowercase: None applies the stated rule (case_rule)."""
    from ..tokenize import Tokenizer

    layout = detect_layout(arrays)
    V = output_size(arrays)
    if vocab is None:
        if V != len(COURSE_VOCAB):
            raise InputError(f"the weights are for {V} characters; without --vocab the course's "
                             f"{len(COURSE_VOCAB)} (newline, a-z) are assumed: pass --vocab")
        vocab = COURSE_VOCAB
    if len(vocab) != V:
        raise InputError(f"the vocabulary has {len(vocab)} characters, the weights {V}" + (vocab_note or ""))
    if len(set(vocab)) != V:
        doubled = sorted({c for c in vocab if vocab.count(c) > 1})[:5]
        raise InputError(f"the vocabulary lists {', '.join(map(repr, doubled))} more than once")
    cell, H, weights = lstm_weights(arrays, V) if layout == "course-lstm" else rnn_weights(arrays, layout, V)
    cfg = ModelConfig(cell=cell, vocab_size=V, embedding_dim=0, hidden_size=H, layers=1, head="lm",
                      pooling="last", num_labels=1, zero_start=bool(zero_start))
    tokenizer = Tokenizer("char", list(vocab), case_rule(vocab, lowercase))
    info = {"task": "lm", "imported_from": layout}
    return ModelFile(cfg, tokenizer, [], weights, info, name=name)  # float64, as the numpy original


def case_rule(vocab: list, lowercase: bool = None) -> bool:
    """The one rule (import --help says it): text is lowercased, unless the vocabulary itself holds
    upper-case letters (then lowercasing would make them unreachable, and case is kept);
    --lowercase / --keep-case decide instead when given."""
    if lowercase is not None:
        return bool(lowercase)
    return not any(c != c.lower() for c in vocab)


def count_note(text: str, V: int) -> str:
    """Why a plain vocabulary file (each character in order) may not give the weights' V
    characters: a final newline counted as one, or a header line. Empty when neither explains it."""
    if len(text) == V:
        return ""
    if text.endswith("\n") and len(text) - 1 == V:
        return ("; the file ends in a newline, which counts as a character: remove it "
                "(or give a JSON list of the characters)")
    for cut in (text.rstrip("\n"), text):
        first, _, rest = cut.partition("\n")
        if rest and len(rest) in (V, V + 1) and first:
            return (f"; its first line ({first[:20]!r}) looks like a header: the file should hold only "
                    "the characters, in the model's order")
    return "; a plain file is read character by character, in order (newlines count); or give a JSON list"
