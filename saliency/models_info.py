"""Human summaries of model files: for `saliency models` and `saliency inspect`."""

import os

from . import checkpoint
from .registry import DEFAULT_MODEL, shipped_models


def architecture(cfg) -> str:
    inputs = f"emb {cfg.embedding_dim}" if cfg.embedding_dim else "one-hot"
    pooling = f", {cfg.pooling} pooling" if cfg.head == "classifier" else ""
    bi = "bi" if cfg.bidirectional else ""
    return f"{bi}{cfg.cell} {cfg.layers}x{cfg.hidden_size}, {inputs}{pooling}"


def held_out(info: dict) -> str:
    figures = info.get("figures", {})
    best = figures.get("test") or figures.get("valid") or {}
    split = "test" if "test" in figures else "valid"
    if "accuracy" in best:
        return f"accuracy {best['accuracy']:.3f}, macro-F1 {best['macro_f1']:.3f} ({split}, n={best['n']})"
    if "loss_nats" in best:
        return f"{best['loss_nats']:.3f} nats/token ({split})"
    return "not measured"


def summary(mf) -> dict:
    cfg = mf.config
    return {
        "name": mf.name,
        "task": "language model" if cfg.head == "lm" else f"classifier ({len(mf.labels)} labels)",
        "level": mf.tokenizer.level,
        "architecture": f"{mf.tokenizer.level} {architecture(cfg)}",
        "held_out": held_out(mf.info),
        "bytes": os.path.getsize(mf.path) if mf.path else 0,
    }


def describe_shipped() -> list:
    rows = []
    for name, path in shipped_models().items():
        row = summary(checkpoint.load(path, name=name))
        row["default"] = name == DEFAULT_MODEL
        rows.append(row)
    return rows
