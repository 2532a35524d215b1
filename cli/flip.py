"""saliency flip: the token swap(s) that change a prediction (HotFlip), verified by forward passes."""

from typing import Annotated, List, Optional

import typer

from saliency import load_model
from saliency.act.flip import flip as find_flip

from . import app
from .common import check_choice, editing_engine, user_errors
from .options import CandidatesOpt, EditFormatOpt, Group, ModelOptions, grouped
from .output import Results

EXAMPLES = """
[b]Examples[/b]

  saliency flip "a gorgeous movie"
  saliency flip "the acting is wooden" --to positive --max-swaps 3
  saliency flip -m names-gru "Nakamura" --to Irish --max-swaps 2
  saliency flip "it is not bad at all" --keep not --keep bad --format json
"""
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Reach this label (name or index; language model: the next token) instead of leaving the predicted one.")]


@app.command(epilog=EXAMPLES)
@user_errors
@grouped
def flip(
    text: Annotated[str, typer.Argument(help="The text whose prediction to flip.")],
    model: ModelOptions = Group(ModelOptions, "model", "engine", "device"),
    to: ToOpt = None,
    max_swaps: Annotated[int, typer.Option("--max-swaps", help="Greedy swaps at most (1 to 50); stops once flipped.")] = 1,
    keep: Annotated[Optional[List[str]], typer.Option("--keep", help="A token never swapped (repeat for more).")] = None,
    candidates: CandidatesOpt = 32,
    output_format: EditFormatOpt = "text",
):
    """Find the swap of one token (or up to --max-swaps) that changes the model's prediction for TEXT.

    Every replacement at every position is ranked by its first-order effect, dx_t . (e_new - e_old);
    the best are checked with real forward passes. Language models: the next token after TEXT.
    """
    output_format = check_choice(output_format, ("text", "json"), "--format")
    explainer = load_model(model.model, engine=editing_engine(model.engine, model.device), device=model.device)
    result = find_flip(explainer, text, to, max_swaps, keep or (), candidates)

    def view():
        from saliency.render import flip_text  # rich loads for the terminal view only

        return flip_text(result)

    Results(output_format).show(view=view, json=result.to_json)
