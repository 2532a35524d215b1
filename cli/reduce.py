"""saliency reduce: the shortest text, by dropping least salient tokens, that keeps the prediction."""

from typing import Annotated

import typer

from saliency import load_model
from saliency.act.reduce import reduce as reduce_input

from . import app
from .common import check_choice, editing_engine, user_errors
from .options import EditFormatOpt, Group, MethodOptions, ModelOptions, grouped
from .output import Results

EXAMPLES = """
[b]Examples[/b]

  saliency reduce "the acting is wooden but the score is gorgeous"
  saliency reduce -m names-gru "Nakamura" --format json
  saliency reduce "a gorgeous , witty movie ." --candidates 1
"""


@app.command(epilog=EXAMPLES)
@user_errors
@grouped
def reduce(
    text: Annotated[str, typer.Argument(help="The text to reduce.")],
    model: ModelOptions = Group(ModelOptions, "model", "engine", "device"),
    method: MethodOptions = Group(MethodOptions, method="gradient"),
    candidates: Annotated[int, typer.Option("--candidates", help="Least salient tokens tried per step (1: stop at the first removal that changes the label, as Feng et al.; at most 1000).")] = 5,
    output_format: EditFormatOpt = "text",
):
    """Drop the least salient token of TEXT while the prediction stays the same (input reduction,
    Feng et al. 2018); print the shortest text that keeps the label, never an empty one."""
    output_format = check_choice(output_format, ("text", "json"), "--format")
    explainer = load_model(model.model, engine=editing_engine(model.engine, model.device), device=model.device)
    result = reduce_input(explainer, text, method.one(), candidates, **method.parameters())

    def view():
        from saliency.render import reduce_text  # rich loads for the terminal view only

        return reduce_text(result)

    Results(output_format).show(view=view, json=result.to_json)
