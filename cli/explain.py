"""saliency explain: one text (or each piped line), coloured by token score, or as JSON."""

import sys
from typing import Annotated, Optional

import typer

from saliency.records.batch import ctrl_c_after_write
from saliency.compare import explain as explain_texts, method_names
from saliency.errors import EXIT_RECORDS_FAILED, InputError, RecordUsageError, UsageError
from saliency.pipeline import Explainer
from saliency.modelfile.registry import load_model_file

from . import app
from .common import (check_choice, fail, one_line, require_stdout, stdin_is_piped, stdin_lines, text_argument,
                     user_errors, warn)
from .options import Group, MethodOptions, ModelOptions, TopOpt, VectorsOpt, grouped
from .output import JSON, PAGES, Results

EXAMPLES = """
[b]Examples[/b]

  saliency explain "the acting is wooden but the score is gorgeous"
  saliency explain --method integrated-gradients -k 5 "a witty movie"
  saliency explain -m names-gru --target Irish --contrast English "O'Brien"
  saliency explain -m shakespeare-lstm --position all "To be or not"
  saliency explain -m ud-pos "I saw her duck under the table ."
  cat reviews.txt | saliency explain -f json - | jq .prediction
  saliency explain "a witty , gorgeous movie" -f svg > explained.svg
  saliency explain --method gradient,grad-input,lrp "a witty , gorgeous movie"
"""


@app.command(epilog=EXAMPLES)
@user_errors
@grouped
def explain(
    text: Annotated[Optional[str], typer.Argument(help="Text to explain; '-' or nothing with piped stdin: each line.")] = None,
    model: ModelOptions = Group(ModelOptions),
    method: MethodOptions = Group(MethodOptions),
    top: TopOpt = None,
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json|html|svg", help="text (for people) | json (one object; JSON Lines for stdin; jsonl is the same) | html | svg (a self-contained page or image, in the terminal's colours).")] = "text",
    vectors: VectorsOpt = False,
):
    """Explain which tokens drove the model's prediction for TEXT."""
    output_format = check_choice(output_format, ("text", "json", "jsonl") + PAGES, "--format")
    results = Results(output_format, "saliency explain")  # html/svg: every text on one page, written at the end
    require_stdout()
    if text is None and not stdin_is_piped():
        raise UsageError("give TEXT, or pipe lines on stdin (see --help)")
    if text is not None:
        text_argument(text)
    options = dict(method=method.method, **model.target_options(), vectors=vectors, top=top, **method.parameters())
    model_file = load_model_file(model.model)
    engine, device = model.engine, model.device
    if engine == "auto":
        engine = auto_engine(model_file, device, text, options)
    explainer = Explainer.from_model_file(model_file, engine=engine, device=device)
    if text is not None and text != "-":
        progress = work_progress()
        try:
            (result,) = explain_texts(explainer, [text], progress=progress, **options)
        finally:
            if progress:
                progress.close()
        show(result, results, top)
        results.close(empty_page=False)
        return
    failures = last_code = number = 0
    for number, (line, error) in enumerate(stdin_lines(), 1):
        result = InputError(error) if error else explain_texts(explainer, [line], errors="return", **options)[0]
        if isinstance(result, Exception):
            if isinstance(result, UsageError) and not isinstance(result, RecordUsageError):
                raise result
            failures, last_code = failures + 1, result.exit_code
            typer.echo(one_line(f"Error: record {number - 1}: {result}"), err=True)  # numbered from 0, as in batch
            continue
        with ctrl_c_after_write():  # Ctrl-C while the line is written: after it, not half way
            show(result, results, top)
    results.close(empty_page=False)
    if number == 0:
        raise InputError("no text: stdin was empty (give TEXT, or pipe lines)")
    if failures:
        fail(f"{failures} line(s) failed", last_code if failures == number else EXIT_RECORDS_FAILED)


def auto_engine(model_file, device, text, options) -> str:
    """--engine auto: one TEXT is weighed by its work, as batch weighs its input (a long occlusion
    goes to torch); stdin lines, of unknown number, go to numpy (it answers the first sooner)."""
    from saliency.attribution import DEFAULT_METHOD, make_method
    from saliency.engines.choose import LIVE, choose_engine, engine_for_text

    if device != "cpu" or text is None or text == "-":  # nothing to weigh: a GPU, or stdin's lines
        return choose_engine("auto", device, LIVE)
    parameters = {k: v for k, v in options.items() if k not in EXPLAIN_OPTIONS}
    methods = [make_method(name, **parameters) for name in method_names(options["method"] or DEFAULT_METHOD)]
    return engine_for_text(device, len(model_file.tokenizer.encode(text)), CostOfAll(methods))


class CostOfAll:
    """Several methods side by side, weighed as their summed work."""

    def __init__(self, methods):
        self.methods = methods

    def cost(self, tokens: int) -> float:
        return sum(m.cost(tokens) for m in self.methods)


EXPLAIN_OPTIONS = ("method", "target", "contrast", "position", "objective", "vectors", "top")


def work_progress():
    """A bar on stderr for a long explanation, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from saliency.render import WorkProgress

    return WorkProgress()


def show(explanation, results, top):
    def view():
        from saliency.render import explanation_text  # rich loads for the terminal view only

        return explanation_text(explanation, 3 if top is None else top)

    results.show(view=view, json=explanation.to_json)
    if results.format in JSON and explanation.completeness_warning():
        warn(explanation.completeness_warning())
