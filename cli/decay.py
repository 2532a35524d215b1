"""saliency decay: how far back the model still looks, |dx_t| against the distance to the output."""

import json
import sys
from typing import Annotated

import typer

from . import app
from .common import DeviceOpt, EngineOpt, ModelOpt, ObjectiveOpt, check_choice, stdout_console, user_errors, warn
from .common import Progress
from .evaluate import DataArg, InputFormatOpt, LimitOpt, QuietOpt, TextColumnOpt

EXAMPLES = """
[b]Examples[/b]

  saliency decay -m shakespeare-rnn passages.txt
  saliency decay -m shakespeare-lstm passages.txt -f json | jq '.rows[].share'
  saliency decay dev.tsv --limit 200 --format html > decay.html
"""


@app.command(epilog=EXAMPLES)
@user_errors
def decay(
    data: DataArg,
    model: ModelOpt = None,
    limit: LimitOpt = None,
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|html", help="text (a bar chart) | json (one object with rows) | html (a self-contained page).")] = "text",
    objective: ObjectiveOpt = "logit",
    input_format: InputFormatOpt = None,
    text_column: TextColumnOpt = None,
    quiet: QuietOpt = False,
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """The vanishing-gradient view: mean |dx_t| (and its share) by distance between t and the explained position.

    Language models: the prediction at the last position; classifiers: distance to the last token;
    taggers: signed distance t - p from every explained position p (left context negative).
    Distances are bucketed 0, 1, 2-3, 4-7, ...
    """
    from saliency import load_model
    from saliency.evaluation.decay import decay as run
    from saliency.evaluation.evaluate import read_limited
    from saliency.render import decay_chart, export

    output_format = check_choice(output_format, ("text", "json", "html"), "--format")
    explainer = load_model(model, engine=engine, device=device)
    records, skipped = read_limited(data, input_format, text_column, limit)
    with Progress(quiet, len(records)) as progress:
        result = run(explainer, records, objective, progress.advance)
    for number, reason in (skipped + result.pop("skipped"))[:5]:
        warn(f"record {number} skipped: {reason}")
    result = {"model": explainer.name, **result}
    if output_format == "json":
        typer.echo(json.dumps(result))
    elif output_format == "html":
        sys.stdout.write(export([decay_chart(result, explainer.name)], "html", f"saliency decay {data}"))
    else:
        stdout_console().print(decay_chart(result, explainer.name))
