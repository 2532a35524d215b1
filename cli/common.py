"""What the commands share: option definitions, error handling, consoles, stdin."""

import errno
import functools
import os
import re
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from saliency.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, InputError, OutputError, SaliencyError, UsageError


class Method(str, Enum):
    gradient = "gradient"
    grad_input = "grad-input"
    integrated_gradients = "integrated-gradients"
    smoothgrad = "smoothgrad"
    occlusion = "occlusion"
    lrp = "lrp"


class Methods(str):
    """--method a,b,c (explain: methods side by side); .value as a Method has."""

    @property
    def value(self) -> str:
        return str(self)


def method_value(value):
    """--method: one method, or (explain) several joined by commas."""
    if isinstance(value, Method):
        return value
    names = [m.strip() for m in str(value).split(",")]
    unknown = [m for m in names if m not in Method._value2member_map_]
    if unknown:
        raise typer.BadParameter(f"{unknown[0]!r} is not one of {', '.join(m.value for m in Method)}.")
    return Method(names[0]) if len(names) == 1 else Methods(",".join(names))


METHOD_PANEL = "Method options"
MODEL_PANEL = "Model and target"

# Options shared by `explain` and `batch`, defined once.
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Shipped model name (see `saliency models`) or a model file path. Default: sst2-lstm.", rich_help_panel=MODEL_PANEL)]
MethodOpt = Annotated[str, typer.Option("--method", metavar="NAME", parser=method_value, help="gradient | grad-input | integrated-gradients | smoothgrad | occlusion | lrp (explain: several, comma-separated, side by side).", rich_help_panel=METHOD_PANEL)]
TargetOpt = Annotated[Optional[str], typer.Option("--target", "-t", help="Output to explain: a label name or index, or 'all' (one row per class; language model: a token). Default: the prediction (language model: the actual next token; tagger: the tag predicted at each position).", rich_help_panel=MODEL_PANEL)]
ContrastOpt = Annotated[Optional[str], typer.Option("--contrast", help="Explain F = logit(target) - logit(LABEL): why the target rather than LABEL.", metavar="LABEL", rich_help_panel=MODEL_PANEL)]
PositionOpt = Annotated[Optional[str], typer.Option("--position", help="Language models and taggers: the position whose prediction is explained (language model default: the last; tagger default: all; negative counts from the end), or 'all' for every position.", rich_help_panel=MODEL_PANEL)]
ObjectiveOpt = Annotated[str, typer.Option("--objective", metavar="logit|logprob", help="F, the scalar explained: 'logit' (default; does not saturate, and cannot rise by lowering other classes) or 'logprob'.", rich_help_panel=MODEL_PANEL)]
TopOpt = Annotated[Optional[int], typer.Option("--top", "-k", min=0, show_default=False, help="Mark and list the K strongest tokens (text: 3 unless given; JSON: adds their indices as \"top\").")]
ReduceOpt = Annotated[str, typer.Option("--reduce", metavar="l2|l1|max", help="gradient, smoothgrad: l2 | l1 | max over dx_t's components.", rich_help_panel=METHOD_PANEL)]


def steps_value(value):
    """--steps: a whole number (the library checks its range) or the word auto."""
    if isinstance(value, int) or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a whole number or 'auto'.") from None


StepsOpt = Annotated[str, typer.Option("--steps", parser=steps_value, metavar="N|auto", help="integrated-gradients: path points, or auto: per text, until the completeness gap is under --tolerance.", rich_help_panel=METHOD_PANEL)]
ToleranceOpt = Annotated[float, typer.Option("--tolerance", help="integrated-gradients --steps auto: the largest relative completeness gap |delta| / |F(x) - F(x')| to stop at.", rich_help_panel=METHOD_PANEL)]
RuleOpt = Annotated[str, typer.Option("--rule", metavar="midpoint|gauss-legendre", help="integrated-gradients: midpoint | gauss-legendre, the quadrature along the path.", rich_help_panel=METHOD_PANEL)]
BaselineOpt = Annotated[str, typer.Option("--baseline", metavar="zero|pad|unk", help="integrated-gradients: zero | pad | unk, what an absent token is.", rich_help_panel=METHOD_PANEL)]
SamplesOpt = Annotated[int, typer.Option("--samples", help="smoothgrad: noisy copies.", rich_help_panel=METHOD_PANEL)]
NoiseOpt = Annotated[float, typer.Option("--noise", help="smoothgrad: noise sigma as a fraction of the embeddings' spread.", rich_help_panel=METHOD_PANEL)]
SeedOpt = Annotated[int, typer.Option("--seed", help="smoothgrad: random seed.", rich_help_panel=METHOD_PANEL)]
OccludeOpt = Annotated[str, typer.Option("--occlude", metavar="unk|pad|delete|zero", help="occlusion: replace each token by unk or pad, delete it, or zero its input vector.", rich_help_panel=METHOD_PANEL)]
EpsilonOpt = Annotated[float, typer.Option("--epsilon", help="lrp: stabiliser of the epsilon rule.", rich_help_panel=METHOD_PANEL)]
BiasFactorOpt = Annotated[float, typer.Option("--bias-factor", help="lrp: 0 (biases keep their relevance) to 1 (handed down: relevance is conserved).", rich_help_panel=METHOD_PANEL)]
VectorsOpt = Annotated[bool, typer.Option("--vectors", help="Add each token's raw gradient vector to JSON.", rich_help_panel=METHOD_PANEL)]
EngineOpt = Annotated[str, typer.Option("--engine", metavar="auto|torch|numpy", help="auto | torch | numpy (auto picks by command and work: docs/performance.md).", rich_help_panel=MODEL_PANEL)]
DeviceOpt = Annotated[str, typer.Option("--device", metavar="cpu|cuda|auto", help="cpu | cuda | auto (torch engine).", rich_help_panel=MODEL_PANEL)]


def method_options(reduce, steps, baseline, samples, noise, seed, occlude, tolerance=None, epsilon=None,
                   bias_factor=None) -> dict:
    return dict(reduce=reduce, steps=steps, baseline=baseline, samples=samples, noise=noise, seed=seed,
                occlude=occlude, tolerance=tolerance, epsilon=epsilon, bias_factor=bias_factor)


def one_method(method) -> str:
    """The method's name, where a command takes one method at a time."""
    if isinstance(method, Methods):
        raise UsageError(f"--method {method}: one method at a time here (`saliency explain` shows several)")
    return method.value


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
