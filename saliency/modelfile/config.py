"""The architecture of a model, as stored in the model file (no torch needed to read it)."""

import math
from dataclasses import asdict, dataclass, fields

from ..errors import ModelError

CELLS = ("rnn", "lstm", "gru")
HEADS = ("classifier", "lm", "tagger")
POOLINGS = ("last", "max", "mean")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")  # a hidden head layer's (Keras Dense, a PyTorch MLP)


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru, or a tuple, one per layer (an imported Keras GRU -> SimpleRNN stack)
    vocab_size: int = 2
    embedding_dim: int = 0  # 0: one-hot inputs of size vocab_size (imported char-RNNs)
    hidden_size: int = 64  # or a tuple, one size per layer (imported Keras stacks: LSTM 128 -> LSTM 64)
    layers: int = 1
    bidirectional: bool = False
    head: str = "classifier"  # classifier: one output per text; lm: next-token logits per position;
    # tagger: one label per position (a plain per-position Linear over the RNN outputs, like lm's)
    pooling: str = "max"  # classifier only: last hidden state, or max/mean over time of the outputs
    num_labels: int = 2  # classifier or tagger outputs; an lm has vocab_size outputs
    dropout: float = 0.0  # training only: on embeddings and between layers
    nonlinearity: str = "tanh"  # vanilla rnn only: tanh | relu
    # A zero input vector before the first token, as the Coursera course trains and samples
    # (x<1> = 0): every layer starts from the state that step leaves, not from zeros.
    zero_start: bool = False
    # A classifier's hidden layers between the pooled features and the output layer: ((size,
    # activation), ...), as an imported Dense(20, relu) or a PyTorch MLP head. Empty: one Linear.
    head_hidden: tuple = ()

    def __post_init__(self):
        if isinstance(self.hidden_size, list):  # JSON gives lists; a tuple keeps the config hashable
            object.__setattr__(self, "hidden_size", tuple(self.hidden_size))
        if isinstance(self.cell, list):
            object.__setattr__(self, "cell", tuple(self.cell))
        if isinstance(self.head_hidden, list):
            object.__setattr__(self, "head_hidden", tuple(tuple(layer) if isinstance(layer, list) else layer
                                                          for layer in self.head_hidden))
        problems = type_problems(self)
        if problems:  # values of the wrong type make the checks below meaningless
            raise ModelError("; ".join(problems))
        for cell in self.cells if isinstance(self.cell, tuple) else (self.cell,):
            if cell not in CELLS:
                problems.append(f"unknown cell type {cell!r} (expected one of {', '.join(CELLS)})")
        if isinstance(self.cell, tuple) and len(self.cell) != self.layers:
            problems.append(f"{len(self.cell)} cell types for {self.layers} layers")
        if self.head not in HEADS:
            problems.append(f"unknown head {self.head!r} (expected one of {', '.join(HEADS)})")
        if self.pooling not in POOLINGS:
            problems.append(f"unknown pooling {self.pooling!r} (expected one of {', '.join(POOLINGS)})")
        if self.nonlinearity not in ("tanh", "relu"):
            problems.append(f"unknown nonlinearity {self.nonlinearity!r}")
        for name in ("vocab_size", "layers", "num_labels"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be positive")
        per_layer = isinstance(self.hidden_size, tuple)
        if min(self.hidden_size) < 1 if per_layer else self.hidden_size < 1:
            problems.append("hidden_size must be positive")
        if per_layer and len(self.hidden_size) != self.layers:
            problems.append(f"{len(self.hidden_size)} hidden sizes for {self.layers} layers")
        if self.embedding_dim < 0:
            problems.append("embedding_dim must be >= 0")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if self.head_hidden and self.head != "classifier":
            problems.append("head_hidden (hidden layers before the output) applies to classifiers only")
        if self.zero_start and self.bidirectional:
            problems.append("zero_start needs a unidirectional model (a step before the first token has no "
                            "place in the reverse direction)")
        if problems:
            raise ModelError("; ".join(problems))
        if per_layer and len(set(self.hidden_size)) == 1:  # one size for all: the file format version 1 says
            object.__setattr__(self, "hidden_size", self.hidden_size[0])
        if isinstance(self.cell, tuple) and len(set(self.cell)) == 1:
            object.__setattr__(self, "cell", self.cell[0])

    @property
    def hidden_sizes(self) -> tuple:
        """One hidden size per layer (check tensor_count first where a header may say 10**9 layers)."""
        if isinstance(self.hidden_size, tuple):
            return self.hidden_size
        return (self.hidden_size,) * self.layers

    @property
    def cells(self) -> tuple:
        """One cell type per layer."""
        return self.cell if isinstance(self.cell, tuple) else (self.cell,) * self.layers

    @property
    def uniform(self) -> bool:
        """All layers the same size and cell: torch's multi-layer nn.RNN/LSTM/GRU can run them as one module."""
        return not isinstance(self.hidden_size, tuple) and not isinstance(self.cell, tuple)

    @property
    def top_size(self) -> int:
        """Hidden size of the last layer (per direction): what pooling and the head see."""
        return self.hidden_size[-1] if isinstance(self.hidden_size, tuple) else self.hidden_size

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def input_size(self) -> int:
        return self.embedding_dim or self.vocab_size

    @property
    def output_size(self) -> int:
        return self.vocab_size if self.head == "lm" else self.num_labels

    @property
    def per_position(self) -> bool:
        """The head reads every position's output (lm, tagger), not one pooled vector."""
        return self.head in ("lm", "tagger")

    @property
    def gates(self) -> int:
        """Gates of the first layer's cell (of every layer's, but in a mixed stack: gates_of)."""
        return self.gates_of(0)

    def gates_of(self, layer: int) -> int:
        return {"rnn": 1, "lstm": 4, "gru": 3}[self.cells[layer]]

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(self.cell, tuple):
            d["cell"] = list(self.cell)
        if not self.zero_start:  # absent unless set: files without it read as before, in older versions too
            del d["zero_start"]
        if not self.head_hidden:
            del d["head_hidden"]
        else:
            d["head_hidden"] = [list(layer) for layer in self.head_hidden]
        if isinstance(self.hidden_size, tuple):
            d["hidden_size"] = list(self.hidden_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        if not isinstance(d, dict):
            raise ModelError("bad architecture: not a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"unknown architecture fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ModelError(f"bad architecture: {e}") from None


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_problems(cfg: ModelConfig) -> list:
    """Fields of the wrong JSON type: an int is not a bool, a float or a string."""
    problems = []
    for name in ("head", "pooling", "nonlinearity"):
        if not isinstance(getattr(cfg, name), str):
            problems.append(f"{name} must be a string")
    cell = cfg.cell
    if not (isinstance(cell, str) or (isinstance(cell, tuple) and cell and all(isinstance(c, str) for c in cell))):
        problems.append("cell must be a string or a list of strings, one per layer")
    for name in ("vocab_size", "embedding_dim", "layers", "num_labels"):
        if not is_int(getattr(cfg, name)):
            problems.append(f"{name} must be an integer")
    hidden = cfg.hidden_size
    if not (is_int(hidden) or (isinstance(hidden, tuple) and hidden and all(is_int(h) for h in hidden))):
        problems.append("hidden_size must be an integer or a list of integers, one per layer")
    if not isinstance(cfg.bidirectional, bool):
        problems.append("bidirectional must be true or false")
    if not isinstance(cfg.zero_start, bool):
        problems.append("zero_start must be true or false")
    layers = cfg.head_hidden
    if not (isinstance(layers, tuple) and all(isinstance(layer, tuple) and len(layer) == 2 and is_int(layer[0])
                                              and layer[0] >= 1 and layer[1] in ACTIVATIONS for layer in layers)):
        problems.append(f"head_hidden must be a list of [size, activation] pairs (activation one of "
                        f"{', '.join(ACTIVATIONS)})")
    dropout = cfg.dropout
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not math.isfinite(dropout):
        problems.append("dropout must be a number")
    return problems


def tensor_count(cfg: ModelConfig) -> int:
    """How many tensors weight_shapes lists, computed without listing them (a header may say 10**9 layers)."""
    return (1 if cfg.embedding_dim else 0) + 4 * cfg.layers * cfg.directions + 2 + 2 * len(cfg.head_hidden)


def weight_shapes(cfg: ModelConfig) -> dict:
    """Every tensor a model file must hold, with its shape (torch's own layout and names)."""
    shapes = {}
    if cfg.embedding_dim:
        shapes["embedding.weight"] = (cfg.vocab_size, cfg.embedding_dim)
    D, sizes = cfg.directions, cfg.hidden_sizes
    for layer, H in enumerate(sizes):
        G = cfg.gates_of(layer)
        inp = cfg.input_size if layer == 0 else sizes[layer - 1] * D
        for suffix in ("", "_reverse")[:D]:
            shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (G * H, inp)
            shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (G * H, H)
            shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (G * H,)
            shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (G * H,)
    features = sizes[-1] * D
    for k, (size, _) in enumerate(cfg.head_hidden):
        shapes[f"head_hidden.{k}.weight"] = (size, features)
        shapes[f"head_hidden.{k}.bias"] = (size,)
        features = size
    shapes["head.weight"] = (cfg.output_size, features)
    shapes["head.bias"] = (cfg.output_size,)
    return shapes
