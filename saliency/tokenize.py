"""Tokenizers that keep each token's character offsets into the user's own text.

Tokens are found on the original string and only then lowercased for the vocabulary
lookup, so `text[start:end]` is always exactly what the user typed.
"""

import re
from dataclasses import dataclass

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

# Penn-Treebank-like words, to match SST-2's tokenization: "isn't" -> "is" "n't",
# "film's" -> "film" "'s", hyphenated words stay whole, each other symbol alone.
WORD_PATTERN = re.compile(
    r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\w+(?:-\w+)*|\.\.\.|--|``|''|\S"
)


@dataclass(slots=True)  # slots, not frozen: cheap to build, and a batch builds one per token
class Token:
    text: str  # exactly text[start:end] of the input
    start: int
    end: int
    id: int
    unk: bool
    score: float = 0.0  # filled in by an explanation


class Tokenizer:
    """Trained models' vocabularies start with <pad>, <unk>. An imported model keeps its author's
    numbering (id k is the author's k), so it has <pad> and <unk> only where its source has them:
    `pad_id` / `unk_id` are None otherwise, and a token outside such a vocabulary is an error."""

    def __init__(self, level: str, vocab: list, lowercase: bool = True, keras_split: dict = None,
                 drop_unknown: bool = False):
        if level not in ("char", "word"):
            raise ValueError(f"unknown tokenizer level {level!r}")
        # A Keras Tokenizer's word splitting ({filters, split}, from its to_json()): words are what
        # text_to_word_sequence gives, each found at its offsets in the user's text.
        self.keras_split = keras_split
        self.separators = None if keras_split is None or level != "word" else re.compile(
            "|".join([re.escape(keras_split["split"])] + ([f"[{re.escape(keras_split['filters'])}]"]
                                                           if keras_split["filters"] else [])))
        if not vocab:
            raise ValueError("vocabulary is empty")
        self.level, self.vocab, self.lowercase = level, list(vocab), lowercase
        self.index = {token: i for i, token in enumerate(self.vocab)}
        if len(self.index) != len(self.vocab):
            raise ValueError("vocabulary has duplicate entries")
        self.pad_id, self.unk_id = self.index.get(PAD), self.index.get(UNK)
        # An unknown token is left out of the text (Keras' Tokenizer without an oov_token), not refused.
        self.drop_unknown = drop_unknown

    def spans(self, text: str):
        """(start, end) of every token in text."""
        if self.level == "char":
            return [(i, i + 1) for i in range(len(text))]
        if self.separators is not None:  # Keras: every filter character becomes `split`, then split on it
            return keras_spans(text.lower() if self.lowercase else text, self.separators)
        return [m.span() for m in WORD_PATTERN.finditer(text)]

    def normalize(self, piece: str) -> str:
        return piece.lower() if self.lowercase else piece

    def tokenize(self, text: str) -> list:
        index, lower, unk_id = self.index, self.lowercase, self.unk_id
        tokens = []
        for start, end in self.spans(text):
            piece = text[start:end]
            token_id = index.get(piece.lower() if lower else piece, unk_id)
            if token_id is None:
                if self.drop_unknown:
                    continue
                raise_unknown(piece, start, self)
            tokens.append(Token(piece, start, end, token_id, token_id == unk_id))
        return tokens

    def encode(self, text: str) -> list:
        return [t.id for t in self.tokenize(text)]

    def to_dict(self) -> dict:
        d = {"level": self.level, "lowercase": self.lowercase, "vocab": self.vocab}
        if self.keras_split is not None:
            d["keras_split"] = dict(self.keras_split)
        if self.drop_unknown:
            d["drop_unknown"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        return cls(d["level"], d["vocab"], d.get("lowercase", True), d.get("keras_split"), d.get("drop_unknown", False))

    @property
    def reserved(self) -> bool:
        """Whether ids 0 and 1 are <pad> and <unk> (trained models), not the author's own tokens."""
        return self.pad_id == PAD_ID and self.unk_id == UNK_ID

    @classmethod
    def build(cls, texts, level: str, lowercase: bool = True, max_vocab: int = 0, min_count: int = 1):
        """Vocabulary from training texts: most frequent first, ties alphabetical (deterministic)."""
        counts = {}
        probe = cls(level, [PAD, UNK], lowercase)
        for text in texts:
            for start, end in probe.spans(text):
                piece = probe.normalize(text[start:end])
                counts[piece] = counts.get(piece, 0) + 1
        ranked = sorted((c for c in counts.items() if c[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        if max_vocab:
            ranked = ranked[: max(0, max_vocab - 2)]
        return cls(level, [PAD, UNK] + [piece for piece, _ in ranked if piece not in (PAD, UNK)], lowercase)


def raise_unknown(piece: str, start: int, tokenizer: Tokenizer):
    """A token outside a vocabulary that has no <unk> (an imported model whose source had none)."""
    from .errors import InputError

    case = "" if tokenizer.lowercase else " (case is kept)"
    raise InputError(f"{piece!r} at offset {start} is not in the model's vocabulary{case}, "
                     "which has no unknown token")


def keras_spans(text: str, separators) -> list:
    """(start, end) of the words Keras' text_to_word_sequence keeps: the non-empty pieces between
    separators (the split string, or any filter character). Lowercasing happened before, as in
    Keras; where it changes a string's length, offsets follow the lowercased text."""
    spans, start = [], 0
    for m in separators.finditer(text):
        if m.start() > start:
            spans.append((start, m.start()))
        start = max(start, m.end())
    if start < len(text):
        spans.append((start, len(text)))
    return spans
