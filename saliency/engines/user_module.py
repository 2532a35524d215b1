"""Explaining any PyTorch module as its own code runs it: token ids through its nn.Embedding,
or float one-hot vectors (inputs="one-hot"), in whatever layout `call` adapts them to.

Token ids: a pre-hook on the module's embedding layer notes which slot of the batch each id the
module embeds stands for (the module is given slot numbers b*T + t, so it may reshape, transpose
or split them as it likes), and a forward hook puts in the inputs we differentiate for those
slots: dx_t is taken exactly where the module's own embeddings enter it. One-hot: the module
gets the (B, T, V) float vectors themselves, and dx_t is the gradient with respect to them.

Batches: `batched="padded"`: texts of any length share a padded call, for a module that handles
padding (its call= takes the true lengths as a third argument, to pack or mask), except that 8 or
more of one length get a call of their own (padded_groups); "length": texts of one length in one
call, so no padding reaches the module; False: one text per call. The
default, "auto", finds out on the first batch of two or more texts: the longest and the shortest
together must give what each gives alone (to 1e-5) for "padded", or the two cut to one length
for "length"; else texts run one at a time from then on.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError, UsageError
from ..objective import Objective, outputs_at, resolve_classes
from ..tokenize import Token
from .base import Engine

HEADS = ("classifier", "lm", "tagger")  # lm and tagger: an output per position
INPUTS = ("ids", "one-hot")
BATCHING = ("auto", "padded", "length", False)
BATCH_CHECK_TOLERANCE = 1e-5
ONE_LENGTH_ROWS = 8


def find_embedding(module: nn.Module, name: str = None) -> nn.Embedding:
    if name:
        try:
            layer = module.get_submodule(name)
        except AttributeError:
            raise UsageError(f"the module has no submodule {name!r}") from None
        if not isinstance(layer, nn.Embedding):
            raise UsageError(f"{name!r} is a {type(layer).__name__}, not an nn.Embedding")
        return layer
    found = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Embedding)]
    if len(found) != 1:
        names = ", ".join(n for n, _ in found) or "none"
        raise UsageError(f"found {len(found)} nn.Embedding layers ({names}): name the one to explain with "
                         "embedding=, or pass inputs='one-hot' for a module that takes one-hot vectors")
    return found[0][1]


def plain_call(module, inputs):
    return module(inputs)


def takes_three(call) -> bool:
    """Whether call(module, inputs, lengths) can be called (three positional parameters)."""
    import inspect

    try:
        params = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)


@dataclass(frozen=True)
class ModuleConfig:
    """What the methods read of a user's module (a model file's ModelConfig has these and more)."""

    head: str  # classifier | lm | tagger
    vocab_size: int
    embedding_dim: int  # its nn.Embedding's width; 0: the module takes one-hot vectors

    @property
    def per_position(self) -> bool:
        return self.head != "classifier"


class ModuleEngine(Engine):
    """The engine contract (engines/base.py) over a user's nn.Module: embed, forward, gradient and
    its torch module; no stored states (prefix reuse) and no model-file weights (LRP)."""

    name = "torch-module"

    def __init__(self, module: nn.Module, embedding: str = None, head: str = "classifier", inputs: str = "ids",
                 call=None, vocab_size: int = None, batched="auto"):
        if head not in HEADS:
            raise UsageError(f"head must be one of {', '.join(map(repr, HEADS))}")
        if inputs not in INPUTS:
            raise UsageError(f"inputs must be 'ids' (the module embeds token ids) or 'one-hot' (it takes "
                             f"float one-hot vectors), not {inputs!r}")
        if batched not in BATCHING:
            raise UsageError("batched must be 'auto', 'padded' (texts of any length in one padded call: the "
                             "module or call= uses the lengths), 'length' (texts of one length together) or False")
        self.module, self.inputs, self.call = module.eval(), inputs, call or plain_call
        self.batched = batched
        # A call taking three arguments gets the true lengths (B,) too, so it can pack or mask padding.
        self.takes_lengths = call is not None and takes_three(call)
        if inputs == "ids":
            self.embedding = find_embedding(module, embedding)
            self.weight = self.embedding.weight
            vocab_size = self.embedding.num_embeddings
        else:
            if not vocab_size:
                raise UsageError("inputs='one-hot' needs the vocabulary size: a tokenizer with a vocab list, "
                                 "or vocab_size=")
            self.weight = next(module.parameters(), torch.zeros(()))  # its dtype and device
        self.config = ModuleConfig(head, vocab_size, self.embedding.embedding_dim if inputs == "ids" else 0)
        self.device = self.weight.device
        try:
            self.dtype = torch.zeros((), dtype=self.weight.dtype).numpy().dtype
        except TypeError:  # bfloat16 has no numpy dtype
            self.dtype = None

    def torch_module(self):
        return self.module

    def embed(self, ids):
        ids = torch.as_tensor(np.asarray(ids), device=self.weight.device)
        if self.inputs == "one-hot":
            return nn.functional.one_hot(ids, self.config.vocab_size).to(self.weight.dtype).cpu().numpy()
        return self.weight.detach()[ids].cpu().numpy()

    def _outputs(self, x, lengths=None):
        """The module's outputs for inputs x (B, L, E): (B, C) or (B, L, C). lengths (B,): the
        true lengths, given to a call that takes them (padded batches), else all L."""
        B, L = x.shape[:2]
        extra = () if not self.takes_lengths else (
            torch.full((B,), L) if lengths is None else torch.as_tensor(np.asarray(lengths)),)
        try:
            out = self.call(self.module, x, *extra) if self.inputs == "one-hot" else self._through_embedding(x, extra)
        except (RuntimeError, ValueError, TypeError, IndexError) as e:  # the module's own error, in one line
            given = f"({B}, {L}) ids" if self.inputs == "ids" else f"({B}, {L}, {x.shape[2]}) one-hot vectors"
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise UsageError(f"the module failed on {given}, batch first: {first} (adapt its input and output "
                             "with call=, a function (module, inputs))") from None
        out = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(out, torch.Tensor):
            raise UsageError(f"the module returned a {type(out).__name__}, not a tensor (adapt it with call=)")
        want = (B, L) if self.config.per_position else (B,)
        if out.dim() == len(want) and self.config.per_position is False and B == 1:
            out = out.unsqueeze(0)  # a module that drops the batch of one: (C,)
        if out.dim() != len(want) + 1 or tuple(out.shape[:-1]) != want:
            shape = "(B, T, C)" if self.config.per_position else "(B, C)"
            raise UsageError(f"the module returned shape {tuple(out.shape)} for {B} text(s) of {L} tokens; a "
                             f"{self.config.head} should give {shape} (adapt its input and output with call=)")
        return out

    def _through_embedding(self, x, extra):
        B, L, _ = x.shape
        flat = x.reshape(B * L, -1)
        seen = {}

        def before(layer, args):  # slot numbers in, zeros to the embedding (any valid id)
            seen["slots"] = args[0]
            return (torch.zeros_like(args[0]),) + tuple(args[1:])

        def after(layer, args, out):
            slots = seen["slots"]
            if slots is given:  # embedded as given (most modules): x itself, not a gather and its scatter back
                return x.to(out.dtype, copy=True)  # a copy, so the module may change it in place
            if int(slots.max()) >= B * L or int(slots.min()) < 0:
                raise UsageError("the module embedded ids it made itself, not the ones it was given")
            return flat[slots].to(out.dtype)

        handles = [self.embedding.register_forward_pre_hook(before), self.embedding.register_forward_hook(after)]
        try:
            given = torch.arange(B * L, device=self.weight.device).view(B, L)
            return self.call(self.module, given, *extra)
        finally:
            for handle in handles:
                handle.remove()

    def _groups(self, x, lengths):
        """[(rows, L)]: each call's rows of the batch and its length: all rows padded to the
        longest ("padded"), rows of one length together ("length"), or one row at a time."""
        if self.batched == "auto":
            self._check_batching(x, lengths)
        if self.batched == "padded":
            return padded_groups(lengths)
        if self.batched == "length":
            return [(np.flatnonzero(lengths == n), int(n)) for n in np.unique(lengths)]
        return [(np.array([b]), int(lengths[b])) for b in range(len(lengths))]

    def _check_batching(self, x, lengths):
        """batched="auto", on the first batch of two or more texts: the longest and the shortest
        together, padded, must give what each gives alone (to 1e-5): then "padded"; else the
        two cut to one length must: then "length"; else (or if the module refuses a batch) one
        text at a time. Outputs past a text's end are not compared."""
        rows = np.argsort(-lengths, kind="stable")[[0, -1]] if len(lengths) > 1 else []
        if len(rows) < 2:
            return
        for mode in ("padded", "length"):
            L = int(lengths[rows].max() if mode == "padded" else lengths[rows].min())
            short = np.minimum(lengths[rows], L)
            inputs = self._tensor(x[rows, :L])
            try:
                with torch.no_grad():
                    together = self._outputs(inputs, short)
                    alone = [self._outputs(inputs[k:k + 1, : short[k]], short[k:k + 1])[0] for k in range(2)]
                pairs = [(together[k, : short[k]] if together.dim() == 3 else together[k], alone[k]) for k in range(2)]
                gap = max(float((a - b).abs().max()) for a, b in pairs)
                scale = max(1.0, max(float(b.abs().max()) for _, b in pairs))
                if gap <= BATCH_CHECK_TOLERANCE * scale:
                    self.batched = mode
                    return
            except (RuntimeError, UsageError, IndexError, ValueError):
                pass
        self.batched = False

    def _tensor(self, a):
        """A copy, never a view of the caller's batch: a module may change its input in place."""
        return torch.tensor(np.asarray(a), device=self.weight.device, dtype=self.weight.dtype)

    def forward(self, x, lengths):
        lengths = np.asarray(lengths)
        logits = None
        # no_grad, not inference_mode: a module that makes a buffer on its first call would keep an
        # inference tensor, which its later gradient calls could not save for backward.
        with torch.no_grad():
            for rows, L in self._groups(x, lengths):
                rows = _index(rows)
                out = self._outputs(self._tensor(x[rows, :L]), lengths[rows])
                logits = _place(logits, rows, out.cpu().numpy(), lengths, x.shape[1])
        return logits

    def gradient(self, x, lengths, positions, classes, objective=Objective(), ids=None):
        lengths = np.asarray(lengths)
        logits, values, dx = None, np.zeros(len(lengths)), np.zeros_like(np.asarray(x))
        objective = Objective.of(objective)
        with frozen(self.module):
            for rows, L in self._groups(x, lengths):
                rows = _index(rows)
                inputs = self._tensor(x[rows, :L]).requires_grad_(True)
                with torch.enable_grad():
                    out = self._outputs(inputs, lengths[rows])
                    at = outputs_at(out, positions[rows])  # (B, C): per-position outputs at the explained one
                    cls = resolve_classes(at, classes[rows])
                    value = objective.values(at, None, cls)
                    # One backward over the sum: texts are independent, so each gets its own gradient.
                    (grad,) = torch.autograd.grad(value.sum(), inputs)
                # Whole arrays at once, no loop over texts: past each text's end stays zero.
                logits = _place(logits, rows, out.detach().cpu().numpy(), lengths, x.shape[1])
                values[rows] = value.detach().cpu().numpy()
                dx[rows, :L] = _zero_past_ends(grad.cpu().numpy(), lengths[rows])
        return logits, values, dx


