"""saliency batch: explain every record of files or stdin, streaming, in input order."""

import contextlib
import os
import stat
import sys
from typing import Annotated, List, Optional

import typer

from saliency.records.batch import Sink, in_shard
from saliency.errors import EXIT_RECORDS_FAILED, InputError, ModelError, UsageError
from saliency.pipeline import Explainer
from saliency.modelfile.registry import load_model_file

from . import app
from .common import (BaselineOpt, BiasFactorOpt, ContrastOpt, DeviceOpt, EngineOpt, EpsilonOpt, Method, MethodOpt,
                     ModelOpt, NoiseOpt, ObjectiveOpt, OccludeOpt, PositionOpt, Progress, ReduceOpt, RuleOpt,
                     SamplesOpt, SeedOpt, StepsOpt, TargetOpt, TopOpt, VectorsOpt, check_choice, fail, method_options,
                     one_line, one_method, require_stdout, stdin_is_piped, stdout_console, ToleranceOpt, user_errors)
from .explain import parse_position

EXAMPLES = """
[b]Examples[/b]

  saliency batch reviews.txt > scores.jsonl
  saliency batch dev.tsv -f csv --method integrated-gradients > tokens.csv
  cat reviews.jsonl | saliency batch - --text-field review | jq .prediction
  saliency batch dev.tsv --summary --quiet > /dev/null
"""
OUTPUT_FORMATS = ("jsonl", "csv", "tsv", "text", "html")
EXPLAIN_OPTIONS = ("method", "target", "contrast", "position", "objective", "vectors", "top")
RAY_PANEL = "Scaling out (Ray)"


