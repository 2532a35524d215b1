"""What flip, reduce and prototype share: a model seen as a function of token ids, the first-order
ranking of swaps from dx_t, and rebuilding the user's text after swaps or deletions.

To first order, putting vocabulary entry v at position t changes an output F by
dx_t . (e_v - e_{x_t}) (HotFlip, Ebrahimi et al. 2018), where dx_t = dF/dx_t and e_v is v's
embedding row (a one-hot model's "embedding" is the identity). One backward pass and one
(T x E) @ (E x V) product rank every replacement at every position; the best few are then
verified with real forward passes, on the ids of the rebuilt text re-tokenized, so a verified
figure is always what the model says about the text printed.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..pipeline import LM_TOP, softmax

CHUNK_ELEMENTS = 1 << 22  # positions x vocabulary estimates held at once (32 MB in float64)
CHUNK_POSITIONS = 16384  # rows x timesteps per verifying forward pass
MAX_CANDIDATES = 1000


def check_range(value, low, high, option):
    if not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise UsageError(f"{option} must be an integer from {low} to {high}, not {value!r}")


@dataclass
class Candidate:
    estimate: float  # first-order change of F
    position: int
    new_id: int


def match_case(original: str, piece: str) -> str:
    """A lowercasing tokenizer's replacement, cased like the token it replaces ("Great" -> "Awful")."""
    if len(original) > 1 and original.isupper():
        return piece.upper()
    if original[:1].isupper():
        return piece[:1].upper() + piece[1:]
    return piece


def rebuild(text, tokens, edits, spaced=False) -> str:
    """`text` with token i's span replaced by edits[i] (None: the token is deleted).

    Everything between tokens is kept as the user typed it; after a deletion the gap before
    the deleted run is kept, so the neighbours stay apart. `spaced` puts a space between an
    edited token and a neighbour it touches, for word tokenizers that would otherwise merge them.
    """
    parts = [text[: tokens[0].start]]
    prev_end, carried, emitted, prev_edited = tokens[0].start, None, False, False
    for i, tok in enumerate(tokens):
        gap, prev_end = text[prev_end: tok.start], tok.end
        piece = edits.get(i, tok.text)
        if piece is None:
            carried = gap if carried is None else carried
            continue
        if carried is not None:
            gap, carried = carried or gap, None
        edited = i in edits
        if not emitted:
            gap = ""
        elif spaced and not gap and (edited or prev_edited):
            gap = " "
        parts += [gap, piece]
        emitted, prev_edited = True, edited
    parts.append(text[tokens[-1].end:])
    return "".join(parts)


