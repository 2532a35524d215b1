"""The commands' options, each defined once, and the groups they come in.

typer has no option groups. A command names a group as a parameter whose default is a `Group`;
`grouped` (under @user_errors) writes the command's signature with that group's options in its
place, one typer parameter each, so typer sees flat options (--help and every flag as if written
out), and calls the command with one object per group. The method options are made from the
method registry: --method's choices, and one flag per parameter of any method, with the type,
default and help its dataclass field declares (attribution.base.option).
"""

import functools
import inspect
import typing
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from typing import Annotated, Optional

import typer

from saliency.attribution import DEFAULT_METHOD, METHODS
from saliency.errors import UsageError

METHOD_PANEL = "Method options"
MODEL_PANEL = "Model and target"

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Shipped model name (see `saliency models`) or a model file path. Default: sst2-lstm.", rich_help_panel=MODEL_PANEL)]
TargetOpt = Annotated[Optional[str], typer.Option("--target", "-t", help="Output to explain: a label name or index, or 'all' (one row per class; language model: a token). Default: the prediction (language model: the actual next token; tagger: the tag predicted at each position).", rich_help_panel=MODEL_PANEL)]
ContrastOpt = Annotated[Optional[str], typer.Option("--contrast", help="Explain F = logit(target) - logit(LABEL): why the target rather than LABEL.", metavar="LABEL", rich_help_panel=MODEL_PANEL)]
PositionOpt = Annotated[Optional[str], typer.Option("--position", help="Language models and taggers: the position whose prediction is explained (language model default: the last; tagger default: all; negative counts from the end), or 'all' for every position.", rich_help_panel=MODEL_PANEL)]
ObjectiveOpt = Annotated[str, typer.Option("--objective", metavar="logit|logprob", help="F, the scalar explained: 'logit' (default; does not saturate, and cannot rise by lowering other classes) or 'logprob'.", rich_help_panel=MODEL_PANEL)]
EngineOpt = Annotated[str, typer.Option("--engine", metavar="auto|torch|numpy", help="auto | torch | numpy (auto picks by command and work: docs/performance.md).", rich_help_panel=MODEL_PANEL)]
DeviceOpt = Annotated[str, typer.Option("--device", metavar="cpu|cuda|auto", help="cpu | cuda | auto (torch engine).", rich_help_panel=MODEL_PANEL)]
TopOpt = Annotated[Optional[int], typer.Option("--top", "-k", min=0, show_default=False, help="Mark and list the K strongest tokens (text: 3 unless given; JSON: adds their indices as \"top\").")]
VectorsOpt = Annotated[bool, typer.Option("--vectors", help="Add each token's raw gradient vector to JSON.", rich_help_panel=METHOD_PANEL)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
EditFormatOpt = Annotated[str, typer.Option("--format", "-f", metavar="text|json", help="text (for people) | json (one object).")]
CandidatesOpt = Annotated[int, typer.Option("--candidates", help="Per step, the K best first-order swaps plus the best swap at each of the K most promising positions are verified by forward passes (K at most 1000).")]

# evaluate and decay: records read from one file (or stdin), the first N of them, as RecordFormat says.
DataArg = Annotated[str, typer.Argument(help="Records to evaluate on (txt, csv, tsv, jsonl; '-' = stdin).", show_default=False)]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Only the first N records.")]


class Group:
    """A dataclass's fields offered as options (all of them, or those named, less `without`),
    handed to the command as one instance of it; `defaults` replace the fields' own."""

    def __init__(self, cls, *names, without=(), **defaults):
        names = names or [f.name for f in fields(cls)]
        self.cls, self.names, self.defaults = cls, [n for n in names if n not in without], defaults

    def parameters(self):
        """The named fields as keyword parameters, typed as the fields are (typer reads the Annotated option)."""
        declared = {f.name: f for f in fields(self.cls)}
        return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=declared[name].type,
                                  default=self.defaults.get(name, default_of(declared[name]))) for name in self.names]

    def build(self, values: dict):
        return self.cls(**{**self.defaults, **values})


def default_of(f):
    return inspect.Parameter.empty if f.default is MISSING else f.default


