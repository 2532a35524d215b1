"""saliency decay: how far back the model still looks, |dx_t| against the distance to the output."""

import json
from typing import Annotated

import typer

from . import app
from .common import Progress, check_choice, user_errors, warn
from .options import DataArg, Group, LimitOpt, ModelOptions, QuietOpt, RecordFormat, grouped
from .output import Results

EXAMPLES = """
[b]Examples[/b]

  saliency decay -m shakespeare-rnn passages.txt
  saliency decay -m shakespeare-lstm passages.txt -f json | jq '.rows[].share'
  saliency decay dev.tsv --limit 200 --format html > decay.html
"""


@app.command(epilog=EXAMPLES)
@user_errors
@grouped
def decay(
    data: DataArg,
    model: ModelOptions = Group(ModelOptions, "model", "objective", "engine", "device"),
    limit: LimitOpt = None,
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|html", help="text (a bar chart) | json (one object with rows) | html (a self-contained page).")] = "text",
    read: RecordFormat = Group(RecordFormat),
    quiet: QuietOpt = False,
):
    """The vanishing-gradient view: mean |dx_t| (and its share) by distance between t and the explained position.

    Language models: the prediction at the last position; classifiers: distance to the last token;
    taggers: signed distance t - p from every explained position p (left context negative).
    Distances are bucketed 0, 1, 2-3, 4-7, ...
    """
    from saliency import load_model
    from saliency.evaluation.decay import decay as run
    from saliency.evaluation.evaluate import read_limited
    from saliency.render import decay_chart

    output_format = check_choice(output_format, ("text", "json", "html"), "--format")
    explainer = load_model(model.model, engine=model.engine, device=model.device)
    records, skipped = read_limited(data, read.input_format, read.text_column, limit)
    with Progress(quiet, len(records)) as progress:
        result = run(explainer, records, model.objective, progress.advance)
    for number, reason in (skipped + result.pop("skipped"))[:5]:
        warn(f"record {number} skipped: {reason}")
    result = {"model": explainer.name, **result}
    results = Results(output_format, f"saliency decay {data}")
    results.show(view=lambda: decay_chart(result, explainer.name), json=lambda: json.dumps(result))
    results.close()
