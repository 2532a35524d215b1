"""saliency batch: explain every record of files or stdin, streaming, in input order."""

import sys
from typing import Annotated, List, Optional

import typer

from saliency import load_model
from saliency.errors import EXIT_RECORDS_FAILED, RecordUsageError, UsageError

from . import app
from .common import (BaselineOpt, ContrastOpt, DeviceOpt, EngineOpt, Method, MethodOpt, ModelOpt, NoiseOpt,
                     ObjectiveOpt, OccludeOpt, PositionOpt, ReduceOpt, RuleOpt, SamplesOpt, SeedOpt, StepsOpt,
                     TargetOpt, TopOpt, VectorsOpt, check_choice, fail, method_options, stdin_is_piped, stdout_console, user_errors)
from .explain import parse_position

EXAMPLES = """
[b]Examples[/b]

  saliency batch reviews.txt > scores.jsonl
  saliency batch dev.tsv -f csv --method integrated-gradients > tokens.csv
  cat reviews.jsonl | saliency batch - --text-field review | jq .prediction
  saliency batch dev.tsv --summary --quiet > /dev/null
"""
# At most this many records are explained together: enough to batch by length, bounded memory.
WINDOW = 512
OUTPUT_FORMATS = ("jsonl", "csv", "tsv", "text", "html")


@app.command(epilog=EXAMPLES)
@user_errors
def batch(
    files: Annotated[Optional[List[str]], typer.Argument(help="Input files (txt, csv, tsv, jsonl); '-' or none with piped stdin: stdin.", show_default=False)] = None,
    input_format: Annotated[Optional[str], typer.Option(help="txt | csv | tsv | jsonl (default: from the extension; stdin: txt).")] = None,
    text_column: Annotated[Optional[str], typer.Option("--text-field", help="CSV/TSV column or JSON field holding the text (default text or sentence).")] = None,
    output_format: Annotated[Optional[str], typer.Option("--format", "-f", help="jsonl (or json; default off a terminal) | csv | tsv | text (default on a terminal) | html (one self-contained page, as text shows it).")] = None,
    summary: Annotated[bool, typer.Option("--summary", help="After the records, the tokens that most often drove each label (on stderr unless --format text).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward/backward pass.")] = 64,
    model: ModelOpt = None,
    method: MethodOpt = Method.gradient,
    target: TargetOpt = None,
    contrast: ContrastOpt = None,
    position: PositionOpt = None,
    objective: ObjectiveOpt = "logit",
    top: TopOpt = None,
    reduce: ReduceOpt = "l2",
    steps: StepsOpt = 50,
    baseline: BaselineOpt = "zero",
    rule: RuleOpt = "midpoint",
    samples: SamplesOpt = 25,
    noise: NoiseOpt = 0.1,
    seed: SeedOpt = 0,
    occlude: OccludeOpt = "unk",
    vectors: VectorsOpt = False,
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Explain every record of FILES (or stdin) and stream the results to stdout."""
    from saliency import io
    from saliency.render import export, recording_console
    from saliency.summary import TokenSummary

    files = files or []
    if not files:
        if not stdin_is_piped():
            raise UsageError("give input FILES, or pipe records on stdin (see --help)")
        files = ["-"]
    output_format = output_format or ("text" if sys.stdout.isatty() else "jsonl")
    output_format = "jsonl" if output_format == "json" else output_format
    check_choice(output_format, OUTPUT_FORMATS, "--format")
    for path in files:
        io.detect_format(path, input_format)  # refuse a bad --input-format before any work
        if path != "-":
            io.open_text(path).close()  # a missing file is said before the model (and torch) loads
    explainer = load_model(model, engine=engine, device=device, batch_size=batch_size)
    options = dict(method=method.value, target=target, contrast=contrast, position=parse_position(position),
                   objective=objective, vectors=vectors, top=top, rule=rule,
                   **method_options(reduce, steps, baseline, samples, noise, seed, occlude))
    shown = output_format in ("text", "html")  # html: what text shows, recorded for one page at the end
    writer = None if shown else io.make_writer(output_format, sys.stdout)
    console = (stdout_console() if output_format == "text" else recording_console()) if shown else None
    tally = TokenSummary() if summary else None
    failed = done = 0
    progress = Progress(quiet, files)
    with progress:
        for window in io.windows(records(files, input_format, text_column), WINDOW):
            texts = [r.text for r in window if not r.error]
            results = iter(explainer.explain(texts, errors="return", **options)) if texts else iter(())
            for record in window:
                result = record.error or next(results)
                if isinstance(result, UsageError) and not isinstance(result, RecordUsageError):
                    raise result  # an option that fits no record: stop at once
                done += 1
                if isinstance(result, (str, Exception)):
                    failed += 1
                    progress.echo(f"Error: {record.source} record {record.index + 1}: {result}")
                    if writer:
                        writer.write(record, error=str(result))
                    continue
                if tally:
                    tally.add(result)
                if writer:
                    writer.write(record, result)
                else:
                    from saliency.render import explanation_text

                    console.print(f"record {record.index + 1} ({record.source})", style="dim", markup=False)
                    console.print(explanation_text(result, 3 if top is None else top))
            sys.stdout.flush()
            progress.advance(len(window))
    if tally:
        show_summary(tally, to_stdout=output_format == "text", to=console if output_format == "html" else None)
    if output_format == "html":
        sys.stdout.write(export([], "html", "saliency batch", recorder=console))
    if failed:
        fail(f"{failed} of {done} records failed", EXIT_RECORDS_FAILED)


def records(files, input_format, text_column):
    from saliency import io

    for path in files:
        yield from io.read_records(path, input_format, text_column)


class Progress:
    """A progress bar with rate and ETA on stderr, only when stderr is a terminal and not --quiet."""

    def __init__(self, quiet, files):
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from saliency.render import record_progress

            self.bar, self.task = record_progress(count_lines(files))

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def advance(self, n):
        if self.bar:
            self.bar.advance(self.task, n)

    def echo(self, message):
        if self.bar:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            typer.echo(message, err=True)


def count_lines(files):
    """Lines in the input files (minus CSV/TSV headers), for the ETA; None for stdin."""
    if "-" in files:
        return None
    total = 0
    for path in files:
        try:
            with open(path, "rb") as f:
                total += sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
        except OSError:
            return None
        if path.endswith((".csv", ".tsv")):
            total -= 1
    return total


def show_summary(tally, to_stdout, to=None):
    from saliency.render import console, simple_table

    columns = [("label", "left"), ("token", "left"), ("count", "right"), ("mean score", "right")]
    rows = [[str(r["label"]), r["token"], f"{r['count']} / {r['texts']}", f"{r['mean']:.4f}"] for r in tally.rows()]
    table = simple_table(columns, rows, title="tokens most often among a text's top 3, by label")
    (to or (stdout_console() if to_stdout else console(stderr=True))).print(table)
