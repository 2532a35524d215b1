"""saliency reduce: the shortest text, by dropping least salient tokens, that keeps the prediction."""

from typing import Annotated

import typer

from saliency import load_model
from saliency.act.reduce import reduce as reduce_input

from . import app
from .common import (DeviceOpt, EngineOpt, Method, MethodOpt, ModelOpt, check_choice, one_method, stdout_console,
                     user_errors)
from .flip import FormatOpt, auto_engine

EXAMPLES = """
[b]Examples[/b]

  saliency reduce "the acting is wooden but the score is gorgeous"
  saliency reduce -m names-gru "Nakamura" --format json
  saliency reduce "a gorgeous , witty movie ." --candidates 1
"""


@app.command(epilog=EXAMPLES)
@user_errors
def reduce(
    text: Annotated[str, typer.Argument(help="The text to reduce.")],
    model: ModelOpt = None,
    method: MethodOpt = Method.gradient,
    candidates: Annotated[int, typer.Option("--candidates", help="Least salient tokens tried per step (1: stop at the first removal that changes the label, as Feng et al.; at most 1000).")] = 5,
    output_format: FormatOpt = "text",
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Drop the least salient token of TEXT while the prediction stays the same (input reduction,
    Feng et al. 2018); print the shortest text that keeps the label, never an empty one."""
    output_format = check_choice(output_format, ("text", "json"), "--format")
    explainer = load_model(model, engine=auto_engine(engine, device), device=device)
    result = reduce_input(explainer, text, one_method(method), candidates)
    if output_format == "json":
        typer.echo(result.to_json())
    else:
        stdout_console().print(result)
