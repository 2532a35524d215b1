"""saliency train: train a model in this tool's format (the shipped models are made with it)."""

import os
import shlex
import sys
from typing import Annotated, Optional

import typer

from saliency.errors import UsageError

from . import app
from .common import user_errors

DATA_PANEL = "Data"
ARCH_PANEL = "Architecture"
FIT_PANEL = "Optimisation"

EXAMPLES = """
[b]Examples[/b]

  saliency train train.tsv --test dev.tsv --label-names 0=neg,1=pos
  saliency train names/ --level char --cell gru -o names.safetensors
  saliency train input.txt --task lm --level char -o shakespeare.safetensors
  saliency train train.conllu --valid dev.conllu --bidirectional
"""


def parse_label_names(spec: Optional[str]) -> dict:
    if not spec:
        return {}
    pairs = [p.split("=", 1) for p in spec.split(",")]
    if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise UsageError("--label-names takes RAW=NAME pairs separated by commas, e.g. 0=negative,1=positive")
    return dict(pairs)


@app.command(epilog=EXAMPLES)
@user_errors
def train(
    data: Annotated[str, typer.Argument(help="Training data: csv/tsv/jsonl with text and label columns, a folder of LABEL.txt files (one text per line), plain text for --task lm, or tagged sentences (CoNLL-U, token<TAB>tag, JSONL tokens+tags) for a tagger.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Model file to write.")] = "model.safetensors",
    task: Annotated[str, typer.Option(metavar="classify|lm|tag|auto", help="classify | lm | tag | auto (tag for CoNLL-U, token<TAB>tag or JSONL tokens+tags data; else classify).", rich_help_panel=DATA_PANEL)] = "auto",
    level: Annotated[str, typer.Option(metavar="char|word", help="Tokens: char | word.", rich_help_panel=DATA_PANEL)] = "word",
    valid: Annotated[Optional[str], typer.Option(help="Validation file (default: a split of DATA).", rich_help_panel=DATA_PANEL)] = None,
    valid_split: Annotated[float, typer.Option(min=0.0, max=0.5, help="Fraction of distinct texts held out for validation.", rich_help_panel=DATA_PANEL)] = 0.1,
    test: Annotated[Optional[str], typer.Option(help="Test file, scored once with the best epoch.", rich_help_panel=DATA_PANEL)] = None,
    test_split: Annotated[float, typer.Option(min=0.0, max=0.5, help="Fraction of distinct texts held out for testing.", rich_help_panel=DATA_PANEL)] = 0.0,
    text_column: Annotated[Optional[str], typer.Option("--text-field", help="Text column or field (default text or sentence).", rich_help_panel=DATA_PANEL)] = None,
    label_column: Annotated[str, typer.Option("--label-field", help="Label column or field.", rich_help_panel=DATA_PANEL)] = "label",
    label_names: Annotated[Optional[str], typer.Option(help="Names for raw labels: 0=neg,1=pos.", rich_help_panel=DATA_PANEL)] = None,
    keep_case: Annotated[bool, typer.Option("--keep-case", help="Keep upper case (default: lowercase).", rich_help_panel=DATA_PANEL)] = False,
    keep_duplicates: Annotated[bool, typer.Option("--keep-duplicates", help="Keep repeated (text, label) pairs.", rich_help_panel=DATA_PANEL)] = False,
    max_vocab: Annotated[int, typer.Option(min=0, help="Keep the most frequent tokens (0: all).", rich_help_panel=DATA_PANEL)] = 0,
    min_count: Annotated[int, typer.Option(min=1, help="Drop tokens seen fewer times.", rich_help_panel=DATA_PANEL)] = 1,
    cell: Annotated[str, typer.Option(metavar="rnn|lstm|gru", help="rnn | lstm | gru", rich_help_panel=ARCH_PANEL)] = "lstm",
    layers: Annotated[int, typer.Option(min=1, rich_help_panel=ARCH_PANEL)] = 1,
    hidden: Annotated[int, typer.Option(min=1, rich_help_panel=ARCH_PANEL)] = 256,
    embedding: Annotated[int, typer.Option(min=1, rich_help_panel=ARCH_PANEL)] = 128,
    bidirectional: Annotated[bool, typer.Option("--bidirectional", help="Read the text both ways.", rich_help_panel=ARCH_PANEL)] = False,
    pooling: Annotated[str, typer.Option(metavar="last|max|mean", help="Classifier: last | max | mean over time.", rich_help_panel=ARCH_PANEL)] = "max",
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9, rich_help_panel=ARCH_PANEL)] = 0.5,
    word_dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Tagger: chance a known training word is read as <unk>.", rich_help_panel=ARCH_PANEL)] = 0.0,
    epochs: Annotated[int, typer.Option(min=1, rich_help_panel=FIT_PANEL)] = 5,
    lr: Annotated[float, typer.Option(min=0.0, rich_help_panel=FIT_PANEL)] = 2e-3,
    batch_size: Annotated[int, typer.Option(min=1, rich_help_panel=FIT_PANEL)] = 64,
    seq_len: Annotated[int, typer.Option(min=2, help="Language model: tokens per training sequence.", rich_help_panel=FIT_PANEL)] = 128,
    seed: Annotated[int, typer.Option(rich_help_panel=FIT_PANEL)] = 0,
    half: Annotated[bool, typer.Option("--half", help="Store float16 weights (half the file size).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
):
    """Train a classifier, language model or sequence tagger and write it as a model file."""
    from saliency.modelfile import checkpoint
    from saliency.modelfile.config import CELLS, POOLINGS
    from saliency.modelfile.info import held_out
    from saliency.train import TrainOptions, train as run_training

    if cell not in CELLS or pooling not in POOLINGS or level not in ("char", "word"):
        raise UsageError(f"choose --cell from {', '.join(CELLS)}, --pooling from {', '.join(POOLINGS)}, "
                         "--level from char, word")
    checkpoint.check_writable(output)  # before training, not after it
    opts = TrainOptions(task, level, cell, layers, hidden, embedding, bidirectional, pooling, dropout, epochs, lr,
                        batch_size, seq_len, seed, max_vocab, min_count, not keep_case, valid_split, test_split,
                        not keep_duplicates,
                        parse_label_names(label_names), half, word_dropout)
    with TrainingProgress(epochs, quiet) as progress:
        model_file = run_training(data, opts, valid, test, text_column, label_column, progress)
    model_file.info["command"] = "saliency train " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else [data])
    checkpoint.save(model_file, output, dtype="float16" if half else None)
    typer.echo(f"wrote {output} ({os.path.getsize(output) / 1e6:.1f} MB): held-out "
               f"{held_out(model_file.info, level)}",
               err=True)