def grouped(command):
    """The command with each Group parameter written out as its options (see the docstring above)."""
    signature = inspect.signature(command)
    groups = {name: p.default for name, p in signature.parameters.items() if isinstance(p.default, Group)}
    flat = []
    for p in signature.parameters.values():
        flat += groups[p.name].parameters() if p.name in groups else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)]
    names = [p.name for p in flat]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise TypeError(f"{command.__name__}: an option is listed twice: {', '.join(twice)}")

    @functools.wraps(command)
    def run(**values):
        built = {name: group.build({n: values.pop(n) for n in group.names}) for name, group in groups.items()}
        return command(**values, **built)

    run.__signature__ = signature.replace(parameters=flat)
    run.__annotations__ = {p.name: p.annotation for p in flat}
    return run


@dataclass
class ModelOptions:
    """The "Model and target" panel: which model, the scalar it explains, where it runs."""

    model: ModelOpt = None
    target: TargetOpt = None
    contrast: ContrastOpt = None
    position: PositionOpt = None
    objective: ObjectiveOpt = "logit"
    engine: EngineOpt = "auto"
    device: DeviceOpt = "cpu"

    def target_options(self) -> dict:
        """What explainer.explain takes of these: target, contrast, position (parsed), objective."""
        return dict(target=self.target, contrast=self.contrast, position=parse_position(self.position),
                    objective=self.objective)


@dataclass
class RecordFormat:
    """How evaluate and decay read DATA (batch's own --input-format also detects JSONL on stdin)."""

    input_format: Annotated[Optional[str], typer.Option(metavar="txt|csv|tsv|jsonl|conllu|tags", help="txt | csv | tsv | jsonl | conllu | tags (default: from the extension; stdin: txt).")] = None
    text_column: Annotated[Optional[str], typer.Option("--text-field", help="CSV/TSV column or JSON field holding the text (default text or sentence).")] = None


def parse_position(position):
    if position is None or position == "all":
        return position
    try:
        return int(position)
    except ValueError:
        raise UsageError(f"--position must be an integer or 'all', not {position!r}") from None


# -- the method options, from the registry -----------------------------------------------------

def method_value(value):
    """--method: one method, or (explain) several joined by commas, each a registered one."""
    names = [m.strip() for m in str(value).split(",")]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise typer.BadParameter(f"{unknown[0]!r} is not one of {', '.join(METHODS)}.")
    return ",".join(names)


def number_or(words):
    """A parser for a whole number or one of `words` (--steps N|auto); the method checks the range."""

    def parse(value):
        if isinstance(value, int) or value in words:
            return value
        try:
            return int(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a whole number or {' or '.join(map(repr, words))}.") from None

    return parse


def method_parameters() -> dict:
    """{parameter name: (its dataclass field, the methods that take it)}, in registry order."""
    found = {}
    for name, cls in METHODS.items():
        for f in fields(cls):
            found.setdefault(f.name, (f, []))[1].append(name)
    return found


def method_flag(f, owners):
    """The typed option of one method parameter, from its field: --name, type, help, metavar."""
    meta = f.metadata
    when = f" {meta['when']}" if meta.get("when") else ""
    info = dict(help=f"{', '.join(owners)}{when}: {meta.get('help', '')}", rich_help_panel=METHOD_PANEL)
    # a module with `from __future__ import annotations` holds its fields' types as strings
    kind = typing.get_type_hints(METHODS[owners[0]])[f.name] if isinstance(f.type, str) else f.type
    if meta.get("choices"):
        info["metavar"] = "|".join(meta["choices"])
    if meta.get("words"):
        info.update(metavar="|".join(("N",) + meta["words"]), parser=number_or(meta["words"]))
        kind = str
    return Annotated[kind, typer.Option("--" + f.name.replace("_", "-"), **info)]


MethodOpt = Annotated[str, typer.Option("--method", metavar="NAME", parser=method_value, help=f"{' | '.join(METHODS)} (explain: several, comma-separated, side by side).", rich_help_panel=METHOD_PANEL)]


class MethodChoice:
    """What the commands read of MethodOptions: the method's name and its parameters."""

    def one(self) -> str:
        """The method's name, where a command takes one method at a time."""
        if "," in self.method:
            raise UsageError(f"--method {self.method}: one method at a time here (`saliency explain` shows several)")
        return self.method

    def parameters(self) -> dict:
        """Every method parameter given (one set of options serves any method: make_method takes its own)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "method"}


MethodOptions = make_dataclass(
    "MethodOptions",
    [("method", MethodOpt, field(default=DEFAULT_METHOD))]
    + [(name, method_flag(f, owners), field(default=None if f.default is MISSING else f.default))
       for name, (f, owners) in method_parameters().items()],
    bases=(MethodChoice,))
MethodOptions.__module__ = __name__
MethodOptions.__doc__ = "The \"Method options\" panel: --method and every registered method's parameters."