class Editor:
    """An Explainer's model as a function of token ids, for one output position (a language
    model's last position: the next token after the text)."""

    def __init__(self, explainer):
        if getattr(explainer, "is_tagger", False):  # one output per word: no single output to flip or keep
            raise UsageError("flip, reduce and prototype are for classifiers and language models, not taggers")
        self.explainer, self.engine, self.tokenizer = explainer, explainer.engine, explainer.tokenizer
        self.names, self.is_lm = explainer.output_names, explainer.is_lm
        self.vocab = getattr(self.tokenizer, "vocab", None)
        if self.vocab is None:
            raise UsageError("swapping tokens needs a tokenizer with a vocabulary (a list of token strings)")
        self.banned = np.zeros(len(self.vocab), dtype=bool)
        self.banned[[i for i in (explainer.pad_id, explainer.unk_id) if i is not None]] = True  # never proposed
        self.word_level = getattr(self.tokenizer, "level", "word") == "word"
        self.lowercase = getattr(self.tokenizer, "lowercase", False)
        self._table = None

    @property
    def table(self) -> np.ndarray:
        """(V, E) every vocabulary entry's input vector: embedding rows, or the identity (one-hot)."""
        if self._table is None:
            V = len(self.vocab)
            self._table = np.asarray(self.engine.embed(np.arange(V)[None, :])[0], dtype=np.float64)
        return self._table

    # -- the model on ids --------------------------------------------------------------------
    def logits(self, id_rows) -> np.ndarray:
        """(B, C) float64 outputs for each id sequence (language models: at its last position)."""
        lengths = np.array([len(r) for r in id_rows])
        out = []
        rows = max(1, CHUNK_POSITIONS // max(1, int(lengths.max())))
        for i in range(0, len(id_rows), rows):
            chunk, lens = id_rows[i: i + rows], lengths[i: i + rows]
            ids = np.full((len(chunk), lens.max()), self.explainer.fill_id, dtype=np.int64)
            for b, r in enumerate(chunk):
                ids[b, : len(r)] = r
            logits = self.engine.forward(self.engine.embed(ids), lens)
            if logits.ndim == 3:
                logits = logits[np.arange(len(chunk)), lens - 1]
            out.append(np.asarray(logits, dtype=np.float64))
        return np.concatenate(out)

    def gradient(self, ids, plus, minus=None) -> np.ndarray:
        """(T, E) d(z_plus - z_minus)/dx_t (minus None: d z_plus/dx_t), in one batched backward."""
        classes = [plus] if minus is None else [plus, minus]
        x = self.engine.embed(np.asarray(ids)[None, :])
        x = np.repeat(x, len(classes), axis=0)
        n = len(ids)
        positions = np.full(len(classes), n - 1 if self.is_lm else 0)
        _, _, dx = self.engine.gradient(x, np.full(len(classes), n), positions, np.array(classes), "logit")
        dx = np.asarray(dx, dtype=np.float64)
        return dx[0] if minus is None else dx[0] - dx[1]

    def prediction(self, logits) -> dict:
        probs = softmax(logits)
        best = int(np.argmax(probs))
        order = np.argsort(-probs)[:LM_TOP] if self.is_lm else range(len(probs))
        return {"label": self.names[best], "probability": float(probs[best]),
                "probabilities": {self.names[k]: float(probs[k]) for k in order}}

    # -- first-order ranking -----------------------------------------------------------------
    def gains(self, ids, grad, sign, allowed):
        """(positions, sign * first-order change (c, V)) for chunks of the allowed positions, at
        most CHUNK_ELEMENTS estimates at once, whatever the vocabulary or text length; pad, unk
        and each token itself get -inf."""
        ids = np.asarray(ids)
        # A one-hot model's table is the identity: grad_t . e_v is grad_t[v], no (V, V) matrix needed.
        one_hot = getattr(self.engine.config, "embedding_dim", None) == 0
        table = None if one_hot else self.table
        current = grad[np.arange(len(ids)), ids] if one_hot else np.einsum("te,te->t", grad, table[ids])
        positions = np.flatnonzero(allowed)
        step = max(1, CHUNK_ELEMENTS // len(self.vocab))
        for i in range(0, len(positions), step):
            chunk = positions[i: i + step]
            gain = sign * ((grad[chunk] if one_hot else grad[chunk] @ table.T) - current[chunk, None])  # (c, V)
            gain[:, self.banned] = -np.inf
            gain[np.arange(len(chunk)), ids[chunk]] = -np.inf  # a token for itself is no swap
            yield chunk, gain

    def rank(self, ids, grad, sign, allowed, k) -> list:
        """The k swaps whose first-order change sign * grad_t . (e_v - e_{x_t}) is largest, best first."""
        V = len(self.vocab)
        gains, where = np.empty(0), np.empty(0, dtype=np.int64)
        for chunk, gain in self.gains(ids, grad, sign, allowed):
            flat = gain.ravel()
            top = np.argpartition(-flat, k - 1)[:k] if flat.size > k else np.arange(flat.size)
            gains = np.concatenate([gains, flat[top]])
            where = np.concatenate([where, chunk[top // V] * V + top % V])
            if len(gains) > k:
                keep = np.argpartition(-gains, k - 1)[:k]
                gains, where = gains[keep], where[keep]
        return self._candidates(gains, where, sign)

    def best_per_position(self, ids, grad, sign, allowed) -> list:
        """At each allowed position, the swap with the largest first-order change; best first."""
        V = len(self.vocab)
        gains, where = [], []
        for chunk, gain in self.gains(ids, grad, sign, allowed):
            best = gain.argmax(-1)
            gains.append(gain[np.arange(len(chunk)), best])
            where.append(chunk * V + best)
        return self._candidates(np.concatenate(gains), np.concatenate(where), sign) if gains else []

    def shortlist(self, ids, grad, sign, allowed, k) -> list:
        """What to verify, best estimate first: the k best swaps overall, plus the best swap at each
        of the k positions whose best is largest (the overall best often crowd into one position).
        At most 2k candidates."""
        ranked = self.rank(ids, grad, sign, allowed, k)
        seen = {(c.position, c.new_id) for c in ranked}
        extra = [c for c in self.best_per_position(ids, grad, sign, allowed)[:k] if (c.position, c.new_id) not in seen]
        return sorted(ranked + extra, key=lambda c: (-sign * c.estimate, c.position, c.new_id))

    def _candidates(self, gains, where, sign):
        V = len(self.vocab)
        order = np.lexsort((where, -gains))  # best first; ties by position, then id: deterministic
        return [Candidate(float(sign * gains[j]), int(where[j] // V), int(where[j] % V))
                for j in order if np.isfinite(gains[j])]

    # -- texts -------------------------------------------------------------------------------
    def piece(self, token, new_id) -> str:
        piece = self.vocab[new_id]
        return match_case(token.text, piece) if self.lowercase else piece

    def edit(self, text, tokens, edits):
        """(new text, its tokens) with edits {index: new id or None (delete)}, or None when no
        rebuilt text re-tokenizes to exactly the intended ids."""
        want = [edits.get(i, t.id) for i, t in enumerate(tokens)]
        want = [w for w in want if w is not None]
        pieces = {i: None if v is None else self.piece(tokens[i], v) for i, v in edits.items()}
        for spaced in ((False, True) if self.word_level else (False,)):
            new_text = rebuild(text, tokens, pieces, spaced)
            new_tokens = self.tokenizer.tokenize(new_text) if new_text.strip() else []
            if [t.id for t in new_tokens] == want:
                return new_text, new_tokens
        return None

    def unk_text(self, length) -> str:
        """A text of `length` tokens that are all <unk>: a character no vocabulary entry holds."""
        if self.explainer.unk_id is None:
            raise UsageError("this model has no <unk> token to start from (its source had none): "
                             "give a starting text (--from)")
        for code in [0xFFFD] + list(range(0xE000, 0xE100)):
            ch = chr(code)
            text = (" " if self.word_level else "").join([ch] * length)
            if [t.id for t in self.tokenizer.tokenize(text)] == [self.explainer.unk_id] * length:
                return text
        raise UsageError("could not build a text of unknown tokens for this tokenizer")


def margin(logits, label) -> np.ndarray:
    """(B,) logit of `label` minus the largest other logit: positive when `label` is predicted."""
    others = np.delete(logits, label, axis=-1)
    return logits[..., label] - others.max(-1)


def runner_up(logits, label) -> int:
    masked = np.array(logits, dtype=np.float64)
    masked[label] = -np.inf
    return int(np.argmax(masked))
