"""The `saliency` command: a thin typer layer over the library (installed as saliency.cli)."""

import os
import sys

import typer

app = typer.Typer(
    name="saliency",
    help="Which input tokens drove this prediction? Gradient saliency for character- and word-level RNNs.",
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,  # an expected failure is one line; a traceback is a bug
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)

from . import batch, explain, models, train  # noqa: E402,F401  (each registers its command on app)


def main():
    try:
        app()
    except BrokenPipeError:
        # `saliency ... | head`: the reader left. Say nothing, and keep Python from complaining
        # while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except KeyboardInterrupt:
        sys.exit(130)
