"""What the commands share: error handling, consoles, stdin (their options: options.py; results: output.py)."""

import errno
import functools
import os
import re
import sys

import typer

from saliency.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, InputError, OutputError, SaliencyError, UsageError


def editing_engine(engine: str, device: str) -> str:
    """--engine auto for flip, reduce and prototype: numpy starts in a fraction of torch's import
    time; torch for CUDA."""
    from saliency.engines.choose import LIVE, choose_engine

    return choose_engine(engine, device, LIVE)  # one text: numpy answers first on the CPU; torch for CUDA


def user_errors(func):
    """Turn a SaliencyError into one line on stderr and its exit code (SALIENCY_DEBUG=1 re-raises)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            try:
                return func(*args, **kwargs)
            finally:
                flush_stdout()  # here, not at exit, so a full disk is reported like any other error
        except SaliencyError as e:
            if os.environ.get("SALIENCY_DEBUG"):
                raise
            if isinstance(e, OutputError):
                discard_stdout()
            fail(str(e), e.exit_code)
        except BrokenPipeError:
            # `saliency ... | head`: the reader left. Say nothing. 141 = 128 + SIGPIPE, as other tools exit.
            discard_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except OSError as e:
            if not is_write_failure(e):
                raise
            discard_stdout()
            fail(f"cannot write the output: {e.strerror}", OutputError.exit_code)
        except KeyboardInterrupt as e:
            # Ctrl-C: every record already written is a whole line; say how we ended, exit 130
            # (a write stopped by SIGTERM says what it left as it was, and exits 143).
            typer.echo(f"interrupted: {e}" if str(e) else "interrupted", err=True)
            raise typer.Exit(getattr(e, "exit_code", EXIT_INTERRUPTED)) from None

    return wrapper


def discard_stdout():
    """Point stdout at /dev/null, so the flush at exit cannot complain about what is left unwritten."""
    if sys.stdout is not None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_stdout():
    if sys.stdout is not None:
        sys.stdout.flush()


def require_stdout():
    """`saliency ... >&-` starts with no stdout: say so instead of writing nothing and exiting 0."""
    if sys.stdout is None:
        raise OutputError("stdout is closed; redirect it to a file or /dev/null")


def is_write_failure(e: OSError) -> bool:
    """An OSError from writing stdout (disk full, device gone), as opposed to a bug elsewhere:
    reading errors name their file and are InputError/ModelError by the time they get here."""
    return e.filename is None and e.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT, errno.EFBIG)


def fail(message: str, code: int):
    typer.echo(f"Error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def one_line(message: str) -> str:
    """A message whose parts came from users or files (a vocabulary holding "\\n", a label with a
    tab) as one line: control characters shown escaped, as Python writes them in a string."""
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(message))


CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def warn(message: str):
    typer.echo(f"warning: {one_line(message)}", err=True)


def stdout_console():
    from saliency.render import console

    return console()


def stdin_lines():
    """Lines of piped stdin as (text or None, error or None); bad UTF-8 is an error for that line only."""
    for number, raw in enumerate(sys.stdin.buffer):
        if number == 0:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is not text
        try:
            yield raw.decode("utf-8").rstrip("\r\n"), None
        except UnicodeDecodeError as e:
            yield None, f"not valid UTF-8 (byte {e.start})"


def stdin_is_piped() -> bool:
    try:
        return not sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def text_argument(text: str) -> str:
    """The TEXT argument as given. Bytes that are not UTF-8 reach Python as lone surrogates
    (surrogateescape); refuse them here, before they reach a printer or a JSON encoder."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputError(f"TEXT is not valid UTF-8 (character {e.start})") from None
    return text


def check_choice(value: str, choices, option: str) -> str:
    """The value if it is one of choices. For --format, json and jsonl name the same thing in
    every command (one object per line), so each is taken where the other is the name."""
    if option == "--format" and value not in choices:
        value = {"json": "jsonl", "jsonl": "json"}.get(value, value)
        if value not in choices:
            raise UsageError(f"--format: {value!r} is not one of {', '.join(choices)}")
        return value
    if value not in choices:
        raise UsageError(f"{option}: {value!r} is not one of {', '.join(choices)}")
    return value


class Progress:
    """A progress bar with rate and ETA on stderr, only when stderr is a terminal and not --quiet.

    `total` is a number, None (no ETA), or a function giving one: it is called only when a bar
    is shown, so counting an input's lines costs nothing when piped."""

    def __init__(self, quiet, total=None):
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from saliency.render import record_progress

            self.bar, self.task = record_progress(total() if callable(total) else total)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def advance(self, n, refresh=False):
        if self.bar:
            self.bar.update(self.task, advance=n, refresh=refresh)

    def echo(self, message):
        if self.bar:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            typer.echo(message, err=True)
