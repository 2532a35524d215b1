"""Can the map be trusted? Faithfulness, plausibility, agreement and a sanity check, over records.

- comprehensiveness / sufficiency (DeYoung et al. 2020, ERASER): the drop in the explained
  class's probability when the top k% tokens are removed / when only they are kept, averaged
  over k in AOPC_PERCENTS. Higher comprehensiveness and lower sufficiency are better.
- loo_tau: Kendall's tau between the map and leave-one-out occlusion (ferret's taucorr_loo).
- plausibility: token F1 of the top-k tokens (k = rationale size) and AUPRC against a human
  rationale, when records carry one.
- agreement: mean Spearman correlation between each pair of methods' maps.
- randomization (Adebayo et al. 2018): see saliency/evaluation/randomize.py.
A `random` ranking (seeded) is scored beside the methods as the floor.
"""

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..attribution import METHODS
from ..errors import InputError, UsageError
from ..records.gold import GoldError, record_gold
from ..option_checks import check_limit, check_seed
from .metrics import (AOPC_PERCENTS, REMOVALS, average_precision, kendall_tau, perturb, ranking, rationale_labels,
                      spearman, token_f1, top_count)
from .evaluate_tagger import perturbed, position_items, tagging_accuracy
from ..pipeline import MAX_BATCH_POSITIONS, softmax

RANDOM = "random"
WINDOW = 256  # records explained together: enough for length batching, bounded memory


