"""text -> tokens -> ids -> embeddings -> target -> attribution -> Explanation.

`Explainer` holds a model and an engine and explains lists of texts. Texts are grouped by
length into batches internally; results come back in input order, one per text. A text that
fails raises its SaliencyError; with errors="return" the error takes that text's place in the
list instead, so batch work can go on.
"""

import numpy as np

from .attribution import DEFAULT_METHOD, Batch, make_method
from .attribution.arrays import native, to_numpy
from .errors import InputError, RecordUsageError, SaliencyError, UsageError
from .explanation import Explanation, Explanations
from .tagging import given_tokens, tag_probabilities, tagger_prediction, tagger_targets
from .engines.threads import side_by_side

OBJECTIVES = ("logit", "logprob")
LM_TOP = 10
MAX_BATCH_POSITIONS = 8192  # so 64 very long texts never share one batch
# Backpropagation through time keeps every step's activations, so a text's memory grows with its
# length (measured: 100,000 word tokens, 2.2 GB; a 1M-character line to the char GRU, past 4 GB
# and a crash). Longer texts are refused before anything is allocated for them.
MAX_TOKENS = 20_000


def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


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
        module = getattr(self.engine, "model", None) or getattr(self.engine, "module", None)
        if module is None:
            raise UsageError(f"the {self.engine.name} engine has no torch module (load_model(..., engine='torch'))")
        return module

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
        if objective not in OBJECTIVES:
            raise UsageError(f"unknown objective {objective!r} (choose logit or logprob)")
        if position is not None and not (self.is_lm or self.is_tagger):
            raise UsageError("--position applies to language models and taggers only")
        if target == "all" and self.is_lm and "all" not in self.output_names:
            raise UsageError("--target all applies to classifiers (a language model: --position all)")
        if target == "all" and self.is_tagger and "all" not in self.output_names:
            raise UsageError("--target all applies to classifiers (a tagger explains every position by default)")
        if errors not in ("raise", "return"):
            raise UsageError(f"errors must be 'raise' or 'return', not {errors!r}")

    def objective_code(self, objective, contrast):
        """What the engines differentiate: the objective, or "vs:K" for a contrast with output K."""
        return objective if contrast is None else f"vs:{self.output_index(contrast)}"

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
        contrast: a label; explains F = logit(target) - logit(contrast). top: record the k
        strongest tokens' indices (JSON "top"). errors="return": a text that fails gives
        its SaliencyError in its place instead of raising. Any other keyword is a method
        parameter (steps, baseline, samples, noise, seed, reduce, occlude); unknown ones raise.
        `progress(done, total)`, if given, hears how far the network evaluations of the batch at
        work have got.
        """
        method = DEFAULT_METHOD if method is None else method
        method = make_method(method, **method_options) if isinstance(method, str) else method
        self.check_options(objective, position, target, errors)
        if self.is_tagger and position is None:  # a tagger: every position, unless one is asked for
            position = "all"
        code = self.objective_code(objective, contrast)
        results = [None] * len(texts)
        jobs = []  # (text index, tokens, [(position, class)])
        for i, text in enumerate(texts):
            try:
                tokens = self.tokenize(text)
                jobs.append((i, tokens, self.targets([t.id for t in tokens], target, position)))
            except SaliencyError as e:
                results[i] = e
        jobs.sort(key=lambda job: len(job[1]))
        # Each (text, position) pair is one row; all-positions mode gives a text many rows.
        rows = [(job, r) for job in jobs for r in job[2]]
        def attempt(chunk):
            try:
                return list(zip(chunk, self.run_rows(chunk, method, code, progress, vectors)))
            except SaliencyError:
                return self.rows_one_by_one(chunk, method, code, results, vectors)

        outputs = {}
        scope = getattr(self.engine, "parallel_scope", lambda: None)()
        if scope is None or progress is not None:  # progress counts one batch's evaluations at a time
            each_chunk = map(attempt, self.chunks(rows))
        else:
            each_chunk = side_by_side(attempt, self.chunks(rows), scope)
        for pairs in each_chunk:
            for (job, _), out in pairs:
                outputs.setdefault(job[0], []).append(out)
        params = method.params()
        for i, tokens, _ in jobs:
            if results[i] is None:
                results[i] = self.build(texts[i], tokens, outputs[i], method, params, objective, vectors,
                                        position if target != "all" else "classes")
                self.describe(results[i], contrast, top)
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
        chunk = []
        for row in rows:
            length = len(row[0][1])
            if chunk and (len(chunk) == self.batch_size or (len(chunk) + 1) * length > MAX_BATCH_POSITIONS):
                yield chunk
                chunk = []
            chunk.append(row)
        if chunk:
            yield chunk

    def rows_one_by_one(self, chunk, method, objective, results, vectors=True):
        """After a batch failed: each row alone, so one bad text fails alone (its error in results)."""
        pairs = []
        for row in chunk:
            try:
                pairs.append((row, self.run_rows([row], method, objective, vectors=vectors)[0]))
            except SaliencyError as e:
                results[row[0][0]] = e
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
        """Attribute one padded batch of rows; per row (scores, value, probabilities, class, extras).
        vectors: whether the gradient vectors are wanted (a method may skip work they alone need)."""
        lengths = np.array([len(job[1]) for job, _ in chunk])
        # Padding is masked out, so any id fills it where the vocabulary has no <pad> (an author's own).
        ids = np.full((len(chunk), lengths.max()), self.fill_id, dtype=np.int64)
        for b, (job, _) in enumerate(chunk):
            ids[b, : lengths[b]] = [t.id for t in job[1]]
        positions = np.array([r[0] for _, r in chunk])
        classes = np.array([r[1] for _, r in chunk])
        x = self.engine.embed(native(self.engine, ids))  # the engine's own array, on its device
        logits = None
        if not method.evaluates_input:
            logits = to_numpy(self.engine.forward(x, lengths))
            classes = self.resolve(classes, logits, positions)
        attr = method.attribute(self.engine, Batch(ids, lengths, x, positions, classes, objective, self.pad_id,
                                                   self.unk_id, progress, vectors)).numpy()
        logits = attr.logits if logits is None else logits
        classes = self.resolve(classes, logits, positions)
        at = logits[np.arange(len(chunk)), positions] if logits.ndim == 3 else logits
        probs = softmax(at.astype(np.float64))
        tags = tag_probabilities(logits, lengths) if self.is_tagger else None
        out = []
        for b in range(len(chunk)):
            extras = {"vector": None if attr.vectors is None else attr.vectors[b, : lengths[b]]}
            if attr.delta is not None:
                extras.update(delta=float(attr.delta[b]), reference=float(attr.reference[b]))
            if attr.steps is not None:  # integrated gradients, steps="auto": the count this row used
                extras["steps"] = int(attr.steps[b])
            if tags is not None:  # a tagger: the tag probabilities at every position of the text
                extras["tags"] = tags[b]
            out.append((attr.scores[b, : lengths[b]], float(attr.values[b]), probs[b], int(classes[b]),
                        int(positions[b]), extras))
        return out

    @staticmethod
    def resolve(classes, logits, positions):
        at = logits[np.arange(len(classes)), positions] if logits.ndim == 3 else logits
        return np.where(classes < 0, at.argmax(-1), classes)

    def build(self, text, tokens, outs, method, params, objective, vectors, position):
        names = self.output_names
        # The last row is the one shown (all-positions mode: the final position).
        if position == "classes":  # --target all: the row shown is the predicted class's
            outs = sorted(outs, key=lambda o: o[3] == int(np.argmax(outs[0][2])))
        scores, value, probs, cls, pos, extras = outs[-1]
        best = int(np.argmax(probs))
        order = np.argsort(-probs)[: LM_TOP] if self.is_lm else range(len(probs))
        prediction = {"label": names[best], "probability": float(probs[best]),
                      "probabilities": {names[k]: float(probs[k]) for k in order}}
        if "tags" in extras:
            prediction = tagger_prediction(names, extras["tags"], pos)
        target = {"label": names[cls], "index": cls, "value": value}
        if self.is_lm or self.is_tagger:
            target["position"] = pos
        exp = Explanation(
            text, self.name, method.name, dict(params), method.signed, objective, target,
            prediction, tokens)
        for token, score in zip(tokens, scores.tolist()):  # this call's own tokens: scored in place
            token.score = score
        if "delta" in extras:
            gap = value - extras["reference"]
            exp.completeness = {"delta": extras["delta"], "reference": extras["reference"],
                                "relative": abs(extras["delta"]) / max(abs(gap), 1e-12)}
            if "steps" in extras:
                exp.completeness["steps"] = extras["steps"]
        if vectors and extras["vector"] is not None:
            exp.vectors = extras["vector"].tolist()
        if position == "all":
            exp.rows = [{"position": o[4], "target": names[o[3]], "value": o[1], "scores": o[0].tolist()}
                        for o in outs]
        elif position == "classes":
            exp.rows = [{"target": names[o[3]], "index": o[3], "value": o[1], "scores": o[0].tolist()}
                        for o in sorted(outs, key=lambda o: o[3])]
        return exp
