"""The `saliency` command: a thin typer layer over the library (installed as saliency.cli)."""

import os
import sys

# Before numpy loads: the numpy engine multiplies small matrices one timestep at a time, where
# OpenBLAS's thread hand-off costs far more than the arithmetic (measured: 23 ms vs 0.05 ms for a
# (9, 1024) x (1024, 128) product on 2 cores). A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from saliency.errors import EXIT_INTERRUPTED  # noqa: E402

app = typer.Typer(
    name="saliency",
    help="Which input tokens drove this prediction? Gradient saliency for character- and word-level RNNs.",
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,  # an expected failure is one line; a traceback is a bug
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)

from . import batch, explain, flip, inspect, models, prototype, reduce, train  # noqa: E402,F401  (each registers its command on app)


def main():
    # Broken pipes are handled in each command (common.user_errors), before click would exit 1.
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
