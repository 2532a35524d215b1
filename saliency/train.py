"""Training models in this tool's format: classifiers from labelled texts, language models from text
(taggers from tagged sentences: train_tagger.py).

Validation and test sets are split by distinct text, so a text repeated in the data never
sits on both sides of a split. The best epoch on the validation set is kept.
"""

import os
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .records import readers
from .modelfile.checkpoint import ModelFile
from .modelfile.config import ModelConfig
from .errors import InputError, UsageError
from .engines.torch_engine import RNNModel
from .tokenize import PAD_ID, Tokenizer
from .train_steps import batches_by_length, fit, pad


@dataclass
class TrainOptions:
    task: str = "classify"  # classify | lm | tag | auto (tag for tagged sentences, else classify)
    level: str = "word"
    cell: str = "lstm"
    layers: int = 1
    hidden: int = 256
    embedding: int = 128
    bidirectional: bool = False
    pooling: str = "max"
    dropout: float = 0.5
    epochs: int = 5
    lr: float = 2e-3
    batch_size: int = 64
    seq_len: int = 128  # lm: characters or words per training sequence
    seed: int = 0
    max_vocab: int = 0
    min_count: int = 1
    lowercase: bool = True
    valid_split: float = 0.1
    test_split: float = 0.0
    dedupe: bool = True
    label_names: dict = field(default_factory=dict)  # raw label -> human name
    half: bool = False  # the file stores float16: measure the final figures with float16-rounded weights
    word_dropout: float = 0.0  # tag: the chance a known training word is read as <unk> (rare words learnt)


