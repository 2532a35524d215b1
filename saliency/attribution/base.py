"""What every attribution method shares: the batch it reads, the result it returns, the registry.

A method sees a padded batch of embedded inputs and an engine (torch or numpy) that can
embed ids, run the network, and return each example's objective with its gradient dx_t.
Methods are plain numpy over that interface, so each is written once for both engines.
"""

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..errors import UsageError
from ..objective import Objective
from ..arrays import amax, concatenate, l2_norm, like, to_numpy

METHODS = {}
# Path points, noise samples or occluded copies go through the network in chunks of at most
# this many (row x timestep) positions, so memory stays bounded whatever the batch or --steps.
# A backward pass holds about 16 KB a position (sst2-lstm): some 35 MB a chunk. Smaller chunks
# also run faster on a CPU, up to a point, as each step's rows stay in cache (sst2-lstm, one
# thread, integrated gradients: 1,024 and 2,048 positions 1.2x as fast as 4,096 and 1.4x as
# 16,384; 512 slower again).
CHUNK_POSITIONS = 2048


@dataclass
class Batch:
    ids: np.ndarray  # (B, T) token ids, padded
    lengths: np.ndarray  # (B,) true lengths
    x: np.ndarray  # (B, T, E) embedded inputs
    positions: np.ndarray  # (B,) language model: the position explained; classifier: 0
    classes: np.ndarray  # (B,) the output explained at that position
    objective: Objective = Objective()  # the scalar F explained (saliency/objective.py)
    pad_id: int = 0  # the tokenizer's <pad> and <unk>: what occlusion and baselines put in a token's place
    unk_id: int = 1
    progress: object = None  # called with (done, total) network evaluations as chunks finish
    vectors: bool = True  # whether Attributions.vectors is wanted: a method may skip work only it needs

    def __post_init__(self):
        self.objective = Objective.of(self.objective)  # "logit" or "logprob" also name one

    def mask(self) -> np.ndarray:
        return np.arange(self.ids.shape[1])[None, :] < self.lengths[:, None]  # (B, T)

    def mask_like(self, ref):
        """The (B, T) mask as the engine's own array, in ref's dtype."""
        return like(ref, self.mask())

    def report(self, done, total):
        if self.progress is not None:
            self.progress(done, total)


@dataclass
class Attributions:
    scores: np.ndarray  # (B, T), zero at padding
    values: np.ndarray  # (B,) the objective F(x) explained
    vectors: np.ndarray = None  # (B, T, E) the gradient the scores came from, where there is one
    delta: np.ndarray = None  # (B,) completeness gap, for methods that promise completeness
    reference: np.ndarray = None  # (B,) F(baseline), where there is one
    logits: np.ndarray = None  # the network's output at x, for methods that compute it anyway
    steps: np.ndarray = None  # (B,) path points each example used, where the method chose them per example

    def numpy(self) -> "Attributions":
        """Every field as numpy: the one place where the engine's arrays cross to the host."""
        return Attributions(*(to_numpy(getattr(self, f.name)) for f in fields(self)))


def register(cls):
    METHODS[cls.name] = cls
    return cls


def option(default, help: str, choices=(), words=(), when: str = ""):
    """A method parameter with what the command line says of it: `help` (the text after the
    methods' names in --help), the `choices` it takes (its metavar, a|b|c; the method's
    validate() still checks them), `words` a number may also be (steps: "auto"), and `when`
    it applies, if not always (said after the methods' names). The CLI makes one flag per
    parameter name from these (cli/options.py): a new method's parameters need no CLI edit."""
    return field(default=default, metadata=dict(help=help, choices=tuple(choices), words=tuple(words), when=when))


