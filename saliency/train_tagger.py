"""Training sequence taggers: one label per word, from CoNLL-U, token<TAB>tag or JSONL tokens+tags.

The given words are the tokens (never re-tokenized); the vocabulary is built from them. The
model is the tagger kind of RNNModel: an RNN (usually bidirectional) and a per-position Linear.
Validation picks the best epoch by tagging accuracy; the figures are accuracy, macro-F1 over the
tags and each tag's F1.
"""

import random
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .records import tagged
from .records.readers import gold_sentences, require_sentences
from .modelfile.checkpoint import ModelFile
from .modelfile.config import ModelConfig
from .errors import InputError, UsageError
from .engines.torch_engine import RNNModel
from .tokenize import PAD, UNK, UNK_ID, Tokenizer
from .train_steps import batches_by_length, fit, pad

IGNORE = -100  # cross_entropy's ignore_index: padding, and tags the training data never had


def read_sentences(path, progress):
    dropped = []
    pairs = require_sentences(list(gold_sentences(path, dropped=dropped)), path)
    if dropped:
        where = ", ".join(f"line {line} ({error})" for _, line, error in dropped[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        message = f"{path}: skipped {len(dropped)} unusable sentence{'s' * (len(dropped) > 1)}: {where}{more}"
        if progress:
            progress({"warning": message})
        else:
            warnings.warn(message)
    return pairs


def word_tokenizer(sentences, lowercase, max_vocab, min_count) -> Tokenizer:
    """Vocabulary of the training words (as given, not re-split): most frequent first, ties alphabetical."""
    counts = {}
    for words, _ in sentences:
        for w in words:
            w = w.lower() if lowercase else w
            counts[w] = counts.get(w, 0) + 1
    ranked = sorted((c for c in counts.items() if c[1] >= min_count and c[0] not in (PAD, UNK)),
                    key=lambda kv: (-kv[1], kv[0]))
    if max_vocab:
        ranked = ranked[: max(0, max_vocab - 2)]
    return Tokenizer("word", [PAD, UNK] + [w for w, _ in ranked], lowercase)


def encode(tokenizer, sentences, tag_index):
    """(ids, tag indices) per sentence; a character tagger reads the words joined by spaces and
    tags each character with its word's tag (spaces: ignored)."""
    ids, ys = [], []
    for words, tags in sentences:
        if tokenizer.level == "word":
            index = tokenizer.index
            norm = str.lower if tokenizer.lowercase else str
            ids.append([index.get(norm(w), UNK_ID) for w in words])
            ys.append([tag_index.get(t, IGNORE) for t in tags])
        else:
            text = tagged.Words(words)
            ids.append(tokenizer.encode(text))
            per_char = []
            for (start, end), t in zip(text.spans(), tags):
                per_char += [tag_index.get(t, IGNORE)] * (end - start) + [IGNORE]
            ys.append(per_char[: len(text)])
    return ids, ys


def predict(model, ids, batch_size=256):
    """Predicted tag indices per sentence."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(ids), batch_size):
            x, lengths = pad(ids[i:i + batch_size])
            best = model(model.embed(x), lengths).argmax(-1)  # (B, T)
            out += [best[b, : lengths[b]].tolist() for b in range(len(lengths))]
    return out


def tag_metrics(pred, gold, names) -> dict:
    """Accuracy, macro-F1 and per-tag F1 over every gold-tagged position (IGNORE positions skipped)."""
    p = np.array([t for row in pred for t in row])
    g = np.array([t for row in gold for t in row])
    keep = g != IGNORE
    p, g = p[keep], g[keep]
    per_tag = {}
    for c, name in enumerate(names):
        tp = int(np.sum((p == c) & (g == c)))
        denom = int(np.sum(p == c) + np.sum(g == c))
        per_tag[name] = round(2 * tp / denom, 4) if denom else 0.0
    present = [name for c, name in enumerate(names) if np.any(g == c)]
    return {"accuracy": float(np.mean(p == g)) if len(g) else 0.0,
            "macro_f1": float(np.mean([per_tag[n] for n in present])) if present else 0.0,
            "per_tag_f1": per_tag, "n": int(len(g))}


def train_tagger(data, opts, valid=None, test=None, progress=None) -> ModelFile:
    train_pairs = read_sentences(data, progress)
    if valid:
        valid_pairs = read_sentences(valid, progress)
    else:  # hold out whole sentences
        order = list(range(len(train_pairs)))
        random.Random(opts.seed).shuffle(order)
        n = int(round(opts.valid_split * len(order)))
        held = set(order[:n])
        valid_pairs = [p for i, p in enumerate(train_pairs) if i in held]
        train_pairs = [p for i, p in enumerate(train_pairs) if i not in held]
    if not valid_pairs:
        raise UsageError("no validation sentences: give --valid FILE or a --valid-split above 0")
    test_pairs = read_sentences(test, progress) if test else []
    names = sorted({t for _, tags in train_pairs for t in tags})
    if len(names) < 2:
        raise InputError(f"{data}: a tagger needs at least two tags, found {len(names)}")
    tag_index = {t: i for i, t in enumerate(names)}
    if opts.level == "word":
        tokenizer = word_tokenizer(train_pairs, opts.lowercase, opts.max_vocab, opts.min_count)
    else:
        tokenizer = Tokenizer.build((" ".join(w) for w, _ in train_pairs), "char", opts.lowercase,
                                    opts.max_vocab, opts.min_count)
    train_ids, train_y = encode(tokenizer, train_pairs, tag_index)
    valid_ids, valid_y = encode(tokenizer, valid_pairs, tag_index)
    cfg = ModelConfig(opts.cell, len(tokenizer.vocab), opts.embedding, opts.hidden, opts.layers,
                      opts.bidirectional, "tagger", "last", len(names), opts.dropout)
    model = RNNModel(cfg)

    def batch_loss(idx):
        x, lengths = pad([train_ids[i] for i in idx])
        y, _ = pad([train_y[i] for i in idx])
        y[torch.arange(y.shape[1])[None, :] >= lengths[:, None]] = IGNORE
        if opts.word_dropout:  # some known words seen as <unk>, so <unk> is learnt in context
            x = x.masked_fill((torch.rand(x.shape) < opts.word_dropout) & (x > UNK_ID), UNK_ID)
        logits = model(model.embed(x), lengths)  # (B, T, C)
        return F.cross_entropy(logits.transpose(1, 2), y, ignore_index=IGNORE)

    history = fit(model, opts, lambda rng: batches_by_length(train_ids, opts.batch_size, rng), batch_loss,
                  lambda: tag_metrics(predict(model, valid_ids), valid_y, names),
                  ("accuracy", "valid_accuracy", 1), progress)
    figures = {"best_epoch": max(history, key=lambda h: h["valid_accuracy"])["epoch"], "history": history,
               "valid": tag_metrics(predict(model, valid_ids), valid_y, names),
               "train_records": len(train_ids), "train_tokens": sum(len(i) for i in train_ids)}
    if test_pairs:
        test_ids, test_y = encode(tokenizer, test_pairs, tag_index)
        figures["test"] = tag_metrics(predict(model, test_ids), test_y, names)
    info = {"task": "tag", "data": data, "seed": opts.seed, "figures": figures,
            "options": {k: v for k, v in vars(opts).items() if k != "label_names"}}
    return ModelFile(cfg, tokenizer, names, model.weights(), info)