@dataclass
class EvalSettings:
    methods: tuple = tuple(METHODS)
    removal: str = "delete"  # delete | unk: how a token is removed
    seed: int = 0  # the random floor, smoothgrad's noise, the randomised weights
    rationale_field: str = None  # record field holding a human rationale
    randomize: bool = False
    objective: str = "logit"  # what the maps explain (the metrics always read probabilities)
    method_options: dict = field(default_factory=dict)
    label_field: str = None  # record field holding the gold label: accuracy, confusion, metrics split by it

    def check(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise UsageError(f"--methods: unknown method {', '.join(unknown) or '(none)'} "
                             f"(choose from {', '.join(METHODS)})")
        if self.removal not in REMOVALS:
            raise UsageError(f"--removal: {self.removal!r} is not one of {', '.join(REMOVALS)}")
        check_seed(self.seed)


@dataclass
class Item:
    """One evaluated text: its ids, explained class, every method's scores, and the references."""

    text: str
    ids: list
    cls: int
    scores: dict  # method -> (n,) scores
    loo: np.ndarray = None  # leave-one-out occlusion scores (None when it cannot be computed)
    labels: np.ndarray = None  # rationale: which tokens a human marked
    predicted: str = None  # the predicted label, and with a label field the gold one
    gold: str = None
    position: int = None  # a tagger: the explained position (evaluate_tagger.py)


@dataclass
class Evaluation:
    summary: dict  # the JSON form: records, methods, agreement, randomization
    skipped: list  # (record number, reason) for records that could not be evaluated


def class_probabilities(engine, sequences, classes, pad_id, positions=None) -> np.ndarray:
    """p(class | sequence) for each id list, batched by length; an empty list is one <pad>.
    A tagger's: at each sequence's `positions` entry."""
    sequences = [s if s else [pad_id] for s in sequences]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = np.empty(len(sequences))
    start = 0
    while start < len(order):
        longest = len(sequences[order[min(len(order), start + 256) - 1]])
        rows = order[start:start + max(1, min(256, MAX_BATCH_POSITIONS // longest))]
        lengths = np.array([len(sequences[i]) for i in rows])
        ids = np.full((len(rows), lengths.max()), pad_id, dtype=np.int64)
        for b, i in enumerate(rows):
            ids[b, : lengths[b]] = sequences[i]
        probs = softmax(engine.forward(engine.embed(ids), lengths).astype(np.float64))
        if probs.ndim == 3:  # a tagger: (B, T, C), read at each row's position
            probs = probs[np.arange(len(rows)), np.asarray(positions)[rows]]
        out[rows] = probs[np.arange(len(rows)), np.asarray(classes)[rows]]
        start += len(rows)
    return out


def faithfulness(engine, items, names, removal, pad_id, unk_id):
    """(comprehensiveness, sufficiency), each (items, methods): AOPC over AOPC_PERCENTS."""
    sequences, classes, positions = [], [], []
    for item in items:
        n = len(item.ids)
        sequences.append(item.ids)
        positions.append(item.position or 0)
        for name in names:
            order = ranking(item.scores[name])
            for percent in AOPC_PERCENTS:
                if item.position is not None:  # a tagger: the explained word always stays
                    for ids, at in perturbed(item.ids, item.scores[name], item.position, percent, removal, unk_id,
                                             perturb):
                        sequences.append(ids)
                        positions.append(at)
                    continue
                chosen = order[: top_count(n, percent)]
                sequences.append(perturb(item.ids, chosen, removal, unk_id, keep=False))
                sequences.append(perturb(item.ids, chosen, removal, unk_id, keep=True))
                positions += [0, 0]
        classes += [item.cls] * (1 + 2 * len(names) * len(AOPC_PERCENTS))
    probs = class_probabilities(engine, sequences, classes, pad_id, positions).reshape(len(items), -1)
    full, rest = probs[:, :1, None], probs[:, 1:].reshape(len(items), len(names), len(AOPC_PERCENTS), 2)
    drops = (full - rest[..., 0], full - rest[..., 1])
    return tuple(d.mean(-1) for d in drops)


def explain_items(explainer, records, settings, rng, skipped, tag_pairs=None):
    """Explain a window of records with every method; Items for those every method could explain
    (a tagger: one per explained position, and (gold tags, predicted tags) added to tag_pairs)."""
    texts = [r.text for r in records]
    options = dict(objective=settings.objective, **settings.method_options)
    results = {m: explainer.explain(texts, method=m, errors="return", **options) for m in settings.methods}
    # Leave-one-out removes a word as the metrics do; a tagger's by <unk> (deleting moves its positions).
    occlude = "unk" if explainer.is_tagger else settings.removal
    if "occlusion" in results and options.get("occlude", "unk") == occlude:
        loo = results["occlusion"]  # the method is the leave-one-out reference itself
    else:
        loo = explainer.explain(texts, method="occlusion", errors="return", **{**options, "occlude": occlude})
    items = []
    for i, record in enumerate(records):
        failed = next((results[m][i] for m in settings.methods if isinstance(results[m][i], Exception)), None)
        if failed is not None:
            skipped.append((record.index, str(failed)))
            continue
        first = results[settings.methods[0]][i]
        if explainer.is_tagger:
            tag_pairs.append((record.fields.get("tags"), first.prediction["tags"]))
            items += position_items(Item, record, {m: results[m][i] for m in settings.methods}, loo[i],
                                    settings.methods, rng, explainer.output_names)
            continue
        scores = {m: np.array([t.score for t in results[m][i].tokens]) for m in settings.methods}
        scores[RANDOM] = rng.random(len(first.tokens))
        item = Item(record.text, [t.id for t in first.tokens], first.target["index"], scores,
                    predicted=first.prediction["label"])
        if settings.label_field:
            try:
                item.gold = record_gold(record, settings.label_field, explainer.output_names)
            except GoldError as e:
                skipped.append((record.index, str(e)))  # numbered from 0, as batch numbers them
                continue
        if not isinstance(loo[i], Exception):  # deleting the only token of a text is not defined
            item.loo = np.array([t.score for t in loo[i].tokens])
        if settings.rationale_field:
            item.labels = record_rationale(record, first.tokens, settings.rationale_field)
        items.append(item)
    return items


def record_rationale(record, tokens, name):
    if name not in record.fields:
        raise InputError(f"{record.source} record {record.index}: no rationale field {name!r}")
    try:
        return rationale_labels(tokens, record.fields[name])
    except ValueError as e:
        raise InputError(f"{record.source} record {record.index}: {e}") from None


def evaluate(explainer, records, settings: EvalSettings, model_file=None, progress=None) -> Evaluation:
    """Score every method (and the random floor) over `records` (io.Record with text set)."""
    settings.check()
    if explainer.is_lm:
        raise UsageError("evaluate needs a classifier (for a language model try `saliency decay`)")
    if settings.removal == "unk" and explainer.unk_id is None:
        raise UsageError("this model has no <unk> token (its source had none): use --removal delete")
    if explainer.is_tagger and (settings.rationale_field or settings.randomize or settings.label_field):
        raise UsageError("--rationale-field, --randomize and --label-field are for classifiers (a tagger: tagging "
                         "accuracy against the data's own tags, and faithfulness)")
    tag_pairs = []
    names = list(settings.methods) + [RANDOM]
    rng = np.random.default_rng(settings.seed)
    items, skipped = [], []
    comp, suff = [], []
    for start in range(0, len(records), WINDOW):
        window = explain_items(explainer, records[start:start + WINDOW], settings, rng, skipped, tag_pairs)
        if window:
            c, s = faithfulness(explainer.engine, window, names, settings.removal, explainer.fill_id,
                                explainer.unk_id)
            comp.append(c)
            suff.append(s)
            items += window
        if progress:
            progress(len(records[start:start + WINDOW]))
    if not items:
        raise InputError("no record could be evaluated")
    comp, suff = np.concatenate(comp), np.concatenate(suff)
    methods = {}
    for j, name in enumerate(names):
        row = metric_row(items, name, comp[:, j], suff[:, j])
        if settings.rationale_field:
            row["plausibility"] = {
                "token_f1": mean([token_f1(it.scores[name], it.labels) for it in items]),
                "auprc": mean([average_precision(it.scores[name], it.labels) for it in items])}
        methods[name] = row
    agreement = {f"{a}|{b}": mean([spearman(it.scores[a], it.scores[b]) for it in items])
                 for a, b in combinations(settings.methods, 2)}
    randomization = {}
    if settings.randomize:
        from .randomize import randomization_check

        randomization = randomization_check(model_file, explainer, items, settings, progress)
    summary = {"records": len(items), "methods": methods, "agreement": agreement, "randomization": randomization}
    if explainer.is_tagger:  # items are (sentence, position) pairs
        summary["sentences"] = len(tag_pairs)
        summary["tagging"] = tagging_accuracy(tag_pairs)
    elif settings.label_field:
        summary["gold"] = gold_summary(items, names, comp, suff, settings.label_field, explainer.output_names)
    return Evaluation(summary, skipped)


def metric_row(items, name, comp, suff) -> dict:
    """A method's faithfulness over `items`, given its per-item comprehensiveness and sufficiency."""
    return {"comprehensiveness": float(comp.mean()), "sufficiency": float(suff.mean()),
            "loo_tau": mean([kendall_tau(it.scores[name], it.loo) for it in items if it.loo is not None])}


def gold_summary(items, names, comp, suff, label_field, labels) -> dict:
    """Accuracy, the confusion table (rows gold, columns predicted), and each method's
    faithfulness over the right and over the wrong predictions apart: does the map still
    explain the model where the model is wrong?"""
    from ..records.gold import confusion

    out = {"field": label_field, **confusion([(it.gold, it.predicted) for it in items], labels)}
    for part, want in (("correct", True), ("wrong", False)):
        rows = [i for i, it in enumerate(items) if (it.gold == it.predicted) == want]
        subset = [items[i] for i in rows]
        out[part] = {"records": len(rows), "methods": {
            name: metric_row(subset, name, comp[rows, j], suff[rows, j]) if rows else None
            for j, name in enumerate(names)}}
    return out


def mean(values):
    """Mean of the defined values (nan = undefined for that text, e.g. one token); None if none."""
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else None


def work_units(n_records: int, settings: EvalSettings, config) -> int:
    """Progress units evaluate reports for n records: one per record, per randomisation stage."""
    from .randomize import stages

    return n_records * (1 + (len(stages(config)) if settings.randomize else 0))


def read_limited(path, input_format=None, text_field=None, limit=None):
    """(records with a text, skipped [(record number, reason)]) from the first `limit` records of a
    file (or '-'), read with batch's readers; the whole list is kept, as evaluation revisits it."""
    from itertools import islice

    from ..records import io

    records, skipped = [], []
    for record in islice(io.read_records(path, input_format, text_field), check_limit(limit)):
        if record.error:
            skipped.append((record.index, record.error))
        else:
            records.append(record)
    return records, skipped
