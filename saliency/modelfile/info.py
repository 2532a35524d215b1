"""Human summaries of model files: for `saliency models` and `saliency inspect`."""

import os
import shlex

from . import checkpoint
from .registry import DEFAULT_MODEL, shipped_models


def architecture(cfg) -> str:
    inputs = f"emb {cfg.embedding_dim}" if cfg.embedding_dim else "one-hot"
    pooling = f", {cfg.pooling} pooling" if cfg.head == "classifier" else ""
    bi = "bi" if cfg.bidirectional else ""
    sizes = f"{cfg.layers}x{cfg.hidden_size}" if cfg.uniform else "-".join(map(str, cfg.hidden_sizes))
    cell = cfg.cell if isinstance(cfg.cell, str) else "-".join(cfg.cell)  # a mixed stack: gru-rnn
    return f"{bi}{cell} {sizes}, {inputs}{pooling}"


def held_out(info: dict, level: str = None) -> str:
    """The held-out figure, named by its split: "dev accuracy 0.839, macro-F1 0.839 (n=872)"."""
    figures = info.get("figures")
    if not isinstance(figures, dict):
        return "not measured"
    best = figures.get("test") or figures.get("valid") or {}
    try:  # figures come from the file: a hand-edited header may hold anything
        split = split_name(info) if "test" in figures else "valid"
        if "accuracy" in best:
            return f"{split} accuracy {best['accuracy']:.3f}, macro-F1 {best['macro_f1']:.3f} (n={best['n']})"
        if "loss_nats" in best:
            unit = {"char": "nats/char", "word": "nats/word"}.get(level, "nats/token")
            return f"{best['loss_nats']:.3f} {unit} ({split})"
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    return "not measured"


def split_name(info: dict) -> str:
    """"test", or "dev" when the --test file was a dev set (SST-2's test labels are not public, so
    its dev set is the held-out test there; the README calls it dev accuracy)."""
    words = shlex.split(info.get("command", ""))
    given = words[words.index("--test") + 1] if "--test" in words[:-1] else ""
    return "dev" if os.path.basename(given).startswith("dev") else "test"


def summary(mf) -> dict:
    cfg = mf.config
    return {
        "name": mf.name,
        "task": {"lm": "language model", "tagger": f"tagger ({len(mf.labels)} tags)"}.get(
            cfg.head, f"classifier ({len(mf.labels)} labels)"),
        "level": mf.tokenizer.level,
        "architecture": f"{mf.tokenizer.level} {architecture(cfg)}",
        "held_out": held_out(mf.info, mf.tokenizer.level),
        "bytes": os.path.getsize(mf.path) if mf.path else 0,
    }


def describe_shipped() -> list:
    rows = []
    for name, path in shipped_models().items():
        row = summary(checkpoint.load(path, name=name))
        row["default"] = name == DEFAULT_MODEL
        rows.append(row)
    return rows
