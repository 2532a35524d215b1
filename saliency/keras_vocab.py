"""Vocabularies of Keras text models, and the embedding rows they select.

Keras ids are whatever the owner's preprocessing gave: id 0 is padding, an out-of-vocabulary
id may exist (Tokenizer's oov_token, TextVectorization's "[UNK]" at 1), the rest are tokens.
This tool's vocabulary always starts <pad>, <unk>, so the embedding matrix is re-indexed:
row 0 is Keras' row 0, row 1 the out-of-vocabulary row (zeros when there is none), then one
row per token, in Keras' id order. Nothing else changes, so predictions are exactly Keras'.
"""

import json

import numpy as np

from .errors import InputError, ModelError
from .tokenize import PAD, UNK

OOV_NAMES = ("[UNK]", "<unk>", "<UNK>", "<OOV>", "<oov>", "[OOV]")


def vocab_text(path: str) -> str:
    """A vocabulary file's text, or one InputError line saying why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read vocabulary {path}: {getattr(e, 'strerror', None) or e}") from None


def read_vocab(path: str):
    """({Keras id: token}, settings) from a vocabulary file, in any of the forms Keras users keep.

    - a JSON list indexed by id (TextVectorization.get_vocabulary(), saved with json.dump);
    - a JSON object token -> id (Tokenizer.word_index);
    - the JSON of Tokenizer.to_json(), whose settings (oov_token, lower, char_level, num_words) are used;
    - otherwise one token per line, line N (from 0) holding id N.
    """
    text = vocab_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's final newline
        return {i: line.rstrip("\r") for i, line in enumerate(lines)}, {}
    settings = {}
    if isinstance(data, dict) and data.get("class_name") == "Tokenizer":
        cfg = data.get("config", {})
        word_index = cfg.get("word_index", "{}")
        data = json.loads(word_index) if isinstance(word_index, str) else word_index
        settings = {"oov": cfg.get("oov_token"), "lowercase": cfg.get("lower"),
                    "level": "char" if cfg.get("char_level") else "word", "num_words": cfg.get("num_words")}
    if isinstance(data, list) and all(isinstance(t, str) for t in data):
        return dict(enumerate(data)), settings
    if isinstance(data, dict) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                      for i in data.values()):
        by_id = {i: token for token, i in data.items()}
        if len(by_id) != len(data):
            raise InputError(f"vocabulary {path}: two tokens share an id")
        return by_id, settings
    raise InputError(f"vocabulary {path}: expected a JSON list of tokens, a JSON token-to-id object, "
                     "Tokenizer.to_json(), or one token per line")


def embedding_rows(emb: np.ndarray, by_id: dict, oov: str = None, layer: str = "embedding", num_words=None):
    """(our vocabulary, our embedding matrix, a note or None) from Keras' matrix and id -> token."""
    limit = min(emb.shape[0], num_words or emb.shape[0])  # Tokenizer(num_words=N) treats ids >= N as unknown
    oov_id = next((i for i, t in by_id.items() if t == oov), None) if oov else None
    if oov_id is None:
        oov_id = next((i for i, t in sorted(by_id.items()) if t in OOV_NAMES), None)
    if oov_id is not None and oov_id >= emb.shape[0]:
        raise ModelError(f"layer {layer!r}: the out-of-vocabulary id {oov_id} is past its {emb.shape[0]} rows")
    tokens, ids, seen = [PAD, UNK], [], {PAD, UNK}
    for i, token in sorted(by_id.items()):
        if i == 0 or i == oov_id or i >= limit or not token or token in seen:
            continue
        seen.add(token)
        tokens.append(token)
        ids.append(i)
    if not ids:
        raise ModelError(f"layer {layer!r}: no token of the vocabulary has an id below {limit}")
    unk_row = emb[oov_id] if oov_id is not None else np.zeros(emb.shape[1], emb.dtype)
    rows = np.concatenate([emb[:1], unk_row[None], emb[ids]])
    note = None
    if oov_id is None:
        note = ("the vocabulary has no out-of-vocabulary entry: unknown tokens get a zero vector "
                "(Keras' Tokenizer would drop them)")
    return tokens, rows, note
