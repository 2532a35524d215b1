"""The architecture of a model, as stored in the model file (no torch needed to read it)."""

from dataclasses import asdict, dataclass, fields

from .errors import ModelError

CELLS = ("rnn", "lstm", "gru")
HEADS = ("classifier", "lm")
POOLINGS = ("last", "max", "mean")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru
    vocab_size: int = 2
    embedding_dim: int = 0  # 0: one-hot inputs of size vocab_size (imported char-RNNs)
    hidden_size: int = 64
    layers: int = 1
    bidirectional: bool = False
    head: str = "classifier"  # classifier: one output per text; lm: next-token logits per position
    pooling: str = "max"  # classifier only: last hidden state, or max/mean over time of the outputs
    num_labels: int = 2  # classifier outputs; an lm has vocab_size outputs
    dropout: float = 0.0  # training only: on embeddings and between layers
    nonlinearity: str = "tanh"  # vanilla rnn only: tanh | relu

    def __post_init__(self):
        problems = []
        if self.cell not in CELLS:
            problems.append(f"unknown cell type {self.cell!r} (expected one of {', '.join(CELLS)})")
        if self.head not in HEADS:
            problems.append(f"unknown head {self.head!r} (expected one of {', '.join(HEADS)})")
        if self.pooling not in POOLINGS:
            problems.append(f"unknown pooling {self.pooling!r} (expected one of {', '.join(POOLINGS)})")
        if self.nonlinearity not in ("tanh", "relu"):
            problems.append(f"unknown nonlinearity {self.nonlinearity!r}")
        for name in ("vocab_size", "hidden_size", "layers", "num_labels"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be positive")
        if self.embedding_dim < 0:
            problems.append("embedding_dim must be >= 0")
        if problems:
            raise ModelError("; ".join(problems))

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
    def gates(self) -> int:
        return {"rnn": 1, "lstm": 4, "gru": 3}[self.cell]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"unknown architecture fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ModelError(f"bad architecture: {e}") from None


def weight_shapes(cfg: ModelConfig) -> dict:
    """Every tensor a model file must hold, with its shape (torch's own layout and names)."""
    shapes = {}
    if cfg.embedding_dim:
        shapes["embedding.weight"] = (cfg.vocab_size, cfg.embedding_dim)
    H, G = cfg.hidden_size, cfg.gates
    for layer in range(cfg.layers):
        inp = cfg.input_size if layer == 0 else H * cfg.directions
        for suffix in ("", "_reverse")[: cfg.directions]:
            shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (G * H, inp)
            shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (G * H, H)
            shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (G * H,)
            shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (G * H,)
    shapes["head.weight"] = (cfg.output_size, H * cfg.directions)
    shapes["head.bias"] = (cfg.output_size,)
    return shapes
