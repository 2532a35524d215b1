"""flip: the token swap (or greedy sequence of swaps) that changes a prediction.

HotFlip (Ebrahimi et al. 2018): rank every (position, replacement) by the first-order change
of the margin, dx_t . (e_v - e_{x_t}), then verify the best candidates with forward passes
and keep the swap that verifiably moves the margin most. The margin is the logit of the label
being lowered (or the --to label being raised) minus the largest other logit: it is negative
exactly when that label has lost (or positive when the --to label has won), which a single
logit is not, and it is linear in the logits, so for a model whose logits are linear in its
embeddings the estimate is exact.
"""

import json
from dataclasses import dataclass, field

import numpy as np

from .editor import MAX_CANDIDATES, Editor, check_range, margin, runner_up

MAX_SWAPS = 50


@dataclass
class Swap:
    position: int  # token index (the same in both texts: a swap replaces one token by one)
    old: str  # as in the text before the swap
    new: str  # as in the changed text
    estimated: float  # first-order change of the margin
    verified: float  # the change a forward pass on the rebuilt text gives
    rank: int  # this swap's place in the first-order ranking of the candidates verified (0: top)
    verified_count: int  # candidates verified at this step

    def to_dict(self) -> dict:
        return {"position": self.position, "from": self.old, "to": self.new, "estimated": self.estimated,
                "verified": self.verified}


@dataclass
class FlipResult:
    text: str
    changed_text: str
    flipped: bool
    swaps: list
    before: dict  # prediction (label, probability, probabilities) and margin
    after: dict
    label: str  # the label whose margin is lowered, or the --to label whose margin is raised
    targeted: bool  # --to given
    tokens: list = field(default_factory=list)  # of text
    changed_tokens: list = field(default_factory=list)  # of changed_text, offsets into it
    model: str = ""
    lm: bool = False  # labels are tokens (quoted when shown)

    def to_dict(self) -> dict:
        return {"flipped": self.flipped, "text": self.text, "changed_text": self.changed_text,
                "swaps": [s.to_dict() for s in self.swaps], "before": self.before, "after": self.after}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __rich__(self):
        from ..render import flip_text

        return flip_text(self)


def flip(explainer, text, to=None, max_swaps=1, keep=(), candidates=32) -> FlipResult:
    """The swap (up to `max_swaps`, greedily) that most lowers the predicted label's margin, or
    raises the margin of label `to`, stopping as soon as the prediction has changed (reached `to`).
    Tokens equal to one in `keep` (compared as the vocabulary does) are never swapped.
    Language models: the prediction of the next token after the text."""
    check_range(max_swaps, 1, MAX_SWAPS, "--max-swaps")
    check_range(candidates, 1, MAX_CANDIDATES, "--candidates")
    ed = Editor(explainer)
    tokens = explainer.tokenize(text)
    ids = [t.id for t in tokens]
    logits = ed.logits([ids])[0]
    predicted = int(np.argmax(logits))
    goal = predicted if to is None else explainer.output_index(to)
    sign = -1.0 if to is None else 1.0  # untargeted: lower the predicted label; --to: raise its label
    kept = {ed.tokenizer.normalize(k) if hasattr(ed.tokenizer, "normalize") else k for k in keep}
    allowed = np.array([(t.text.lower() if ed.lowercase else t.text) not in kept for t in tokens])

    def reached(lg):
        return int(np.argmax(lg)) != goal if to is None else int(np.argmax(lg)) == goal

    before = dict(ed.prediction(logits), margin=float(margin(logits, goal)))
    cur_text, cur_tokens, swaps = text, tokens, []
    while len(swaps) < max_swaps and not reached(logits) and allowed.any():
        m = float(margin(logits, goal))
        grad = ed.gradient(ids, goal, runner_up(logits, goal))
        found = []  # (rank, candidate, new text, new tokens)
        for rank, c in enumerate(ed.shortlist(ids, grad, sign, allowed, candidates)):
            built = ed.edit(cur_text, cur_tokens, {c.position: c.new_id})
            if built:
                found.append((rank, c) + built)
        if not found:
            break
        verified = margin(ed.logits([[t.id for t in f[3]] for f in found]), goal) - m
        best = int(np.argmax(sign * verified))  # first of the best: ties go to the first-order order
        if sign * verified[best] <= 0:
            break  # no candidate moves the margin the right way
        rank, c, new_text, new_tokens = found[best]
        swaps.append(Swap(c.position, cur_tokens[c.position].text, new_tokens[c.position].text, c.estimate,
                          float(verified[best]), rank, len(found)))
        cur_text, cur_tokens = new_text, new_tokens
        ids = [t.id for t in new_tokens]
        allowed[c.position] = False  # each position is swapped at most once
        logits = ed.logits([ids])[0]
    after = dict(ed.prediction(logits), margin=float(margin(logits, goal)))
    return FlipResult(text, cur_text, reached(logits), swaps, before, after, ed.names[goal], to is not None,
                      tokens, cur_tokens, explainer.name, ed.is_lm)


def add_flips(explainer, results, candidates=32):
    """batch --flip: each explained record's best single swap as `explanation.flip` (in its JSON
    as "flip"); a record whose flip fails gets that error in its place, the others go on."""
    from ..errors import SaliencyError

    for i, result in enumerate(results):
        if result.explanation is None:
            continue
        try:
            result.explanation.flip = flip(explainer, result.record.text, candidates=candidates)
        except SaliencyError as e:
            results[i] = result.failed(str(e))
    return results


class FlipTally:
    """batch --flip --summary: per predicted label, how many records one swap flips (fragility)."""

    def __init__(self):
        self.counts = {}  # label -> [records, flipped]

    def add(self, explanation):
        result = getattr(explanation, "flip", None)
        if result is not None:
            entry = self.counts.setdefault(result.before["label"], [0, 0])
            entry[0] += 1
            entry[1] += bool(result.flipped)

    def rows(self) -> list:
        """[{label, records, flipped, share}] by label, then "all"."""
        items = sorted(self.counts.items()) + [("all", [sum(c[0] for c in self.counts.values()),
                                                         sum(c[1] for c in self.counts.values())])]
        return [{"label": label, "records": n, "flipped": k, "share": k / n if n else 0.0} for label, (n, k) in items]
