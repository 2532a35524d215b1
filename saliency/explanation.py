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
               value, scores}] one row per explained position or class; several methods (--method a,b):
               [{method, signed, params, value, scores, completeness (optional)}] one row per method
  top          optional (--top K): indices into tokens of the K strongest, strongest first (rows too)
  flip         optional (batch --flip): the best single swap, as `saliency flip --format json` gives it
  gold         optional (batch with gold labels): the record's gold label;  correct: prediction == gold
"""

import json
from dataclasses import dataclass, field

from . import notebook
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
    gold: str = None  # batch --label-field: the record's gold label (a label name), JSON "gold" and "correct"

    @property
    def correct(self):
        """Whether the prediction is the gold label; None without one."""
        return None if self.gold is None else self.prediction["label"] == self.gold

    def top(self, k: int, scores=None, signed=None, upto: int = None) -> list:
        """Indices of the k strongest tokens (by |score| for signed methods), strongest first;
        of `scores` (a row's) when given, else of the tokens' own scores; `signed`: the row's;
        with `upto` (a language model's explained position) only tokens up to it, as no later
        token reaches it."""
        scores = [t.score for t in self.tokens] if scores is None else scores
        signed = self.signed if signed is None else signed
        key = (lambda i: abs(scores[i])) if signed else (lambda i: scores[i])
        candidates = range(len(scores) if upto is None else min(len(scores), upto + 1))
        return sorted(candidates, key=key, reverse=True)[:k]

    def completeness_warning(self) -> str:
        """A sentence when integrated gradients' completeness gap is large, else ''; with several
        methods side by side, one for each method whose gap is."""
        if self.rows and "method" in self.rows[0]:
            return "; ".join(f"{r['method']}: {gap_warning(r['method'], r['completeness'])}" for r in self.rows
                             if gap_warning(r["method"], r.get("completeness")))
        return gap_warning(self.method, self.completeness)

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
                d["rows"] = [dict(row, top=self.top(self.top_k, row["scores"], row.get("signed"), row.get("position")))
                             for row in self.rows]
        if self.flip is not None:
            d["flip"] = self.flip.to_dict()
        if self.gold is not None:
            d["gold"], d["correct"] = self.gold, self.correct
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    def _shown_top(self, top):
        return top if top is not None else 3 if self.top_k is None else self.top_k

    def _repr_html_(self) -> str:
        """A notebook cell's view: the text coloured by score (hover a token for its score)."""
        return notebook.explanation_html(self, self._shown_top(None))

    def to_html(self, top: int = None, title: str = "saliency") -> str:
        """A self-contained HTML page (no script, nothing fetched; light or dark as the browser prefers)."""
        return notebook.explanation_page(self, self._shown_top(top), title)

    def to_svg(self, top: int = None, theme: str = "dark", title: str = "saliency") -> str:
        """A self-contained SVG image of the terminal view, on a dark or light background."""
        return notebook.explanation_svg(self, self._shown_top(top), theme, title)


class Explanations(list):
    """A list of results (Explanation, an error in a failed text's place, or batch's RecordResult)
    that a notebook shows as one HTML view."""

    def _repr_html_(self) -> str:
        return notebook.results_html(self)

    def to_html(self, title: str = "saliency") -> str:
        return notebook.results_page(self, title)


def gap_warning(method: str, c: dict) -> str:
    """A sentence when a completeness gap is large, else ''. lrp's gap is the biases' share, by design."""
    if not c or c["relative"] <= LARGE_GAP or method == "lrp":
        return ""
    advice = "raise --steps"
    if "steps" in c:  # --steps auto stopped: at its cap, or at a tolerance above the warning's
        advice = "lower --tolerance" if c["steps"] < AUTO_CAP else f"give --steps above {AUTO_CAP:,}"
    return f"completeness gap {c['delta']:+.3g} is {100 * c['relative']:.1f}% of F(x) - F(baseline); {advice}"