@app.command(epilog=EXAMPLES)
@user_errors
def batch(
    files: Annotated[Optional[List[str]], typer.Argument(help="Input files (txt, csv, tsv, jsonl); '-' or none with piped stdin: stdin.", show_default=False)] = None,
    input_format: Annotated[Optional[str], typer.Option(metavar="txt|csv|tsv|jsonl|conllu|tags", help="txt | csv | tsv | jsonl | conllu | tags (token<TAB>tag lines) (default: from the extension; stdin: jsonl if its first line is a JSON object, else txt).")] = None,
    text_column: Annotated[Optional[str], typer.Option("--text-field", help="CSV/TSV column or JSON field holding the text (default text or sentence).")] = None,
    output_format: Annotated[Optional[str], typer.Option("--format", "-f", metavar="jsonl|csv|tsv|text|html", help="jsonl (or json; default off a terminal) | csv | tsv | text (default on a terminal) | html (one self-contained page, as text shows it).")] = None,
    summary: Annotated[bool, typer.Option("--summary", help="After the records, the tokens that most often drove the prediction, by predicted label (with gold labels also by gold label and by confusion pair); on stderr unless --format text.")] = False,
    label_field: Annotated[Optional[str], typer.Option("--label-field", metavar="NAME", help="Column or JSON field holding each record's gold label (a label name or index; default: a 'label' column holding the model's labels, said on stderr). Each record gets gold and correct.")] = None,
    errors_only: Annotated[bool, typer.Option("--errors-only", help="Write only the records whose prediction is not the gold label (and failed records).")] = False,
    flip: Annotated[bool, typer.Option("--flip", help="Add each record's best single swap (as saliency flip gives it) to its JSON; --summary then gives the share of records one swap flips, by label.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward/backward pass.")] = 64,
    shard: Annotated[Optional[str], typer.Option("--shard", metavar="K/N", help="Only shard K of N (K from 1): every Nth block of 512 records, from block K-1. Records keep their numbers; N processes split the work, and their outputs sorted by record equal one unsharded run.")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run on Ray Data: a pool of workers, each loading the model once; JSONL in input order. Needs the optional Ray extra (docs/scaling.md).", rich_help_panel=RAY_PANEL)] = False,
    num_workers: Annotated[int, typer.Option("--num-workers", min=1, help="--ray: workers (one CPU, or with --device cuda one GPU, each).", rich_help_panel=RAY_PANEL)] = 2,
    address: Annotated[Optional[str], typer.Option("--address", help="--ray: join this cluster (auto or HOST:PORT); default a local one.", rich_help_panel=RAY_PANEL)] = None,
    output_dir: Annotated[Optional[str], typer.Option("--output-dir", help="--ray: the workers write part-N.jsonl files here (in name order: the whole output) instead of stdout.", rich_help_panel=RAY_PANEL)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="--output-dir: remove part files of an earlier run there first (else they are refused).", rich_help_panel=RAY_PANEL)] = False,
    model: ModelOpt = None,
    method: MethodOpt = Method.grad_input,
    target: TargetOpt = None,
    contrast: ContrastOpt = None,
    position: PositionOpt = None,
    objective: ObjectiveOpt = "logit",
    top: TopOpt = None,
    reduce: ReduceOpt = "l2",
    steps: StepsOpt = 50,
    tolerance: ToleranceOpt = 0.01,
    baseline: BaselineOpt = "zero",
    rule: RuleOpt = "midpoint",
    samples: SamplesOpt = 25,
    noise: NoiseOpt = 0.1,
    seed: SeedOpt = 0,
    occlude: OccludeOpt = "unk",
    epsilon: EpsilonOpt = 0.001,
    bias_factor: BiasFactorOpt = 0.0,
    vectors: VectorsOpt = False,
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Explain every record of FILES (or stdin) and stream the results to stdout."""
    from saliency.records import io
    from saliency.records.batch import explain_windows, parse_shard, read_inputs, write_results
    from saliency.render import export

    require_stdout()
    files = files or []
    if not files:
        if not stdin_is_piped():
            raise UsageError("give input FILES, or pipe records on stdin (see --help)")
        files = ["-"]
    output_format = output_format or ("text" if sys.stdout.isatty() else "jsonl")
    output_format = "jsonl" if output_format == "json" else output_format
    check_choice(output_format, OUTPUT_FORMATS, "--format")
    shard = parse_shard(shard) if shard is not None else None
    for path in files:  # refuse a bad --input-format or --text-field before any work
        io.check_text_field(path, io.detect_format(path, input_format), text_column)
        if path != "-":
            io.open_text(path).close()  # a missing file is said before the model (and torch) loads
    options = dict(method=one_method(method), target=target, contrast=contrast, position=parse_position(position),
                   objective=objective, vectors=vectors, top=top, rule=rule,
                   **method_options(reduce, steps, baseline, samples, noise, seed, occlude, tolerance, epsilon,
                                    bias_factor))
    if flip and (output_format in ("csv", "tsv") or ray):
        raise UsageError("--flip adds to each JSON record: use --format jsonl or text, without --ray")
    records = read_inputs(files, input_format, text_column)
    model_file, engine = batch_engine(model, engine, device, files, options, remote=address is not None)
    if ray or output_dir or address:
        check_ray_options(ray, output_format, shard, summary or label_field or errors_only)
        done, failed = on_ray(model, records, num_workers, address, output_dir,
                              dict(engine=engine, device=device, batch_size=batch_size), options, overwrite)
        if not done:
            raise InputError(NO_RECORDS)
        if failed:
            fail(f"{failed} of {done} records failed", EXIT_RECORDS_FAILED)
        return
    explainer = Explainer.from_model_file(model_file, engine=engine, device=device, batch_size=batch_size)
    records, gold_field = gold_labels(records, model_file, label_field, errors_only)
    with Output(output_format, summary, top, BatchProgress(quiet, files, shard)) as output:
        if flip and summary:
            from saliency.act.flip import FlipTally

            output.flips = FlipTally()
        results = explain_windows(explainer, records, shard=shard, follow=live_stdin(files), flip=flip, **options)
        if gold_field:
            from saliency.records.gold import with_gold

            results = with_gold(results, gold_field, model_file.labels, errors_only)
        done, failed = write_results(results, output)
    if summary:
        show_summary(output.tally, to_stdout=output_format == "text",
                     to=output.console if output_format == "html" else None)
    if output.flips:
        show_flip_summary(output.flips, to_stdout=output_format == "text",
                          to=output.console if output_format == "html" else None)
    if output_format == "html":  # what text shows, recorded for one page at the end
        sys.stdout.write(export([], "html", "saliency batch", recorder=output.console))
    if not done and shard is None:  # as explain and evaluate: empty input is bad input (exit 3); a shard may be empty
        raise InputError(NO_RECORDS)
    if shard and not done:
        typer.echo(f"shard {shard[0]}/{shard[1]} holds no records: it takes every {shard[1]}th window of 512 "
                   f"records from window {shard[0] - 1}, and the input has fewer", err=True)
    if failed:
        fail(f"{failed} of {done} records failed", EXIT_RECORDS_FAILED)


NO_RECORDS = "no records: the input is empty"


def batch_engine(model, engine, device, files, options, remote=False):
    """(model file, engine): `auto` weighs the input's size (engines.engine_for_input), for one
    process and for Ray's workers alike. On a remote Ray cluster (`remote`: --address) the model
    may exist only where the workers run: it is then not needed here (None), and auto, unable to
    read its tokenizer, counts word tokens."""
    from saliency.attribution import make_method
    from saliency.engines.choose import engine_for_input, input_size

    model_file = None
    if not remote or engine == "auto":
        try:
            model_file = load_model_file(model)
        except ModelError:
            if not remote:
                raise
    if engine == "auto":
        method_params = {k: v for k, v in options.items() if k not in EXPLAIN_OPTIONS}
        method = make_method(options["method"], **method_params)
        level = model_file.tokenizer.level if model_file else "word"
        engine = engine_for_input(device, level, input_size(files), method)
    return model_file, engine


def check_ray_options(ray, output_format, shard, summary):
    if not ray:
        raise UsageError("--output-dir and --address go with --ray")
    if output_format != "jsonl":
        raise UsageError(f"--ray writes JSONL, not --format {output_format}")
    if shard or summary:
        raise UsageError(f"--ray takes no {'--shard (Ray splits the work itself)' if shard else '--summary'}"
                         f"{'' if shard or summary is True else ', --label-field or --errors-only'}")


def gold_labels(records, model_file, label_field, errors_only):
    """(records, the field holding gold labels or None). Without --label-field, a `label` field
    of the first records is used when it holds the model's labels; stderr says which was found."""
    from itertools import chain

    from saliency.records.gold import detect_field

    if model_file.config.per_position:
        if label_field or errors_only:
            raise UsageError("--label-field and --errors-only need a classifier (a language model has no gold labels; "
                             "a tagger's gold tags are read from the data itself)")
        return records, None
    records, first = iter(records), []
    for record in records:  # up to the first usable record only: a live pipe's next line may be far off
        first.append(record)
        if record.fields or not record.error or len(first) == 16:
            break
    field, note = detect_field(first, model_file.labels, label_field)
    if note:
        typer.echo(note, err=True)
    if errors_only and not field:
        raise UsageError("--errors-only needs gold labels: name their column with --label-field")
    return chain(first, records), field


def on_ray(model, records, workers, address, output_dir, load_options, options, overwrite=False):
    from saliency.records.ray import explain_on_ray, import_ray, write_lines

    import_ray()  # before anything starts: without Ray, one line with the install command
    lines = explain_on_ray(model, records, workers=workers, address=address, output_dir=output_dir,
                           load_options=load_options, overwrite=overwrite, **options)
    with stdout_for_results_only() as results, contextlib.closing(lines):  # Ray shuts down before fd 1 returns
        return write_lines(lines, results, lambda out: typer.echo(
            one_line(f"Error: {out.source} record {out.record}: {out.error}"), err=True))


@contextlib.contextmanager
def stdout_for_results_only():
    """A stream on the real stdout for our lines, while file descriptor 1 points at stderr: Ray's
    processes and log threads print there ("(raylet) A worker died ..."), and none of it may
    reach the results. Restored at the end."""
    try:
        fd = sys.stdout.fileno()
        sys.stdout.flush()
        saved = os.dup(fd)
    except (OSError, AttributeError, ValueError):  # an in-memory stdout (a test runner's): nothing to guard
        yield sys.stdout
        return
    os.dup2(sys.stderr.fileno(), fd)
    results = open(saved, "w", encoding="utf-8", closefd=False)
    try:
        yield results
    finally:
        try:
            results.flush()
        finally:
            os.dup2(saved, fd)
            os.close(saved)


class Output(Sink):
    """Results to stdout: a JSONL/CSV/TSV writer, or rendered text above the progress bar."""

    def __init__(self, output_format, summary, top, progress):
        from saliency.records import io
        from saliency.evaluation.summary import TokenSummary

        from saliency.render import recording_console

        shown = output_format in ("text", "html")
        self.writer = None if shown else io.make_writer(output_format, sys.stdout)
        self.tally = TokenSummary() if summary else None
        self.flips = None  # batch --flip --summary: a hotflip.FlipTally
        self.progress, self.top = progress, 3 if top is None else top
        self.console = progress.stdout() if output_format == "text" else recording_console() if shown else None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def write(self, result):
        record, explanation = result.record, result.explanation
        if self.writer:
            self.writer.write(record, explanation, result.error)
        elif explanation is not None:
            from saliency.render import explanation_text

            self.console.print(f"record {record.index} ({record.source})", style="dim", markup=False)
            self.console.print(explanation_text(explanation, self.top))
            if explanation.flip is not None:
                self.console.print(explanation.flip)
        if self.tally and explanation is not None:
            self.tally.add(explanation)
        if self.flips and explanation is not None:
            self.flips.add(explanation)
        self.progress.advance(1, refresh=self.console is not None)  # text: redraw the bar under the record

    def report(self, result):
        self.progress.echo(one_line(f"Error: {result.record.source} record {result.record.index}: {result.error}"))

    def flush(self):
        sys.stdout.flush()


class BatchProgress(Progress):
    """The shared bar, its total counted from the input files (only when a bar is shown)."""

    def __init__(self, quiet, files, shard=None):
        super().__init__(quiet, lambda: shard_total(files, shard))

    def stdout(self):
        """The console for text records: the bar's own when stdout is the bar's terminal, so
        records print above the live bar instead of through it; else a console on stdout."""
        if self.bar and same_terminal():
            return self.bar.console
        return stdout_console()


def shard_total(files, shard):
    from saliency.records.io import Record

    total = count_lines(files)
    if total is not None and shard:
        total = sum(in_shard(Record(i), shard) for i in range(total))
    return total


def live_stdin(files) -> bool:
    """Records from a pipe or terminal are answered as they arrive (a file fills whole windows)."""
    try:
        return "-" in files and not stat.S_ISREG(os.fstat(sys.stdin.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return "-" in files


def same_terminal() -> bool:
    try:
        return sys.stdout.isatty() and os.ttyname(sys.stdout.fileno()) == os.ttyname(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False


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


SUMMARY_TITLES = {"predicted": ("predicted label", 10), "gold": ("gold label", 10),
                  "confusion": ("confusion pair (gold -> predicted)", 5)}


def show_summary(tally, to_stdout, to=None):
    from saliency.render import console, simple_table

    out = to or (stdout_console() if to_stdout else console(stderr=True))
    for group in tally.groups():
        name, top = SUMMARY_TITLES[group]
        columns = [(name.split(" (")[0], "left"), ("token", "left"), ("count", "right"), ("mean score", "right")]
        rows = [[str(r["label"]), r["token"], f"{r['count']} / {r['texts']}", f"{r['mean']:.4f}"]
                for r in tally.rows(top, group)]
        out.print(simple_table(columns, rows, title=f"tokens most often among a text's top 3, by {name}"))


def show_flip_summary(flips, to_stdout, to=None):
    from saliency.render import console, simple_table

    columns = [("predicted", "left"), ("records", "right"), ("one swap flips", "right"), ("share", "right")]
    rows = [[str(r["label"]), str(r["records"]), str(r["flipped"]), f"{r['share']:.3f}"] for r in flips.rows()]
    table = simple_table(columns, rows, title="records one swap flips, by predicted label")
    (to or (stdout_console() if to_stdout else console(stderr=True))).print(table)
