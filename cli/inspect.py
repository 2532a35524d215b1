"""saliency inspect and saliency import: look inside a model file; convert numpy char-RNNs."""

import json
import os
import warnings
from typing import Annotated, Optional

import typer

from saliency.errors import UsageError

from . import app
from .common import check_choice, stdout_console, user_errors


@app.command()
@user_errors
def inspect(
    model: Annotated[str, typer.Argument(help="Shipped model name or model file path.")],
    output_format: Annotated[str, typer.Option("--format", "-f", help="text | json (or jsonl: the same)")] = "text",
):
    """Architecture, vocabulary, labels, parameter count, training figures and sha256 of a model."""
    from saliency.checkpoint import sha256
    from saliency.models_info import architecture, held_out
    from saliency.registry import load_model_file

    check_choice(output_format, ("text", "json", "jsonl"), "--format")
    mf = load_model_file(model)
    report = {
        "name": mf.name, "path": mf.path, "sha256": sha256(mf.path), "bytes": os.path.getsize(mf.path),
        "config": mf.config.to_dict(), "architecture": f"{mf.tokenizer.level} {architecture(mf.config)}",
        "parameters": int(sum(w.size for w in mf.weights.values())),
        "dtype": str(next(iter(mf.weights.values())).dtype),
        "tokenizer": {"level": mf.tokenizer.level, "lowercase": mf.tokenizer.lowercase,
                      "vocab_size": len(mf.tokenizer.vocab), "first": mf.tokenizer.vocab[:12]},
        "labels": mf.labels, "held_out": held_out(mf.info, mf.tokenizer.level), "info": mf.info,
    }
    if output_format != "text":
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    from saliency.render import simple_table

    rows = [[key.replace("_", "-"), str(report[key])] for key in ("name", "path", "sha256", "architecture",
                                                                  "parameters", "dtype", "held_out")]
    rows.append(["vocabulary", f"{len(mf.tokenizer.vocab)} {mf.tokenizer.level} tokens, "
                 f"{'lowercased' if mf.tokenizer.lowercase else 'case kept'}: "
                 + ", ".join(repr(v) for v in mf.tokenizer.vocab[:12]) + ", ..."])
    if mf.labels:
        rows.append(["labels", ", ".join(mf.labels)])
    if "command" in mf.info:
        rows.append(["trained with", str(mf.info["command"])])
    table = simple_table([("", "left"), ("", "left")], rows, header=False)
    stdout_console().print(table)


@app.command("import")
@user_errors
def import_model(
    source: Annotated[str, typer.Argument(help="A numpy char-RNN: .npz (or .npy holding a dict, with --allow-pickle).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write.")] = "imported.safetensors",
    vocab: Annotated[Optional[str], typer.Option(help="Vocabulary file: a JSON list of characters, or the characters in order. Default: newline then a-z (the course's).")] = None,
    lowercase: Annotated[Optional[bool], typer.Option("--lowercase/--keep-case", help="Lowercase input text (default: yes for the default vocabulary).")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow a pickled .npy dict. Unpickling can run code: only for files you trust.")] = False,
):
    """Convert a numpy character RNN (course Wax/Waa/Wya or min-char-rnn Wxh/Whh/Why) to a model file."""
    from saliency import checkpoint
    from saliency.importers import import_char_rnn, read_arrays, read_vocab

    checkpoint.check_writable(output)
    if allow_pickle:
        typer.echo("warning: --allow-pickle: unpickling can run code; only use it on files you trust", err=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = read_arrays(source, allow_pickle)
    model_file = import_char_rnn(arrays, read_vocab(vocab) if vocab else None, lowercase)
    model_file.info["source"] = os.path.basename(source)
    if os.path.abspath(output) == os.path.abspath(source):
        raise UsageError("--output would overwrite the source file")
    checkpoint.save(model_file, output)
    typer.echo(f"wrote {output}: {model_file.info['imported_from']} layout, "
               f"{model_file.config.hidden_size} hidden units, {len(model_file.tokenizer.vocab) - 2} characters",
               err=True)
