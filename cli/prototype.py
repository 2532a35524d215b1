"""saliency prototype: the text a label (or a language model's next token) responds to most."""

from typing import Annotated, Optional

import typer

from saliency import load_model
from saliency.act.prototype import prototype as build_prototype

from . import app
from .common import DeviceOpt, EngineOpt, ModelOpt, check_choice, stdout_console, user_errors
from .flip import CandidatesOpt, FormatOpt, auto_engine

EXAMPLES = """
[b]Examples[/b]

  saliency prototype --to positive
  saliency prototype --to negative --length 4 --seed 1
  saliency prototype --to positive --from "the movie was long ."
  saliency prototype -m names-gru --to Japanese --length 7
  saliency prototype -m shakespeare-lstm --to e --length 20
"""


@app.command(epilog=EXAMPLES)
@user_errors
def prototype(
    to: Annotated[str, typer.Option("--to", help="The label (name or index; language model: the next token) to build an input for.", show_default=False)],
    model: ModelOpt = None,
    start: Annotated[Optional[str], typer.Option("--from", help="Start from this text (default: --length unknown tokens).")] = None,
    length: Annotated[int, typer.Option("--length", help="Tokens in the starting text (1 to 200).")] = 8,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Start from --length vocabulary tokens drawn with this seed instead of unknown tokens.")] = None,
    candidates: CandidatesOpt = 32,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Swaps at most (1 to 1000).")] = 100,
    output_format: FormatOpt = "text",
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Build the input the model finds most typical of --to: swap tokens, guided by dx_t and
    checked by forward passes, while the target's logit rises (a language model: the context
    that most predicts the next token --to). Deterministic: the same start gives the same result."""
    output_format = check_choice(output_format, ("text", "json"), "--format")
    explainer = load_model(model, engine=auto_engine(engine, device), device=device)
    result = build_prototype(explainer, to, start, length, seed, candidates, max_steps)
    if output_format == "json":
        typer.echo(result.to_json())
    else:
        stdout_console().print(result)
