"""saliency models: the shipped models and their measured held-out figures."""

import json
from typing import Annotated

import typer

from saliency.modelfile.info import describe_shipped

from . import app
from .common import check_choice, stdout_console, user_errors


@app.command("models")
@user_errors
def list_models(
    output_format: Annotated[str, typer.Option("--format", "-f", metavar="text|json", help="text | json (or jsonl: the same)")] = "text",
):
    """List the shipped models with their held-out accuracy or loss."""
    check_choice(output_format, ("text", "json", "jsonl"), "--format")
    rows = describe_shipped()
    if output_format != "text":
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    from saliency.render import simple_table

    columns = [(c, "left") for c in ("name", "task", "architecture", "held-out")] + [("size", "right")]
    cells = [[r["name"] + (" (default)" if r["default"] else ""), r["task"], r["architecture"], r["held_out"],
              f"{r['bytes'] / 1e6:.1f} MB"] for r in rows]
    stdout_console().print(simple_table(columns, cells))