def set_seed(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_by_text(pairs, fractions, seed):
    """Split (text, label) pairs into len(fractions)+1 parts by distinct text."""
    texts = sorted({t for t, _ in pairs})
    random.Random(seed).shuffle(texts)
    part_of, start = {}, 0
    for i, frac in enumerate(fractions):
        n = int(round(frac * len(texts)))
        for t in texts[start:start + n]:
            part_of[t] = i + 1
        start += n
    parts = [[] for _ in range(len(fractions) + 1)]
    for pair in pairs:
        parts[part_of.get(pair[0], 0)].append(pair)
    return parts


def classify_metrics(model, ids, labels, num_labels, batch_size=256):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(ids), batch_size):
            x, lengths = pad(ids[i:i + batch_size])
            preds.append(model(model.embed(x), lengths).argmax(-1))
    pred = torch.cat(preds).numpy()
    gold = np.asarray(labels)
    f1s = []
    for c in range(num_labels):
        tp = np.sum((pred == c) & (gold == c))
        denom = np.sum(pred == c) + np.sum(gold == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return {"accuracy": float(np.mean(pred == gold)), "macro_f1": float(np.mean(f1s)), "n": int(len(gold))}


def lm_loss(model, stream, seq_len, batch_size=64):
    """Mean next-token loss in nats over a token stream, in consecutive windows."""
    model.eval()
    total, count = 0.0, 0
    windows = [stream[i:i + seq_len + 1] for i in range(0, len(stream) - 1, seq_len)]
    windows = [w for w in windows if len(w) > 1]
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            group = windows[i:i + batch_size]
            x, lengths = pad([w[:-1] for w in group])
            y, _ = pad([w[1:] for w in group])
            logits = model(model.embed(x), lengths)
            loss = F.cross_entropy(logits.transpose(1, 2), y, ignore_index=PAD_ID, reduction="sum")
            total += float(loss)
            count += int((lengths).sum())
    return {"loss_nats": total / max(count, 1), "n_tokens": count}


def train(data: str, opts: TrainOptions, valid: str = None, test: str = None, text_field=None,
          label_field="label", progress=None) -> ModelFile:
    """Train on a data file (or folder of LABEL.txt files); `progress(dict)` hears each step."""
    if opts.task not in ("classify", "lm", "tag", "auto"):
        raise UsageError(f"unknown task {opts.task!r} (expected classify, lm, tag or auto)")
    if opts.task == "auto":
        from .records.tagged import looks_tagged

        opts.task = "tag" if looks_tagged(data) else "classify"
    if opts.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    set_seed(opts.seed)
    started = time.time()
    if opts.task == "lm":
        model_file = _train_lm(data, opts, valid, test, progress)
    elif opts.task == "tag":
        from .train_tagger import train_tagger

        model_file = train_tagger(data, opts, valid, test, progress)
    else:
        model_file = _train_classifier(data, opts, valid, test, text_field, label_field, progress)
    model_file.info["train_seconds"] = round(time.time() - started, 1)
    return model_file


def read_pairs(path, text_field, label_field, progress):
    """(text, label) pairs of a file; unusable records are counted and named by line on stderr."""
    dropped = []
    pairs = list(readers.read_labelled(path, text_field=text_field, label_field=label_field, dropped=dropped))
    if dropped:
        where = ", ".join(f"{os.path.basename(source) + ' ' if os.path.isdir(path) else ''}line {line} ({error})"
                          for source, line, error in dropped[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        message = f"{path}: skipped {len(dropped)} unusable record{'s' * (len(dropped) > 1)}: {where}{more}"
        if progress:
            progress({"warning": message})
        else:
            warnings.warn(message)
    return pairs


def _train_classifier(data, opts, valid, test, text_field, label_field, progress):
    pairs = read_pairs(data, text_field, label_field, progress)
    if opts.dedupe:
        pairs = list(dict.fromkeys(pairs))
    if not pairs:
        raise InputError(f"{data}: no training records")
    fractions = [0.0 if valid else opts.valid_split, 0.0 if test else opts.test_split]
    train_pairs, valid_pairs, test_pairs = split_by_text(pairs, fractions, opts.seed)
    if valid:
        valid_pairs = read_pairs(valid, text_field, label_field, progress)
    if test:
        test_pairs = read_pairs(test, text_field, label_field, progress)
    raw_labels = sorted({label for _, label in train_pairs})
    if len(raw_labels) < 2:
        raise InputError(f"{data}: a classifier needs at least two labels, found {len(raw_labels)}")
    label_index = {label: i for i, label in enumerate(raw_labels)}
    tokenizer = Tokenizer.build((t for t, _ in train_pairs), opts.level, opts.lowercase, opts.max_vocab, opts.min_count)

    def encode(ps):
        kept = [(tokenizer.encode(t), label_index[lab]) for t, lab in ps if lab in label_index]
        kept = [(ids, y) for ids, y in kept if ids]
        return [ids for ids, _ in kept], [y for _, y in kept]

    train_ids, train_y = encode(train_pairs)
    valid_ids, valid_y = encode(valid_pairs)
    test_ids, test_y = encode(test_pairs)
    if not valid_ids:
        raise UsageError("no validation records: give --valid FILE or a --valid-split above 0")
    cfg = ModelConfig(opts.cell, len(tokenizer.vocab), opts.embedding, opts.hidden, opts.layers,
                      opts.bidirectional, "classifier", opts.pooling, len(raw_labels), opts.dropout)
    model = RNNModel(cfg)

    def batch_loss(idx):
        x, lengths = pad([train_ids[i] for i in idx])
        y = torch.tensor([train_y[i] for i in idx])
        return F.cross_entropy(model(model.embed(x), lengths), y)

    history = fit(model, opts, lambda rng: batches_by_length(train_ids, opts.batch_size, rng), batch_loss,
                  lambda: classify_metrics(model, valid_ids, valid_y, len(raw_labels)),
                  ("accuracy", "valid_accuracy", 1), progress)
    figures = {"best_epoch": max(history, key=lambda h: h["valid_accuracy"])["epoch"], "history": history,
               "valid": classify_metrics(model, valid_ids, valid_y, len(raw_labels)),
               "train_records": len(train_ids)}
    if test_ids:
        figures["test"] = classify_metrics(model, test_ids, test_y, len(raw_labels))
    labels = [opts.label_names.get(label, label) for label in raw_labels]
    info = {"task": "classify", "data": data, "seed": opts.seed, "figures": figures,
            "options": {k: v for k, v in vars(opts).items() if k != "label_names"}}
    return ModelFile(cfg, tokenizer, labels, model.weights(), info)


def _read_stream(path):
    with readers.open_text(path) as f:
        text = f.read()
    if readers.undecodable(text):
        raise InputError(f"{path} is not valid UTF-8")
    return text


def _train_lm(data, opts, valid, test, progress):
    text = _read_stream(data)
    if not text.strip():
        raise InputError(f"{data}: empty training text")
    # Language models split the stream itself: the last part for validation (and test).
    n = len(text)
    n_valid = 0 if valid else int(n * opts.valid_split)
    n_test = 0 if test else int(n * opts.test_split)
    train_text = text[: n - n_valid - n_test]
    valid_text = _read_stream(valid) if valid else text[n - n_valid - n_test: n - n_test]
    test_text = _read_stream(test) if test else text[n - n_test:]
    tokenizer = Tokenizer.build([train_text], opts.level, opts.lowercase, opts.max_vocab, opts.min_count)
    train_ids, valid_ids, test_ids = (tokenizer.encode(t) for t in (train_text, valid_text, test_text))
    if len(valid_ids) < 2:
        raise UsageError("no validation text: give --valid FILE or a --valid-split above 0")
    cfg = ModelConfig(opts.cell, len(tokenizer.vocab), opts.embedding, opts.hidden, opts.layers,
                      opts.bidirectional, "lm", "last", 1, opts.dropout)
    model = RNNModel(cfg)
    L = opts.seq_len

    def epoch_batches(rng):  # windows of L tokens from a random offset, in random order
        offset = rng.randrange(L)
        starts = list(range(offset, len(train_ids) - L - 1, L))
        rng.shuffle(starts)
        return [starts[i:i + opts.batch_size] for i in range(0, len(starts), opts.batch_size)]

    def batch_loss(group):
        chunk = torch.tensor([train_ids[s:s + L + 1] for s in group])  # (B, L+1)
        logits = model(model.embed(chunk[:, :-1]), torch.full((len(group),), L))
        return F.cross_entropy(logits.reshape(-1, cfg.vocab_size), chunk[:, 1:].reshape(-1))

    history = fit(model, opts, epoch_batches, batch_loss, lambda: lm_loss(model, valid_ids, L),
                  ("loss_nats", "valid_loss_nats", -1), progress)
    figures = {"best_epoch": min(history, key=lambda h: h["valid_loss_nats"])["epoch"], "history": history,
               "valid": lm_loss(model, valid_ids, L), "train_tokens": len(train_ids)}
    if len(test_ids) > 1:
        figures["test"] = lm_loss(model, test_ids, L)
    info = {"task": "lm", "data": data, "seed": opts.seed, "figures": figures,
            "options": {k: v for k, v in vars(opts).items() if k != "label_names"}}
    return ModelFile(cfg, tokenizer, [], model.weights(), info)