def padded_groups(lengths, least=None):
    """A padded-batch module's calls [(rows, L)]: rows of one length, where at least `least` share
    it, in a call of their own; the others padded together. One length is torch's fast path: a
    packed batch of mixed lengths runs the LSTM step by step (not oneDNN's kernel) and its backward
    fills a zero gradient the size of the whole batch at every step."""
    least = ONE_LENGTH_ROWS if least is None else least
    if lengths.min() == lengths.max():
        return [(np.arange(len(lengths)), int(lengths[0]))]
    sizes, which, counts = np.unique(lengths, return_inverse=True, return_counts=True)
    groups = [(np.flatnonzero(which == k), int(n)) for k, (n, c) in enumerate(zip(sizes, counts)) if c >= least]
    rest = np.flatnonzero(counts[which] < least)
    if len(rest):
        groups.append((rest, int(lengths[rest].max())))
    return groups


@contextmanager
def frozen(module):
    """The module's parameters with requires_grad off while it runs, then as they were (even after
    an error): only dx is wanted, so autograd keeps nothing for the weights' gradients. Little
    time: autograd.grad already skips most weight gradients, and oneDNN's LSTM backward computes
    them whatever is asked (2-5% on bench/module_batch.py's modules, within the noise)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _index(rows):
    """A call's rows (ascending) as a slice where they are consecutive, as the rows of one length in
    a batch sorted by length are: reading x is then a view, not a copy, and writing back a slice."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _zero_past_ends(a, lengths):
    """a (n, L, ...) with each row's steps past its length set to zero (a itself if none are)."""
    if (lengths >= a.shape[1]).all():
        return a
    mask = np.arange(a.shape[1])[None, :] < lengths[:, None]  # (n, L)
    return np.where(mask.reshape(mask.shape + (1,) * (a.ndim - 2)), a, 0)


