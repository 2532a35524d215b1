"""The `saliency` command: a thin typer layer over the library (installed as saliency.cli)."""

import os
import sys

# Before numpy loads: the numpy engine multiplies small matrices one timestep at a time, where
# OpenBLAS's thread hand-off costs far more than the arithmetic (measured: 23 ms vs 0.05 ms for a
# (9, 1024) x (1024, 128) product on 2 cores). A user's own setting wins.
# It stays here, not beside the numpy engine that needs it: OpenBLAS reads it once, as numpy first
# loads, and `import saliency` loads numpy (tokenize, explanation) before any engine is chosen; set
# by the library it would also cut a Python user's own numpy work to one thread. Processes the CLI
# starts inherit it. Per call, threads.fitted_blas cuts BLAS to the free cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from saliency.errors import EXIT_INTERRUPTED  # noqa: E402

# click's base exception, whether typer uses click or its own copy of it (typer 0.28: typer._click).
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class Commands(TyperGroup):
    """typer's group, with its usage errors as plain lines instead of a box:
    `Error: No such option: --bogus` and the `Try 'saliency explain --help' for help.` hint."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except ClickException as e:
            if type(e).__name__ != "NoArgsIsHelpError":  # `saliency` alone: the help was printed
                typer.echo(f"Error: {e.format_message()}", err=True)
                ctx = getattr(e, "ctx", None)
                if ctx is not None:
                    typer.echo(f"Try '{ctx.command_path} --help' for help.", err=True)
            code = e.exit_code
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    name="saliency",
    cls=Commands,
    help="Which input tokens drove this prediction? Gradient saliency for character- and word-level RNNs.",
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,  # an expected failure is one line; a traceback is a bug
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
)


def show_version(value: bool):
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"saliency {version('saliency')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("saliency (not installed)")
        raise typer.Exit()


@app.callback()
def options(
    _version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                           help="Print the version and exit.")] = False,
):
    """Which input tokens drove this prediction? Gradient saliency for character- and word-level RNNs."""


# Each module registers its command on app; `saliency --help` lists them in this order.
from . import explain, batch, evaluate, decay, flip, inspect, models, prototype, reduce, train  # noqa: E402,F401,I001


def main():
    # Broken pipes are handled in each command (common.user_errors), before click would exit 1.
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
