"""What explaining a sequence tagger adds to the pipeline: its targets, its tokens, its prediction.

A tagger gives every token a label. By default every position is explained, the target at each
being the tag predicted there (`position` one index for one position, `target` a tag to ask about
at each). Pre-tokenized sentences (tagged.Words) keep their words as the tokens.
"""

import numpy as np

from .errors import RecordUsageError
from .records.tagged import Words
from .tokenize import UNK_ID, Token


def tagger_targets(n: int, named: int, position) -> list:
    """[(position, class)] rows for a text of n tokens; class -1 = the tag predicted there."""
    if position is None or position == "all":
        return [(p, named) for p in range(n)]
    p = int(position)
    if not -n <= p < n:
        raise RecordUsageError(f"position {p} is outside the text ({n} tokens)")
    return [(p % n, named)]


def given_tokens(tokenizer, text):
    """The words of a pre-tokenized sentence as Tokens (offsets into the words joined by spaces),
    or None where the text is plain or the model reads characters (it tokenizes the text itself)."""
    index = getattr(tokenizer, "index", None)
    if not isinstance(text, Words) or getattr(tokenizer, "level", None) != "word" or not isinstance(index, dict):
        return None
    lower = getattr(tokenizer, "lowercase", False)
    tokens = []
    for (start, end), word in zip(text.spans(), text.words):
        token_id = index.get(word.lower() if lower else word, UNK_ID)
        tokens.append(Token(word, start, end, token_id, token_id == UNK_ID))
    return tokens


def tag_probabilities(logits, lengths) -> list:
    """Per row, the softmax over tags at each of its positions: (length, C) float64 arrays."""
    out = []
    for b, n in enumerate(lengths):
        at = np.asarray(logits[b, :n], np.float64)
        e = np.exp(at - at.max(-1, keepdims=True))
        out.append(e / e.sum(-1, keepdims=True))
    return out


def tagger_prediction(names, probs, position) -> dict:
    """JSON `prediction` of a tagger: `tags` (one per token), `probabilities` (per token, every
    tag), and `label`/`probability` of the tag predicted at the explained position."""
    best = probs.argmax(-1)
    return {"label": names[best[position]], "probability": float(probs[position, best[position]]),
            "tags": [names[k] for k in best],
            "probabilities": [{names[k]: float(p[k]) for k in range(len(names))} for p in probs]}