def _place(into, rows, out, lengths, T):
    """One call's outputs out (n, C) or (n, L, C), for the batch's rows `rows`, put into the
    batch's (B, C) or (B, T, C) array `into` (made on first use), zero past each text's end."""
    if into is None:
        into = np.zeros((len(lengths),) + ((T,) if out.ndim == 3 else ()) + out.shape[-1:], out.dtype)
    if out.ndim == 3:
        into[rows, : out.shape[1]] = _zero_past_ends(out, lengths[rows])
    else:
        into[rows] = out
    return into


class CallableTokenizer:
    """A user's tokenizer callable as ours: text -> ids, or -> (token text, id) pairs.

    Offsets are found by searching each token's text in order (case-insensitively), so output
    still shows the user's own text; a token that cannot be found gets an empty span.
    """

    def __init__(self, fn, pad_id=None, unk_id=None):  # reserved ids only where the user names them
        self.fn, self.pad_id, self.unk_id = fn, pad_id, unk_id

    def tokenize(self, text):
        items = list(self.fn(text))
        tokens, cursor, lowered = [], 0, text.lower()
        for item in items:
            piece, token_id = item if isinstance(item, (tuple, list)) else (None, item)
            if not isinstance(token_id, (int, np.integer)):
                raise InputError(f"the tokenizer returned {token_id!r}, not an integer id")
            start = lowered.find(str(piece).lower(), cursor) if piece else -1
            if start < 0:
                start = end = cursor
            else:
                end = start + len(piece)
                cursor = end
            tokens.append(Token(text[start:end] if piece else str(token_id), start, end, int(token_id),
                                int(token_id) == self.unk_id))
        return tokens


