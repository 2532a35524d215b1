"""The result of explaining one text, and its stable JSON form.

JSON schema (one object; keys always present unless marked optional):
  text         the input text, unchanged
  model        model name or path
  method       method name;  params: the method's parameters;  signed: whether scores carry a sign
  objective    "logit" or "logprob": what F is
  target       {label, index, value, position (language models, taggers), contrast (optional): {label,
               index}}: the output explained and F(x) (with a contrast, logit(label) - logit(contrast))
  prediction   {label, probability, probabilities: {label: p}} (language models: the top 10; taggers:
               tags, one per token, and probabilities, per token {tag: p}; label is the tag
               predicted at target.position)
  tokens       [{text, start, end, score, unk}]: text == input[start:end]
  completeness optional, methods with the completeness axiom: {delta, reference, relative, steps
               (integrated gradients with steps "auto" only: the path points this text used)}
  vectors      optional (--vectors): per token, the gradient vector the score came from
  rows         optional (--position all, a tagger by default, --target all): [{position or index, target,
               value, scores}] one row per explained position or class
  top          optional (--top K): indices into tokens of the K strongest, strongest first (rows too)
  flip         optional (batch --flip): the best single swap, as `saliency flip --format json` gives it
"""

import json
from dataclasses import dataclass, field

from .attribution.integrated_gradients import AUTO_CAP
LARGE_GAP = 0.05  # a completeness gap above this fraction of |F(x) - F(x')| earns a warning


@dataclass
class Explanation:
    text: str
    model: str
    method: str
    params: dict
    signed: bool
    objective: str
    target: dict
    prediction: dict
    tokens: list  # saliency.tokenize.Token, with its score
    completeness: dict = None
    vectors: list = None
    rows: list = None
    extra: dict = field(default_factory=dict)  # passed-through record fields (batch)
    top_k: int = None  # asked for the k strongest tokens: JSON gets their indices as "top"
    flip: object = None  # batch --flip: the text's best single swap (hotflip.FlipResult), JSON "flip"

    def top(self, k: int, scores=None) -> list:
        """Indices of the k strongest tokens (by |score| for signed methods), strongest first;
        of `scores` (a row's) when given, else of the tokens' own scores."""
        scores = [t.score for t in self.tokens] if scores is None else scores
        key = (lambda i: abs(scores[i])) if self.signed else (lambda i: scores[i])
        return sorted(range(len(scores)), key=key, reverse=True)[:k]

    def completeness_warning(self) -> str:
        """A sentence when integrated gradients' completeness gap is large, else ''."""
        c = self.completeness
        if not c or c["relative"] <= LARGE_GAP:
            return ""
        advice = "raise --steps"
        if "steps" in c:  # --steps auto stopped: at its cap, or at a tolerance above the warning's
            advice = "lower --tolerance" if c["steps"] < AUTO_CAP else f"give --steps above {AUTO_CAP:,}"
        return f"completeness gap {c['delta']:+.3g} is {100 * c['relative']:.1f}% of F(x) - F(baseline); {advice}"

    def to_dict(self) -> dict:
        d = {
            "text": self.text, "model": self.model, "method": self.method, "params": self.params,
            "signed": self.signed, "objective": self.objective, "target": self.target,
            "prediction": self.prediction,
            "tokens": [{"text": t.text, "start": t.start, "end": t.end, "score": t.score, "unk": t.unk}
                       for t in self.tokens],
        }
        for key in ("completeness", "vectors", "rows"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.top_k is not None:
            d["top"] = self.top(self.top_k)
            if self.rows is not None:
                d["rows"] = [dict(row, top=self.top(self.top_k, row["scores"])) for row in self.rows]
        if self.flip is not None:
            d["flip"] = self.flip.to_dict()
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def __rich__(self):
        from .render import explanation_text

        return explanation_text(self, 3 if self.top_k is None else self.top_k)
