"""text -> tokens -> ids -> embeddings -> target -> attribution -> Explanation.

`Explainer` holds a model and an engine and explains lists of texts. Texts are grouped by
length into batches internally; results come back in input order, one per text. A text that
fails raises its SaliencyError; with errors="return" the error takes that text's place in the
list instead, so batch work can go on.
"""

from dataclasses import dataclass, replace

import numpy as np

from .attribution import DEFAULT_METHOD, Batch, make_method
from .arrays import to_numpy
from .batching import MAX_BATCH_POSITIONS, batches, padded
from .errors import InputError, RecordUsageError, SaliencyError, UsageError
from .explanation import Explanation, Explanations
from .objective import Objective, outputs_at, resolve_classes
from .tagging import given_tokens, tag_probabilities, tagger_prediction, tagger_targets
from .engines.base import Unsupported
from .engines.threads import cut_in_halves, side_by_side, side_by_side_possible

LM_TOP = 10
# Backpropagation through time keeps every step's activations, so a text's memory grows with its
# length (measured: 100,000 word tokens, 2.2 GB; a 1M-character line to the char GRU, past 4 GB
# and a crash). Longer texts are refused before anything is allocated for them.
MAX_TOKENS = 20_000


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@dataclass
class Row:
    """One batch row: a text's tokens and one (position, class) of it to explain; a text explained
    at every position, or for every class, is many rows."""

    index: int  # which text: its place in the list given to explain()
    tokens: list
    position: int  # a language model's or tagger's position; a classifier: 0
    cls: int  # the output explained there; -1: the model's own prediction


@dataclass
class RowResult:
    """What one row gives: its scores and the figures an Explanation is built from."""

    scores: np.ndarray  # (n,) one per token of the text
    value: float  # F(x), the objective explained
    probs: np.ndarray  # (C,) the output probabilities at the explained position
    cls: int  # the output explained (the prediction resolved)
    position: int
    vector: np.ndarray = None  # (n, E) the gradient the scores came from, where wanted and there is one
    delta: float = None  # the completeness gap and F(baseline), for methods that promise completeness
    reference: float = None
    steps: int = None  # integrated gradients, steps="auto": the path points this row used
    tags: np.ndarray = None  # a tagger: (n, C) the tag probabilities at every position of the text


def in_halves_if_alone(chunks):
    """A lone batch of several rows as two, of about equal tokens, so that both cores' workers
    take one each, single-threaded, where one thread pool would run it whole: faster (64 dev
    texts, gradient: torch 1.31-1.41x, numpy 1.84-1.91x; integrated gradients 1.6x and 2.3x), and
    its digits no longer follow the thread count that the machine's load picks (torch's backward
    matmuls, K = 4H, come out differently on 1 and 2 threads)."""
    if len(chunks) != 1 or len(chunks[0]) < 2 or not side_by_side_possible():
        return chunks
    rows = chunks[0]
    k = cut_in_halves([len(row.tokens) for row in rows])
    return [rows[:k], rows[k:]]


