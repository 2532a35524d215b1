"""saliency inspect and saliency import: look inside a model file; convert Keras models and numpy char-RNNs."""

import json
import os
from typing import Annotated, Optional

import typer


from . import app
from .common import check_choice, stdout_console, user_errors

IMPORT_EXAMPLES = """
[b]Examples[/b]

  saliency import imdb.keras --vocab words.json --labels neg,pos
  saliency import emojify.h5 --vocab tokenizer.json -o emojify.safetensors
  saliency import course_rnn.npz -o dinos.safetensors
"""


@app.command()
@user_errors
def inspect(
    model: Annotated[str, typer.Argument(help="Shipped model name or model file path.")],
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json", help="text | json (or jsonl: the same)")] = "text",
):
    """Architecture, vocabulary, labels, parameter count, training figures and sha256 of a model."""
    from saliency.modelfile.checkpoint import sha256
    from saliency.modelfile.info import architecture, held_out
    from saliency.modelfile.registry import load_model_file

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
    if "imported_from" in mf.info:
        rows.append(["imported from", imported_from(mf.info)])
    if mf.config.zero_start:
        rows.append(["zero start", "yes: a zero input vector runs before the first token (x<1> = 0)"])
    if mf.info.get("keras_layers"):  # the Keras model's own layers, in order, as its owner named them
        rows.append(["keras layers", " -> ".join(map(str, mf.info["keras_layers"]))])
    table = simple_table([("", "left"), ("", "left")], rows, header=False)
    stdout_console().print(table)


@app.command("import", epilog=IMPORT_EXAMPLES)
@user_errors
def import_model(
    source: Annotated[str, typer.Argument(help="A Keras text RNN (.keras, or legacy .h5 with its config), or a numpy char-RNN (.npz, or .npy holding a dict with --allow-pickle).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write.")] = "imported.safetensors",
    vocab: Annotated[Optional[str], typer.Option(help="Keras: the tokens by id (JSON list, JSON word index, Tokenizer.to_json(), or one per line). numpy: a JSON list of characters, or the characters in order (default: newline then a-z).")] = None,
    labels: Annotated[Optional[str], typer.Option(help="Keras: output names, comma-separated (default 0, 1, ...).")] = None,
    level: Annotated[Optional[str], typer.Option(metavar="word|char", help="Keras: word | char, how the owner split text (default word, or the Tokenizer's).")] = None,
    lowercase: Annotated[Optional[bool], typer.Option("--lowercase/--keep-case", help="Lowercase input text. Default: yes, unless the vocabulary holds upper-case letters (numpy), or the Tokenizer's setting (Keras).")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow a pickled .npy dict. Unpickling can run code: only for files you trust.")] = False,
    zero_start: Annotated[bool, typer.Option("--zero-start", help="numpy: the model sees a zero input vector before the first character (x<1> = 0), as the Coursera course trains and samples.")] = False,
):
    """Convert a Keras text RNN or a numpy character RNN to a model file (no TensorFlow needed)."""
    from saliency.modelfile import checkpoint
    from saliency.importers import check_output_apart, import_any
    from saliency.modelfile.info import architecture

    checkpoint.check_writable(output)
    check_output_apart(output, {"the source model": source, "the vocabulary": vocab})
    if level is not None:
        check_choice(level, ("word", "char"), "--level")
    if allow_pickle:
        typer.echo("warning: --allow-pickle: unpickling can run code; only use it on files you trust", err=True)
    label_list = [name.strip() for name in labels.split(",")] if labels else None
    model_file = import_any(source, vocab, label_list, level, lowercase, allow_pickle, zero_start)
    if "note" in model_file.info:
        typer.echo(f"note: {model_file.info['note']}", err=True)
    checkpoint.save(model_file, output)
    typer.echo(f"wrote {output}: {imported_from(model_file.info)}, {architecture(model_file.config)}, "
               f"{token_count(model_file.tokenizer)} {model_file.tokenizer.level} tokens"
               + (", zero start" if model_file.config.zero_start else ""), err=True)


def token_count(tokenizer) -> int:
    """Tokens of the vocabulary, not counting <pad> and <unk> where the tool added them."""
    return len(tokenizer.vocab) - sum(i is not None for i in (tokenizer.pad_id, tokenizer.unk_id))


def imported_from(info: dict) -> str:
    """Where an imported model came from, in a few words (import and inspect)."""
    if info.get("imported_from") == "keras":
        return (f"Keras {info.get('keras_version')} {info.get('keras_format')} file {info.get('source')} "
                f"(sha256 {str(info.get('source_sha256'))[:12]})")
    return f"numpy char-RNN, {info.get('imported_from')} layout, from {info.get('source', '?')}"
