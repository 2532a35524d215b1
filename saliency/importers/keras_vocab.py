"""Vocabularies of Keras text models, and the embedding rows they select.

Keras ids are whatever the owner's preprocessing gave: id 0 is padding, an out-of-vocabulary
id may exist (Tokenizer's oov_token, TextVectorization's "[UNK]" at 1), the rest are tokens.
The embedding matrix is re-indexed: row 0 is Keras' row 0 (<pad>), then the out-of-vocabulary
row as <unk> where there is one (without one, Keras' Tokenizer leaves unknown words out, and so
does the model file's tokenizer: drop_unknown), then one row per token, in Keras' id order.
Nothing else changes, so predictions are exactly Keras'. A one-hot model keeps Keras' ids as
they are (one_hot_tokens).
"""

import os
import stat

import numpy as np

from .. import safe_json
from ..errors import InputError, ModelError
from ..tokenize import PAD, UNK

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'  # keras Tokenizer's default filters
OOV_NAMES = ("[UNK]", "<unk>", "<UNK>", "<OOV>", "<oov>", "[OOV]")


MAX_VOCAB_BYTES = 64 * 2**20  # a million tokens of 60 bytes; read whole, then parsed (a few times the size)
MAX_TOKENS = 1_000_000


def vocab_text(path: str) -> str:
    """A vocabulary file's text, or one InputError line saying why it cannot be read: a regular
    file of at most MAX_VOCAB_BYTES (a FIFO would block, /dev/zero never ends)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
        with open(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"cannot read vocabulary {path}: not a regular file")
            if info.st_size > MAX_VOCAB_BYTES:
                raise InputError(f"vocabulary {path} is {info.st_size:,} bytes (at most {MAX_VOCAB_BYTES:,})")
            raw = f.read(MAX_VOCAB_BYTES + 1)
        if len(raw) > MAX_VOCAB_BYTES:  # it grew while we read it
            raise InputError(f"vocabulary {path} is over {MAX_VOCAB_BYTES:,} bytes")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or f"not UTF-8 (byte {getattr(e, 'start', '?')})"
        raise InputError(f"cannot read vocabulary {path}: {reason}") from None


def read_vocab(path: str):
    """({Keras id: token}, settings) from a vocabulary file, in any of the forms Keras users keep.

    - a JSON list indexed by id (TextVectorization.get_vocabulary(), saved with json.dump);
    - a JSON object token -> id (Tokenizer.word_index);
    - the JSON of Tokenizer.to_json(), whose settings (oov_token, lower, char_level, num_words) are used;
    - otherwise one token per line, line N (from 0) holding id N.
    """
    text = vocab_text(path)
    if text.count("\n") > MAX_TOKENS:
        raise InputError(f"vocabulary {path} has over {MAX_TOKENS:,} lines")
    try:
        data = safe_json.loads(text)
    except safe_json.JSONError as e:
        if not str(e).startswith("malformed"):  # JSON, but nested too deep or a number too long
            raise InputError(f"vocabulary {path}: {e}") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's final newline
        return {i: line.rstrip("\r") for i, line in enumerate(lines)}, {}
    settings = {}
    if isinstance(data, dict) and data.get("class_name") == "Tokenizer":
        data, settings = _tokenizer_json(data, path)
    if isinstance(data, (list, dict)) and len(data) > MAX_TOKENS:
        raise InputError(f"vocabulary {path} has {len(data):,} tokens (at most {MAX_TOKENS:,})")
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


def _tokenizer_json(data: dict, path: str):
    """(word index, settings) from Tokenizer.to_json(), every field's type checked."""
    cfg = data.get("config")
    if not isinstance(cfg, dict):
        raise InputError(f"vocabulary {path}: a Tokenizer whose 'config' is not an object")
    word_index = cfg.get("word_index", "{}")
    if isinstance(word_index, str):
        try:
            word_index = safe_json.loads(word_index)
        except safe_json.JSONError as e:
            raise InputError(f"vocabulary {path}: the Tokenizer's word_index is not usable JSON ({e})") from None
    checks = {"oov_token": (str,), "lower": (bool,), "char_level": (bool,), "num_words": (int,), "filters": (str,),
              "split": (str,)}
    for key, types in checks.items():
        value = cfg.get(key)
        if value is not None and (not isinstance(value, types) or (key == "num_words" and (
                isinstance(value, bool) or value < 0))):
            raise InputError(f"vocabulary {path}: the Tokenizer's {key} is {str(value)[:30]!r}, "
                             f"not {'a whole number' if key == 'num_words' else types[0].__name__}")
    settings = {"oov": cfg.get("oov_token"), "lowercase": cfg.get("lower"),
                "level": "char" if cfg.get("char_level") else "word", "num_words": cfg.get("num_words"),
                # text_to_word_sequence's own defaults where the JSON leaves them out
                "filters": cfg.get("filters", KERAS_FILTERS), "split": cfg.get("split") or " "}
    return word_index, settings


def embedding_rows(emb: np.ndarray, by_id: dict, oov: str = None, layer: str = "embedding", num_words=None):
    """(our vocabulary, our embedding matrix, a note or None) from Keras' matrix and id -> token."""
    limit = min(emb.shape[0], num_words or emb.shape[0])  # Tokenizer(num_words=N) treats ids >= N as unknown
    oov_id = next((i for i, t in by_id.items() if t == oov), None) if oov else None
    if oov_id is None:
        oov_id = next((i for i, t in sorted(by_id.items()) if t in OOV_NAMES), None)
    if oov_id is not None and oov_id >= emb.shape[0]:
        raise ModelError(f"layer {layer!r}: the out-of-vocabulary id {oov_id} is past its {emb.shape[0]} rows")
    # <unk> only where Keras has an out-of-vocabulary id; without one, its Tokenizer leaves unknown words out.
    tokens, ids, seen = ([PAD, UNK] if oov_id is not None else [PAD]), [], {PAD, UNK}
    for i, token in sorted(by_id.items()):
        if i == 0 or i == oov_id or i >= limit or not token or token in seen:
            continue
        seen.add(token)
        tokens.append(token)
        ids.append(i)
    if not ids:
        raise ModelError(f"layer {layer!r}: no token of the vocabulary has an id below {limit}")
    rows = np.concatenate([emb[:1]] + ([emb[oov_id][None]] if oov_id is not None else []) + [emb[ids]])
    note = None
    if oov_id is None:
        note = ("the vocabulary has no out-of-vocabulary entry: unknown tokens are left out of the text, as "
                "Keras' Tokenizer leaves them out")
    return tokens, rows, note


def one_hot_tokens(by_id: dict, V: int) -> list:
    """The characters (or tokens) of a one-hot model, by column: every id 0..V-1, in the author's order."""
    missing = [i for i in range(V) if not by_id.get(i)]
    if missing:
        raise ModelError(f"the model takes one-hot vectors of {V}; the vocabulary has no token for id "
                         f"{missing[0]}" + (f" (it has {len(by_id)} entries)" if len(by_id) != V else ""))
    tokens = [by_id[i] for i in range(V)]
    if len(set(tokens)) != V:
        raise ModelError("the vocabulary lists a token twice")
    return tokens
