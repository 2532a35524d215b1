"""saliency models: the shipped models and their measured held-out figures."""

import json
from typing import Annotated

import typer

from saliency.modelfile.info import describe_shipped

from . import app
from .common import check_choice, user_errors
from .output import Results


@app.command("models")
@user_errors
def list_models(
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json", help="text | json (or jsonl: the same)")] = "text",
):
    """List the shipped models with their held-out accuracy or loss."""
    check_choice(output_format, ("text", "json", "jsonl"), "--format")
    rows = describe_shipped()
    Results(output_format).show(view=lambda: models_table(rows), json=lambda: json.dumps(rows, ensure_ascii=False))


def models_table(rows):
    from saliency.render import simple_table

    columns = [(c, "left") for c in ("name", "task", "architecture", "held-out")] + [("size", "right")]
    cells = [[r["name"] + (" (default)" if r["default"] else ""), r["task"], r["architecture"], r["held_out"],
              f"{r['bytes'] / 1e6:.1f} MB"] for r in rows]
    return simple_table(columns, cells)
