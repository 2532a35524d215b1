"""saliency evaluate: faithfulness, plausibility, agreement and the randomisation sanity check."""

import json
import sys
from typing import Annotated, Optional

import typer

from saliency.errors import InputError, UsageError

from . import app
from .common import (BaselineOpt, BiasFactorOpt, DeviceOpt, EngineOpt, EpsilonOpt, ModelOpt, NoiseOpt, ObjectiveOpt,
                     OccludeOpt, Progress, ReduceOpt, SamplesOpt, StepsOpt, ToleranceOpt, check_choice, method_options,
                     stdout_console, user_errors, warn)

EXAMPLES = """
[b]Examples[/b]

  saliency evaluate dev.tsv --limit 200
  saliency evaluate dev.tsv --methods gradient,occlusion --randomize
  saliency evaluate data.jsonl --rationale-field why -f json | jq .methods
  saliency evaluate dev.tsv --format html > evaluation.html
"""
DataArg = Annotated[str, typer.Argument(help="Records to evaluate on (txt, csv, tsv, jsonl; '-' = stdin).", show_default=False)]
InputFormatOpt = Annotated[Optional[str], typer.Option(metavar="txt|csv|tsv|jsonl|conllu|tags", help="txt | csv | tsv | jsonl | conllu | tags (default: from the extension; stdin: txt).")]
TextColumnOpt = Annotated[Optional[str], typer.Option("--text-field", help="CSV/TSV column or JSON field holding the text (default text or sentence).")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Only the first N records.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def parse_methods(spec):
    from saliency.attribution import METHODS

    return tuple(METHODS) if not spec else tuple(m.strip() for m in spec.split(",") if m.strip())


@app.command(epilog=EXAMPLES)
@user_errors
def evaluate(
    data: DataArg,
    model: ModelOpt = None,
    methods: Annotated[Optional[str], typer.Option("--methods", help="Comma-separated methods to score (default: every method); a random ranking is always scored as the floor.")] = None,
    removal: Annotated[str, typer.Option("--removal", metavar="delete|unk", help="How a token is removed: delete (from the sequence) | unk (replaced by <unk>).")] = "delete",
    label_field: Annotated[Optional[str], typer.Option("--label-field", metavar="NAME", help="Record field holding the gold label (a label name or index; default: a 'label' column holding the model's labels): adds accuracy, a confusion table and the metrics over right and wrong predictions apart.")] = None,
    rationale_field: Annotated[Optional[str], typer.Option("--rationale-field", help="Record field holding a human rationale (a list of words, or of character spans given as start, end pairs): adds plausibility.")] = None,
    randomize: Annotated[bool, typer.Option("--randomize", help="Sanity check: randomise the weights from the head down and compare the maps (Adebayo et al. 2018).")] = False,
    limit: LimitOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random floor, smoothgrad's noise and the randomised weights.")] = 0,
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|html", help="text (tables) | json (one object) | html (a self-contained page).")] = "text",
    input_format: InputFormatOpt = None,
    text_column: TextColumnOpt = None,
    quiet: QuietOpt = False,
    objective: ObjectiveOpt = "logit",
    reduce: ReduceOpt = "l2",
    steps: StepsOpt = 50,
    tolerance: ToleranceOpt = 0.01,
    baseline: BaselineOpt = "zero",
    samples: SamplesOpt = 25,
    noise: NoiseOpt = 0.1,
    occlude: OccludeOpt = "unk",
    epsilon: EpsilonOpt = 0.001,
    bias_factor: BiasFactorOpt = 0.0,
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Can the map be trusted? Score each method's maps over the records of DATA.

    Comprehensiveness and sufficiency (ERASER), agreement with leave-one-out (loo tau), agreement
    between methods, plausibility against human rationales, and with --randomize the cascading
    randomisation check; a random ranking is the floor.
    """
    from saliency.evaluation.evaluate import EvalSettings, evaluate as run, read_limited, work_units
    from saliency.pipeline import Explainer
    from saliency.evaluation.randomize import flagged
    from saliency.modelfile.registry import load_model_file

    output_format = check_choice(output_format, ("text", "json", "html"), "--format")
    settings = EvalSettings(parse_methods(methods), removal, seed, rationale_field, randomize, objective,
                            method_options(reduce, steps, baseline, samples, noise, seed, occlude, tolerance,
                                           epsilon, bias_factor))
    settings.check()
    model_file = load_model_file(model)
    explainer = Explainer.from_model_file(model_file, engine=engine, device=device)
    records, skipped = read_limited(data, input_format, text_column, limit)
    if not records:
        raise InputError(f"{data}: no records to evaluate") if not skipped else InputError(
            f"{data}: no usable record ({skipped[0][1]} at record {skipped[0][0]})")
    if not model_file.config.per_position:  # a language model is refused by evaluate; a tagger reads its tags
        from saliency.records.gold import detect_field

        settings.label_field, note = detect_field(records, model_file.labels, label_field)
        if note:
            typer.echo(note, err=True)
    with Progress(quiet, work_units(len(records), settings, model_file.config)) as progress:
        result = run(explainer, records, settings, model_file, progress.advance)
    for number, reason in (skipped + result.skipped)[:5]:
        warn(f"record {number} skipped: {reason}")
    if len(skipped + result.skipped) > 5:
        warn(f"{len(skipped + result.skipped)} records skipped in all")
    suspicious = flagged(result.summary["randomization"])
    if suspicious:
        warn(f"{', '.join(suspicious)}: the map barely changes when the model is randomised "
             "(it does not depend on what the model learned)")
    show(result.summary, output_format, suspicious, f"saliency evaluate {data}")


def show(summary, output_format, suspicious, title):
    from saliency.render import evaluation_view, export

    if output_format == "json":
        typer.echo(json.dumps(summary))
    elif output_format == "html":
        sys.stdout.write(export([evaluation_view(summary, suspicious)], "html", title))
    else:
        stdout_console().print(evaluation_view(summary, suspicious))
