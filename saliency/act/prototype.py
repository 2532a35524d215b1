"""prototype: the input a class (or, for a language model, a next token) responds to most,
built by gradient-guided token swaps.

Start from a seed text (the user's, a run of <unk>, or tokens drawn with a seed), then repeat:
rank every swap by its first-order effect on the target's logit, dx_t . (e_v - e_{x_t}),
verify the best few with forward passes, and keep the best verified swap if it raises the
logit. Stop when no verified swap helps. The logit never falls from one step to the next,
and a given start always gives the same result.
"""

import json
from dataclasses import dataclass, field

import numpy as np

from .editor import MAX_CANDIDATES, Editor, check_range
from ..errors import UsageError
from ..option_checks import check_seed
from ..pipeline import softmax

MAX_LENGTH = 200
MAX_STEPS = 1000
TOLERANCE = 1e-6  # a swap must raise the logit by more than this (relative), not by rounding


@dataclass
class PrototypeStep:
    text: str
    logit: float  # the target's logit for text
    probability: float  # the target's probability for text
    position: int = None  # the token swapped to reach text (None: the start)
    old: str = ""
    new: str = ""
    estimated: float = 0.0
    verified: float = 0.0

    def to_dict(self) -> dict:
        d = {"text": self.text, "logit": self.logit, "probability": self.probability}
        if self.position is not None:
            d.update(position=self.position, **{"from": self.old, "to": self.new}, estimated=self.estimated,
                     verified=self.verified)
        return d


@dataclass
class PrototypeResult:
    label: str
    text: str
    steps: list
    prediction: dict  # for text
    tokens: list = field(default_factory=list)  # of text, offsets into it
    model: str = ""
    lm: bool = False

    def to_dict(self) -> dict:
        last = self.steps[-1]
        return {"label": self.label, "text": self.text, "logit": last.logit, "probability": last.probability,
                "prediction": self.prediction, "start": self.steps[0].text,
                "steps": [s.to_dict() for s in self.steps]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __rich__(self):
        from ..render import prototype_text

        return prototype_text(self)


def prototype(explainer, to, start=None, length=8, seed=None, candidates=32, max_steps=100) -> PrototypeResult:
    """Raise the logit of label `to` (language model: of next token `to` after the text) by
    verified swaps, from `start`, from `length` <unk> tokens, or from `length` vocabulary tokens
    drawn with `seed`."""
    check_range(length, 1, MAX_LENGTH, "--length")
    check_range(max_steps, 1, MAX_STEPS, "--max-steps")
    check_range(candidates, 1, MAX_CANDIDATES, "--candidates")
    check_seed(seed)
    if start is not None and seed is not None:
        raise UsageError("give --from or --seed, not both (--seed draws the starting text)")
    ed = Editor(explainer)
    goal = explainer.output_index(to)
    text, tokens = seed_text(ed, start, length, seed)
    ids = [t.id for t in tokens]
    logits = ed.logits([ids])[0]
    steps = [PrototypeStep(text, float(logits[goal]), float(softmax(logits)[goal]))]
    allowed = np.ones(len(ids), bool)
    while len(steps) <= max_steps:
        grad = ed.gradient(ids, goal)
        # The globally best estimates first; if none of them helps, each position's best, so
        # positions whose estimates are all small (far from a language model's end) get a try.
        for ranked in (ed.shortlist(ids, grad, 1.0, allowed, candidates), ed.best_per_position(ids, grad, 1.0, allowed)):
            found = best_swap(ed, text, tokens, ranked, goal, logits[goal])
            if found:
                break
        if not found:
            break  # a local optimum: no verified swap raises the logit
        c, new_text, new_tokens, gain = found
        old = tokens[c.position].text
        text, tokens, ids = new_text, new_tokens, [t.id for t in new_tokens]
        logits = ed.logits([ids])[0]
        steps.append(PrototypeStep(text, float(logits[goal]), float(softmax(logits)[goal]), c.position, old,
                                   tokens[c.position].text, c.estimate, gain))
    return PrototypeResult(ed.names[goal], text, steps, ed.prediction(logits), tokens, explainer.name, ed.is_lm)


def best_swap(ed, text, tokens, ranked, goal, current):
    """(candidate, text, tokens, verified gain) of the candidate that raises logit `goal` most, or
    None when none raises it by more than rounding."""
    found = []
    for c in ranked:
        built = ed.edit(text, tokens, {c.position: c.new_id})
        if built:
            found.append((c,) + built)
    if not found:
        return None
    values = ed.logits([[t.id for t in f[2]] for f in found])[:, goal]
    best = int(np.argmax(values))  # first of the best: ties go to the first-order order
    gain = float(values[best] - current)
    return found[best] + (gain,) if gain > TOLERANCE * (1.0 + abs(current)) else None


def seed_text(ed, start, length, seed):
    """(text, tokens) to start from: the user's text, <unk> tokens, or tokens drawn with `seed`."""
    if start is not None:
        return start, ed.explainer.tokenize(start)
    text = ed.unk_text(length)
    tokens = ed.explainer.tokenize(text)
    if seed is None:
        return text, tokens
    rng = np.random.default_rng(seed)
    choices = np.flatnonzero(~ed.banned)
    for i in range(length):  # one at a time, so an entry that cannot stand in text just stays <unk>
        built = ed.edit(text, tokens, {i: int(rng.choice(choices))})
        if built:
            text, tokens = built
    return text, tokens