class Method:
    """Base of every method: a dataclass of its parameters plus `attribute`."""

    name = ""
    signed = False  # signed scores (direction matters) or magnitudes
    # True: the method evaluates the network at x itself and resolves a class of -1 (predicted)
    # on the way, so the caller needs no separate forward pass for the prediction.
    evaluates_input = False

    def __post_init__(self):
        self.validate()

    def validate(self):
        pass

    def params(self) -> dict:
        return asdict(self)

    def attribute(self, engine, batch: Batch) -> Attributions:
        raise NotImplementedError

    def cost(self, tokens: int) -> float:
        """Work for a text of `tokens` tokens, in gradient evaluations (what `--engine auto` weighs)."""
        return 1.0


def make_method(name: str, **options) -> Method:
    """The method called `name`, taking from options the parameters it has. Parameters of the
    other methods are ignored (one set of options serves any method); a name that no method
    takes is refused, so a typo such as step=10 cannot run silently with the default."""
    if name not in METHODS:
        raise UsageError(f"unknown method {name!r} (choose from {', '.join(METHODS)})")
    known = {f.name for cls in METHODS.values() for f in fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                         f"(method options: {', '.join(sorted(known))})")
    cls = METHODS[name]
    accepted = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in options.items() if k in accepted and v is not None})


REDUCTIONS = ("l2", "l1", "max")  # how dx_t's components make one magnitude (gradient, smoothgrad)


def reduce_vectors(dx, how: str):
    """One magnitude per timestep from dx_t: l2 norm (default), l1 norm, or max |component|."""
    if how == "l2":
        return l2_norm(dx)
    if how == "l1":
        return abs(dx).sum(-1)
    if how == "max":
        return amax(abs(dx), -1)
    raise UsageError(f"unknown --reduce {how!r} (choose l2, l1 or max)")


def check_count(value, option: str, limit: int) -> int:
    """A whole number from 1 to limit, or a usage error that says the limit."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UsageError(f"{option} must be a whole number, not {value!r}")
    if not 1 <= value <= limit:
        raise UsageError(f"{option} must be between 1 and {limit:,} (got {value:,})")
    return int(value)


def check_reduce(how: str):
    if how not in REDUCTIONS:
        raise UsageError(f"unknown --reduce {how!r} (choose l2, l1 or max)")


def chunk_rows(T: int) -> int:
    return max(1, CHUNK_POSITIONS // max(1, T))


def pair_chunks(batch: Batch, per_example: int, examples=None, done: int = 0):
    """(owners, ks): numpy indices of the next chunk of (example, k) pairs, example-major, k <
    per_example; the chunk's inputs are built from them, so only one chunk exists at a time.
    `examples` (ascending indices) limits the pairs to those examples; progress is reported as
    each chunk is done, counting on from `done` pairs already reported (a later round of work)."""
    examples = np.arange(len(batch.lengths)) if examples is None else np.asarray(examples)
    total = len(examples) * per_example
    rows = chunk_rows(batch.ids.shape[1])
    for start in range(0, total, rows):
        pairs = np.arange(start, min(total, start + rows))
        yield examples[pairs // per_example], pairs % per_example
        batch.report(done + int(pairs[-1]) + 1, done + total)


def gradient_at(engine, batch: Batch, x, owners):
    """(values, dx) at inputs x (k, T, E), row r explaining example owners[r]'s target."""
    _, values, dx = engine.gradient(x, batch.lengths[owners], batch.positions[owners], batch.classes[owners],
                                    batch.objective)
    return values, dx


def objective_at(engine, batch: Batch, x, owners, lengths=None):
    """F at inputs x (k, T, E) for owners' targets, in chunks (lengths: the rows' own, if given)."""
    lengths = batch.lengths[owners] if lengths is None else lengths
    rows = chunk_rows(x.shape[1])
    out = []
    for i in range(0, len(x), rows):
        o = owners[i:i + rows]
        logits = engine.forward(x[i:i + rows], lengths[i:i + rows])
        out.append(batch.objective.values(logits, batch.positions[o], batch.classes[o]))
    return concatenate(out)
