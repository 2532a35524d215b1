"""The objective: which scalar F an explanation explains, decided once from the options.

Explainer.explain builds one `Objective` from its options (objective=, contrast=) and hands it to
the method, which hands it to the engine; nothing downstream reads the options again.
For each row of a batch (a text, at a position, for a class), F is:
- kind "logit": that output's logit (the default: it does not saturate);
- kind "logprob": its log-probability, the log-softmax over the outputs;
- a contrast (`against` K): logit(class) - logit(K), "why this rather than that". Log-probabilities
  give the same difference (the normaliser cancels), so a contrast is a difference of logits
  whatever the kind; the kind is kept for the record (an Explanation shows "logprob difference").
A row's position is a language model's or a tagger's (0 for a classifier); its class PREDICTION
(-1) stands for the model's own prediction there, which `resolve_classes` turns into an index:
the one place that happens. Works on numpy arrays and torch tensors alike (autograd follows).
"""

from dataclasses import dataclass

import numpy as np

from .errors import UsageError

KINDS = ("logit", "logprob")
PREDICTION = -1  # a row's class: whichever output the model predicts at that position


@dataclass(frozen=True)
class Objective:
    kind: str = "logit"  # logit | logprob
    against: int = None  # an output index: F = logit(class) - logit(against); None: no contrast

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UsageError(f"unknown objective {self.kind!r} (choose logit or logprob)")
        if self.against is not None and (isinstance(self.against, bool) or not isinstance(
                self.against, (int, np.integer)) or self.against < 0):
            raise UsageError(f"a contrast is an output index, not {self.against!r}")

    @classmethod
    def of(cls, value) -> "Objective":
        """An Objective as given, or one of that kind's name ("logit", "logprob")."""
        return value if isinstance(value, Objective) else cls(value)

    @property
    def uses_logprob(self) -> bool:
        """Whether F is read from log-probabilities (a contrast never is: the normaliser cancels)."""
        return self.kind == "logprob" and self.against is None

    def values(self, logits, positions, classes):
        """F (B,) from the network's logits, (B, C), or (B, T, C) at every position; classes
        already resolved (no PREDICTION)."""
        at = outputs_at(logits, positions)
        if self.uses_logprob:  # the normaliser of the explained position only, not of every position
            if isinstance(at, np.ndarray):
                shifted = at - at.max(-1, keepdims=True)
                at = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            else:
                at = at.log_softmax(-1)
        rows = _rows(at)
        picked = at[rows, _index(at, classes)]
        return picked if self.against is None else picked - at[:, self.against]


def outputs_at(logits, positions):
    """(B, C): each row's outputs at its position (per-position logits (B, T, C)), or the logits
    themselves (a classifier's (B, C))."""
    if logits.ndim != 3:
        return logits
    return logits[_rows(logits), _index(logits, positions)]


def resolve_classes(at, classes):
    """classes (B,) with PREDICTION replaced by the row's predicted output (argmax of at (B, C))."""
    if isinstance(at, np.ndarray):
        return np.where(np.asarray(classes) < 0, at.argmax(-1), classes)
    import torch

    classes = _index(at, classes)
    return torch.where(classes < 0, at.argmax(-1), classes)


def _rows(a):
    if isinstance(a, np.ndarray):
        return np.arange(a.shape[0])
    import torch

    return torch.arange(a.shape[0], device=a.device)


def _index(a, index):
    """An index array as a's kind of array (a tensor on a's device for a tensor)."""
    if isinstance(a, np.ndarray):
        return np.asarray(index)
    import torch

    return torch.as_tensor(index, device=a.device)
