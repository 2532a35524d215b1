"""Explaining any PyTorch module that embeds token ids with an nn.Embedding.

The module keeps its own forward: a forward hook on its embedding layer replaces the
embedding's output with the inputs we differentiate, so dx_t is taken exactly where the
module's own embeddings enter it. Texts run one at a time, since an arbitrary module may
not know about padding.
"""

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from .attribution.base import contrast_class
from .errors import InputError, UsageError
from .tokenize import Token


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
        raise UsageError(f"found {len(found)} nn.Embedding layers ({names}): name the one to explain with embedding=")
    return found[0][1]


class ModuleEngine:
    """The engine interface (embed, forward, gradient) over a user's nn.Module."""

    name = "torch-module"

    def __init__(self, module: nn.Module, embedding: str = None, head: str = "classifier"):
        if head not in ("classifier", "lm", "tagger"):
            raise UsageError("head must be 'classifier', 'lm' or 'tagger'")
        self.module = module.eval()
        self.embedding = find_embedding(module, embedding)
        self.config = SimpleNamespace(head=head, vocab_size=self.embedding.num_embeddings,
                                      per_position=head in ("lm", "tagger"))
        self.weight = self.embedding.weight

    def embed(self, ids):
        return self.weight.detach()[torch.as_tensor(np.asarray(ids), device=self.weight.device)].cpu().numpy()

    def _logits(self, x_row):
        """The module's output for one text whose embedding output is x_row (T, E)."""
        handle = self.embedding.register_forward_hook(lambda mod, inp, out: x_row.unsqueeze(0).to(out.dtype))
        try:
            ids = torch.zeros((1, x_row.shape[0]), dtype=torch.long, device=self.weight.device)
            out = self.module(ids)
        finally:
            handle.remove()
        out = out[0] if isinstance(out, (tuple, list)) else out
        expected = 2 if self.config.per_position else 1  # lm (T, V), tagger (T, C); classifier (C,)
        out = out.squeeze(0) if out.dim() == expected + 1 else out
        if out.dim() != expected:
            raise UsageError(f"the module returned shape {tuple(out.shape)}; a {self.config.head} should give "
                             + ({"lm": "(1, T, V)", "tagger": "(1, T, C)"}.get(self.config.head, "(1, C)")))
        return out

    def _rows(self, x, lengths):
        return [torch.as_tensor(x[b, : lengths[b]], device=self.weight.device, dtype=self.weight.dtype)
                for b in range(len(x))]

    def forward(self, x, lengths):
        with torch.no_grad():
            outs = [self._logits(row).cpu().numpy() for row in self._rows(x, lengths)]
        return _pad_outputs(outs, x.shape[1])

    def gradient(self, x, lengths, positions, classes, objective="logit"):
        logits, values, dx = [], [], np.zeros_like(x)
        for b, row in enumerate(self._rows(x, lengths)):
            row.requires_grad_(True)
            with torch.enable_grad():
                out = self._logits(row)
                at = out[positions[b]] if out.dim() == 2 else out
                cls = int(at.argmax()) if classes[b] < 0 else int(classes[b])
                scores = at.log_softmax(-1) if objective == "logprob" else at
                against = contrast_class(objective)
                value = scores[cls] - scores[against] if against is not None else scores[cls]
                (grad,) = torch.autograd.grad(value, row)
            logits.append(out.detach().cpu().numpy())
            values.append(float(value.detach()))
            dx[b, : lengths[b]] = grad.cpu().numpy()
        return _pad_outputs(logits, x.shape[1]), np.array(values), dx


def _pad_outputs(outs, T):
    if outs[0].ndim == 1:
        return np.stack(outs)
    padded = np.zeros((len(outs), T, outs[0].shape[-1]), outs[0].dtype)
    for b, o in enumerate(outs):
        padded[b, : len(o)] = o
    return padded


class CallableTokenizer:
    """A user's tokenizer callable as ours: text -> ids, or -> (token text, id) pairs.

    Offsets are found by searching each token's text in order (case-insensitively), so output
    still shows the user's own text; a token that cannot be found gets an empty span.
    """

    def __init__(self, fn, pad_id=0, unk_id=1):
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


def module_explainer(module, tokenizer, labels=None, embedding=None, head="classifier"):
    from .pipeline import Explainer

    if tokenizer is None:
        raise UsageError("explaining an nn.Module needs tokenizer= (a callable: text -> ids or (token, id) pairs)")
    if not hasattr(tokenizer, "tokenize"):
        tokenizer = CallableTokenizer(tokenizer)
    engine = ModuleEngine(module, embedding, head)
    names = list(labels) if labels is not None else []
    if not names:
        size = engine.config.vocab_size if head == "lm" else None
        names = [str(i) for i in range(size)] if size else []
    return Explainer(engine, tokenizer, names or _output_names(engine), type(module).__name__, batch_size=1)


def _output_names(engine):
    """Numbered output names, from the size of the module's output on a one-token input."""
    out = engine.forward(engine.embed(np.array([[0]])), np.array([1]))
    return [str(i) for i in range(out.shape[-1])]