MODULE_OPTIONS = ("embedding", "head", "inputs", "call", "vocab_size", "batched", "pad_id", "unk_id")


def module_explainer(module, tokenizer, labels=None, pad_id=None, unk_id=None, **engine_options):
    """An Explainer over a user's nn.Module. engine_options: ModuleEngine's (embedding, head,
    inputs, call, vocab_size, batched). pad_id / unk_id: the ids occlusion and baselines may use
    (none unless given, or unless the tokenizer object carries them)."""
    from ..pipeline import Explainer

    if tokenizer is None:
        raise UsageError("explaining an nn.Module needs tokenizer= (a callable: text -> ids or (token, id) pairs)")
    if not hasattr(tokenizer, "tokenize"):
        tokenizer = CallableTokenizer(tokenizer, pad_id, unk_id)
    vocab = getattr(tokenizer, "vocab", None)
    if engine_options.get("inputs") == "one-hot" and not engine_options.get("vocab_size") and vocab:
        engine_options["vocab_size"] = len(vocab)
    engine = ModuleEngine(module, **engine_options)
    head = engine.config.head
    names = list(labels) if labels is not None else []
    if not names and head == "lm":
        names = list(vocab) if vocab and len(vocab) == engine.config.vocab_size else \
            [str(i) for i in range(engine.config.vocab_size)]
    explainer = Explainer(engine, tokenizer, names or _output_names(engine), type(module).__name__)
    if pad_id is not None:
        explainer.pad_id = pad_id
    if unk_id is not None:
        explainer.unk_id = unk_id
    return explainer


def _output_names(engine):
    """Numbered output names, from the size of the module's output on a one-token input."""
    out = engine.forward(engine.embed(np.array([[0]])), np.array([1]))
    return [str(i) for i in range(out.shape[-1])]
