"""Which view draws an explanation: a tagger's compact one (tagger.py), or the general one (text.py)."""

from .tagger import TaggerView
from .text import ExplanationView


def explanation_text(exp, top: int = 3):
    if "tags" in exp.prediction:  # a tagger: its own compact view
        return TaggerView(exp, top)
    return ExplanationView(exp, top)