class TrainingProgress:
    """A rich progress bar on stderr: epoch, step, loss, last validation figure."""

    def __init__(self, epochs, quiet):
        self.epochs, self.quiet, self.bar, self.task, self.last = epochs, quiet, None, None, ""

    def __enter__(self):
        return self  # the bar starts with the first step: data that cannot be read fails with no bar drawn

    def start(self):
        if not self.quiet and self.bar is None:
            from saliency.render import training_progress

            self.bar, self.task = training_progress(self.epochs)
            self.bar.__enter__()

    def __call__(self, event):
        if "step" in event or "valid" in event:
            self.start()
        if "warning" in event:  # shown with or without --quiet
            if self.bar is None:
                typer.echo(f"warning: {event['warning']}", err=True)
            else:
                self.bar.console.print(f"warning: {event['warning']}", markup=False, highlight=False, soft_wrap=True)
            return
        if self.bar is None:
            return
        if "valid" in event:
            v = event["valid"]
            self.last = f"valid acc {v['accuracy']:.4f}" if "accuracy" in v else f"valid {v['loss_nats']:.4f} nats"
            self.bar.update(self.task, last=self.last)
            return
        self.bar.update(self.task, completed=event["step"], total=event["steps"], epoch=event["epoch"],
                        loss=event["loss"])

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