class Explainer:
    """A model ready to explain: an engine, the tokenizer that feeds it, and its output names."""

    max_tokens = MAX_TOKENS  # per text; set it on an instance to allow longer texts

    def __init__(self, engine, tokenizer, output_names, name="", batch_size=64):
        self.engine, self.tokenizer, self.output_names = engine, tokenizer, list(output_names)
        self.name, self.batch_size = name, batch_size
        # <pad> and <unk> only where the tokenizer names them (an author's vocabulary may have neither)
        self.pad_id = getattr(tokenizer, "pad_id", None)
        self.unk_id = getattr(tokenizer, "unk_id", None)

    @classmethod
    def from_model_file(cls, model_file, engine="auto", device="cpu", batch_size=64, dtype="float32"):
        from .engines.choose import load_engine

        return cls(load_engine(model_file, engine, device, dtype), model_file.tokenizer, model_file.output_names,
                   model_file.name, batch_size)

    @property
    def fill_id(self) -> int:
        """What pads a batch: <pad>, or id 0 where there is none (padding never reaches an output)."""
        return 0 if self.pad_id is None else self.pad_id

    @property
    def is_lm(self) -> bool:
        return self.engine.config.head == "lm"

    @property
    def is_tagger(self) -> bool:
        return self.engine.config.head == "tagger"

    @property
    def torch_module(self):
        """The torch.nn.Module that is explained (a model file's RNNModel, or your own module).
        The numpy engine has none: load with engine="torch" to get one."""
        try:
            return self.engine.torch_module()
        except Unsupported as e:
            raise UsageError(f"{e} (load_model(..., engine='torch'))") from None

    # -- targets ---------------------------------------------------------------------------
    def output_index(self, target) -> int:
        """A classifier label or an LM vocabulary entry, by name or index, as an output index."""
        names = self.output_names
        if target in names:
            return names.index(target)
        try:
            index = int(target)
        except (TypeError, ValueError):
            index = -1
        if 0 <= index < len(names):
            return index
        what = "token" if self.is_lm else "label"
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise UsageError(f"unknown target {what} {target!r} (the model has: {shown})")

    def check_options(self, objective, position, target, errors):
        Objective.of(objective)  # an unknown kind is refused first
        if position is not None and not (self.is_lm or self.is_tagger):
            raise UsageError("--position applies to language models and taggers only")
        if target == "all" and self.is_lm and "all" not in self.output_names:
            raise UsageError("--target all applies to classifiers (a language model: --position all)")
        if target == "all" and self.is_tagger and "all" not in self.output_names:
            raise UsageError("--target all applies to classifiers (a tagger explains every position by default)")
        if errors not in ("raise", "return"):
            raise UsageError(f"errors must be 'raise' or 'return', not {errors!r}")

    def objective_for(self, objective, contrast) -> Objective:
        """What the engines differentiate, built once: the objective (a kind's name or an Objective),
        against output `contrast` (a label, by name or index) if given."""
        objective = Objective.of(objective)
        return objective if contrast is None else replace(objective, against=self.output_index(contrast))

    def targets(self, ids, target, position):
        """[(position, class)] rows for one text; class -1 = the model's own prediction there."""
        n = len(ids)
        if target == "all" and not self.is_lm:  # one row per class
            return [(0, k) for k in range(len(self.output_names))]
        named = -1 if target is None else self.output_index(target)
        if self.is_tagger:
            return tagger_targets(n, named, position)
        if not self.is_lm:
            return [(0, named)]
        if position == "all":
            wanted = range(n)
        else:
            p = n - 1 if position is None else int(position)
            if not -n <= p < n:
                raise RecordUsageError(f"position {p} is outside the text ({n} tokens)")
            wanted = [p % n]
        # Default for a language model: the actual next token, or the prediction at the end.
        return [(p, named if named >= 0 else (ids[p + 1] if p + 1 < n else -1)) for p in wanted]

    # -- explaining ------------------------------------------------------------------------
    def explain(self, texts, method=None, target=None, position=None, objective="logit",
                vectors=False, top=None, contrast=None, errors="raise", progress=None, **method_options):
        """One Explanation per text, in order.

        target: a label (name or index), "all" (a classifier: one row per class), or None for the
        prediction. position: a language model's or tagger's position, or "all" (a tagger's default:
        one row per position, each explaining the tag predicted there unless target names one).
        objective: "logit", "logprob", or a saliency.objective.Objective (else built here, once,
        from these options). contrast: a label; explains F = logit(target) - logit(contrast).
        top: record the k strongest tokens' indices (JSON "top"). errors="return": a text that
        fails gives its SaliencyError in its place instead of raising. Any other keyword is a method
        parameter (steps, baseline, samples, noise, seed, reduce, occlude); unknown ones raise.
        `progress(done, total)`, if given, hears how far the network evaluations of the batch at
        work have got.
        """
        method = DEFAULT_METHOD if method is None else method
        method = make_method(method, **method_options) if isinstance(method, str) else method
        self.check_options(objective, position, target, errors)
        if self.is_tagger and position is None:  # a tagger: every position, unless one is asked for
            position = "all"
        objective = self.objective_for(objective, contrast)
        results = [None] * len(texts)
        tokenized, rows_of = {}, {}  # text index -> its tokens, its rows
        for i, text in enumerate(texts):
            try:
                tokens = self.tokenize(text)
                rows_of[i] = [Row(i, tokens, p, k) for p, k in self.targets([t.id for t in tokens], target, position)]
                tokenized[i] = tokens
            except SaliencyError as e:
                results[i] = e
        # Shortest texts first, ties in input order. Each (text, position, class) is one row;
        # all-positions mode gives a text many rows.
        rows = [row for i in sorted(tokenized, key=lambda i: len(tokenized[i])) for row in rows_of[i]]
        params = method.params()
        shown = position if target != "all" else "classes"

        def explained(i, outs):
            exp = self.build(texts[i], tokenized[i], outs, method, params, objective.kind, vectors, shown)
            self.describe(exp, contrast, top)
            return exp

        def attempt(chunk):
            """A batch's rows, and the Explanations of the texts it holds every row of, built on
            the worker that ran it: (text index, its outputs here, its Explanation or None)."""
            try:
                pairs = list(zip(chunk, self.run_rows(chunk, method, objective, progress, vectors)))
            except SaliencyError:
                pairs = self.rows_one_by_one(chunk, method, objective, results, vectors)
            here = {}
            for row, out in pairs:
                here.setdefault(row.index, []).append(out)
            return [(i, outs, explained(i, outs) if len(outs) == len(rows_of[i]) else None) for i, outs in here.items()]

        scope = self.engine.parallel_scope()
        if scope is None or progress is not None:  # progress counts one batch's evaluations at a time
            each_chunk = map(attempt, self.chunks(rows))
        else:
            each_chunk = side_by_side(attempt, in_halves_if_alone(list(self.chunks(rows))), scope)
        outputs = {}  # a text whose rows span batches: its outputs so far
        for texts_done in each_chunk:
            for i, outs, exp in texts_done:
                if exp is None:
                    outputs[i] = outs = outputs.get(i, []) + outs
                    exp = explained(i, outs) if len(outs) == len(rows_of[i]) else None
                if exp is not None and results[i] is None:
                    results[i] = exp
        if errors == "raise":
            for result in results:
                if isinstance(result, Exception):
                    raise result
        return Explanations(results)  # a list; a notebook shows it as one HTML view

    def describe(self, exp, contrast, top):
        """What build() leaves out: the contrast explained against, and the top-k request."""
        if contrast is not None:
            k = self.output_index(contrast)
            exp.target["contrast"] = {"label": self.output_names[k], "index": k}
        exp.top_k = top

    def chunks(self, rows):
        """Batches of rows sorted by length: at most batch_size rows and MAX_BATCH_POSITIONS
        (rows x longest length), so long texts come in smaller batches."""
        for batch in batches([len(row.tokens) for row in rows], self.batch_size, MAX_BATCH_POSITIONS):
            yield [rows[i] for i in batch]

    def rows_one_by_one(self, chunk, method, objective, results, vectors=True):
        """After a batch failed: each row alone, so one bad text fails alone (its error in results)."""
        pairs = []
        for row in chunk:
            try:
                pairs.append((row, self.run_rows([row], method, objective, vectors=vectors)[0]))
            except SaliencyError as e:
                results[row.index] = e
        return pairs

    def tokenize(self, text):
        if not isinstance(text, str) or not text.strip():
            raise InputError("empty text")
        tokens = given_tokens(self.tokenizer, text) or self.tokenizer.tokenize(text)
        if not tokens:
            raise InputError("text has no tokens")
        if len(tokens) > self.max_tokens:
            raise InputError(f"text has {len(tokens):,} tokens, over the limit of {self.max_tokens:,} "
                             "(split it, or raise Explainer.max_tokens in Python)")
        return tokens

    def run_rows(self, chunk, method, objective, progress=None, vectors=True):
        """Attribute one padded batch of rows: a RowResult per row.
        vectors: whether the gradient vectors are wanted (a method may skip work they alone need)."""
        # Padding is masked out, so any id fills it where the vocabulary has no <pad> (an author's own).
        ids, lengths = padded([[t.id for t in row.tokens] for row in chunk], self.fill_id)
        positions = np.array([row.position for row in chunk])
        classes = np.array([row.cls for row in chunk])
        x = self.engine.embed(self.engine.asarray(ids))  # the engine's own array, on its device
        logits = None
        if not method.evaluates_input:
            logits = to_numpy(self.engine.forward(x, lengths))
            classes = self.resolve(classes, logits, positions)
        attr = method.attribute(self.engine, Batch(ids, lengths, x, positions, classes, objective, self.pad_id,
                                                   self.unk_id, progress, vectors)).numpy()
        logits = attr.logits if logits is None else logits
        classes = self.resolve(classes, logits, positions)
        at = outputs_at(logits, positions)
        probs = softmax(at.astype(np.float64))
        tags = tag_probabilities(logits, lengths) if self.is_tagger else None
        out = []
        for b, n in enumerate(lengths.tolist()):
            out.append(RowResult(
                attr.scores[b, :n], float(attr.values[b]), probs[b], int(classes[b]), int(positions[b]),
                vector=None if attr.vectors is None else attr.vectors[b, :n],
                delta=None if attr.delta is None else float(attr.delta[b]),
                reference=None if attr.delta is None else float(attr.reference[b]),
                steps=None if attr.steps is None else int(attr.steps[b]),
                tags=None if tags is None else tags[b]))
        return out

    @staticmethod
    def resolve(classes, logits, positions):
        return resolve_classes(outputs_at(logits, positions), classes)

    def build(self, text, tokens, outs, method, params, objective, vectors, position):
        names = self.output_names
        # The last row is the one shown (all-positions mode: the final position).
        if position == "classes":  # --target all: the row shown is the predicted class's
            outs = sorted(outs, key=lambda o: o.cls == int(np.argmax(outs[0].probs)))
        shown = outs[-1]
        value, probs, cls, pos = shown.value, shown.probs, shown.cls, shown.position
        best = int(np.argmax(probs))
        order = np.argsort(-probs)[: LM_TOP] if self.is_lm else range(len(probs))
        prediction = {"label": names[best], "probability": float(probs[best]),
                      "probabilities": {names[k]: float(probs[k]) for k in order}}
        if shown.tags is not None:
            prediction = tagger_prediction(names, shown.tags, pos)
        target = {"label": names[cls], "index": cls, "value": value}
        if self.is_lm or self.is_tagger:
            target["position"] = pos
        exp = Explanation(
            text, self.name, method.name, dict(params), method.signed, objective, target,
            prediction, tokens)
        for token, score in zip(tokens, shown.scores.tolist()):  # this call's own tokens: scored in place
            token.score = score
        if shown.delta is not None:
            gap = value - shown.reference
            exp.completeness = {"delta": shown.delta, "reference": shown.reference,
                                "relative": abs(shown.delta) / max(abs(gap), 1e-12)}
            if shown.steps is not None:
                exp.completeness["steps"] = shown.steps
        if vectors and shown.vector is not None:
            exp.vectors = shown.vector.tolist()
        if position == "all":
            exp.rows = [{"position": o.position, "target": names[o.cls], "value": o.value, "scores": o.scores.tolist()}
                        for o in outs]
        elif position == "classes":
            exp.rows = [{"target": names[o.cls], "index": o.cls, "value": o.value, "scores": o.scores.tolist()}
                        for o in sorted(outs, key=lambda o: o.cls)]
        return exp
