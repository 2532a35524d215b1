"""reduce: input reduction (Feng et al. 2018, "Pathologies of Neural Models Make Interpretations
Difficult"): repeatedly drop the least salient token while the prediction stays the same.

At each step the current text is explained (the prediction's own target, any attribution
method), the tokens are taken from the smallest score up, and the first whose removal keeps
the label, checked by a forward pass on the rebuilt text, is dropped. Only `candidates` tokens
are tried per step (1: Feng et al.'s procedure exactly, stop at the first that changes the
label). The label never changes and the text never becomes empty: the last token stays.
Signed methods: the smallest score is the token most against the prediction.
"""

import json
from dataclasses import dataclass, field

import numpy as np

from .editor import MAX_CANDIDATES, Editor, check_range


@dataclass
class ReduceStep:
    text: str  # the text after this step's removal
    removed: str  # the token removed
    start: int  # where it was, in the original text
    probability: float  # of the label, for `text`

    def to_dict(self) -> dict:
        return {"text": self.text, "removed": self.removed, "start": self.start, "probability": self.probability}


@dataclass
class ReduceResult:
    text: str
    reduced_text: str
    label: str
    before: dict  # prediction for text
    after: dict  # prediction for reduced_text (its label is `label`)
    steps: list
    tokens: list = field(default_factory=list)
    kept: list = field(default_factory=list)  # indices into tokens of those left
    reduced_tokens: list = field(default_factory=list)  # offsets into reduced_text
    method: str = "gradient"
    model: str = ""
    lm: bool = False

    def to_dict(self) -> dict:
        return {"text": self.text, "reduced_text": self.reduced_text, "label": self.label,
                "probability": self.after["probabilities"].get(self.label), "before": self.before,
                "after": self.after, "method": self.method, "steps": [s.to_dict() for s in self.steps]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __rich__(self):
        from ..render import reduce_text

        return reduce_text(self)


def reduce(explainer, text, method="gradient", candidates=5, **method_options) -> ReduceResult:
    """The shortest text, found by dropping least salient tokens, that the model still gives
    the same label (language models: the same next token after the text)."""
    check_range(candidates, 1, MAX_CANDIDATES, "--candidates")
    ed = Editor(explainer)
    tokens = explainer.tokenize(text)
    logits = ed.logits([[t.id for t in tokens]])[0]
    label = int(np.argmax(logits))
    before = ed.prediction(logits)
    cur_text, cur_tokens, origin, steps, after = text, tokens, list(range(len(tokens))), [], before
    while len(cur_tokens) > 1:
        (exp,) = explainer.explain([cur_text], method, target=label, **method_options)
        if isinstance(exp, Exception):
            raise exp
        scores = np.array([t.score for t in exp.tokens])
        tried = []  # (index, new text, new tokens), least salient first
        for i in np.argsort(scores, kind="stable")[:candidates]:
            built = ed.edit(cur_text, cur_tokens, {int(i): None})
            if built:
                tried.append((int(i),) + built)
        if not tried:
            break
        outs = ed.logits([[t.id for t in b[2]] for b in tried])
        keeps = np.flatnonzero(outs.argmax(-1) == label)
        if not len(keeps):
            break  # every candidate removal changes the label: this is as short as it gets
        i, cur_text, cur_tokens = tried[keeps[0]]
        after = ed.prediction(outs[keeps[0]])
        steps.append(ReduceStep(cur_text, tokens[origin[i]].text, tokens[origin[i]].start,
                                after["probabilities"][ed.names[label]]))
        del origin[i]
    after = ed.prediction(ed.logits([[t.id for t in cur_tokens]])[0])  # a fresh pass on the text shown
    return ReduceResult(text, cur_text, ed.names[label], before, after, steps, tokens, origin, cur_tokens,
                        method if isinstance(method, str) else method.name, explainer.name, ed.is_lm)
