"""saliency flip: the token swap(s) that change a prediction (HotFlip), verified by forward passes."""

from typing import Annotated, List, Optional

import typer

from saliency import load_model
from saliency.act.flip import flip as find_flip

from . import app
from .common import DeviceOpt, EngineOpt, ModelOpt, check_choice, stdout_console, user_errors

EXAMPLES = """
[b]Examples[/b]

  saliency flip "a gorgeous movie"
  saliency flip "the acting is wooden" --to positive --max-swaps 3
  saliency flip -m names-gru "Nakamura" --to Irish --max-swaps 2
  saliency flip "it is not bad at all" --keep not --keep bad --format json
"""
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Reach this label (name or index; language model: the next token) instead of leaving the predicted one.")]
CandidatesOpt = Annotated[int, typer.Option("--candidates", help="Per step, the K best first-order swaps plus the best swap at each of the K most promising positions are verified by forward passes (K at most 1000).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", metavar="text|json", help="text (for people) | json (one object).")]


@app.command(epilog=EXAMPLES)
@user_errors
def flip(
    text: Annotated[str, typer.Argument(help="The text whose prediction to flip.")],
    model: ModelOpt = None,
    to: ToOpt = None,
    max_swaps: Annotated[int, typer.Option("--max-swaps", help="Greedy swaps at most (1 to 50); stops once flipped.")] = 1,
    keep: Annotated[Optional[List[str]], typer.Option("--keep", help="A token never swapped (repeat for more).")] = None,
    candidates: CandidatesOpt = 32,
    output_format: FormatOpt = "text",
    engine: EngineOpt = "auto",
    device: DeviceOpt = "cpu",
):
    """Find the swap of one token (or up to --max-swaps) that changes the model's prediction for TEXT.

    Every replacement at every position is ranked by its first-order effect, dx_t . (e_new - e_old);
    the best are checked with real forward passes. Language models: the next token after TEXT.
    """
    output_format = check_choice(output_format, ("text", "json"), "--format")
    explainer = load_model(model, engine=auto_engine(engine, device), device=device)
    result = find_flip(explainer, text, to, max_swaps, keep or (), candidates)
    if output_format == "json":
        typer.echo(result.to_json())
    else:
        stdout_console().print(result)


def auto_engine(engine, device):
    # numpy starts in a fraction of torch's import time; torch for CUDA
    return ("numpy" if device == "cpu" else "torch") if engine == "auto" else engine
