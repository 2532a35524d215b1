"""flip, reduce, prototype: texts edited token by token, the edited tokens highlighted."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .colours import ADDED, REMOVED
from .tables import simple_table


def shown_label(label, lm: bool) -> str:
    return repr(label) if lm else str(label)


def shown_token(text: str) -> str:
    return repr(text)[1:-1]  # newlines and tabs visible, no quotes


def marked_text(text: str, tokens, marked, style, plain=False) -> Text:
    """`text` with the tokens at indices `marked` highlighted; plain (no colour, off a terminal):
    [bracketed] instead, so the marks survive a pipe."""
    if plain:
        out, cursor = Text(), 0
        for i in sorted(marked):
            out.append(text[cursor: tokens[i].start] + "[" + text[tokens[i].start: tokens[i].end] + "]")
            cursor = tokens[i].end
        out.append(text[cursor:])
        return out
    out = Text(text)
    for i in marked:
        out.stylize(style, tokens[i].start, tokens[i].end)
    return out


class PlainAware:
    """A renderable built for the console it meets: `build(plain)`, plain when it has no colour."""

    def __init__(self, build):
        self.build = build

    def __rich_console__(self, console, options):
        yield self.build(console.no_color or console.color_system is None)


def prediction_text(pred: dict, lm: bool) -> str:
    return f"{shown_label(pred['label'], lm)} ({pred['probability']:.4f})"


def flip_text(result):
    """flip: the outcome, both texts with the swapped tokens highlighted, and each swap."""
    return PlainAware(lambda plain: flip_group(result, plain))


def flip_group(result, plain):
    lm, swapped = result.lm, [s.position for s in result.swaps]
    goal = shown_label(result.label, lm)
    line = Text()
    if not result.swaps:
        outcome = "already predicted" if result.flipped else "no swap moves the prediction:"
        line.append(f"{outcome} ", style="bold")
        line.append(prediction_text(result.before, lm))
    else:
        line.append("flipped" if result.flipped else "not flipped", style="bold")
        line.append(f"  {prediction_text(result.before, lm)} -> {prediction_text(result.after, lm)}")
        n = len(result.swaps)
        line.append(f"  {n} swap{'s' if n > 1 else ''}", style="dim")
    parts = [line]
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("before", marked_text(result.text, result.tokens, swapped, REMOVED, plain))
    if result.swaps:
        grid.add_row("after", marked_text(result.changed_text, result.changed_tokens, swapped, ADDED, plain))
    parts.append(grid)
    if result.swaps:
        rows = [[str(s.position), Text(shown_token(s.old)), Text(shown_token(s.new)), f"{s.estimated:+.4f}",
                 f"{s.verified:+.4f}"] for s in result.swaps]
        columns = [("position", "right"), ("from", "left"), ("to", "left"), ("estimated", "right"),
                   ("verified", "right")]
        parts.append(simple_table(columns, rows))
    parts.append(Text(f"margin of {goal} (its logit minus the largest other): "
                      f"{result.before['margin']:+.4f} -> {result.after['margin']:+.4f}", style="dim"))
    if result.swaps:
        parts.append(Text("estimated: first-order change (dx_t); verified: a forward pass", style="dim"))
    return Group(*parts)


def reduce_text(result):
    """reduce: the label kept, the original with the surviving tokens marked, the reduced text."""
    return PlainAware(lambda plain: reduce_group(result, plain))


def reduce_group(result, plain):
    label = shown_label(result.label, result.lm)
    p0, p1 = result.before["probabilities"][result.label], result.after["probabilities"][result.label]
    line = Text()
    line.append(f"kept {label}", style="bold")
    line.append(f"  {len(result.tokens)} -> {len(result.reduced_tokens)} tokens  p {p0:.4f} -> {p1:.4f}")
    line.append(f"  by {result.method}", style="dim")
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("text", marked_text(result.text, result.tokens, result.kept, ADDED, plain))
    grid.add_row("reduced", Text(result.reduced_text, style="bold"))
    removed = Text("removed, in order: ", style="dim")
    shown = [repr(s.removed) if s.removed.isspace() else shown_token(s.removed) for s in result.steps]
    removed.append(" ".join(shown) or "nothing (every removal changes the label)")
    return Group(line, grid, removed)


def prototype_text(result):
    """prototype: each step's text, with the target's logit and probability."""
    label = shown_label(result.label, result.lm)
    first, last = result.steps[0], result.steps[-1]
    line = Text()
    line.append(f"prototype for {label}", style="bold")
    line.append(f"  logit {first.logit:+.4f} -> {last.logit:+.4f}  p {first.probability:.4f} -> "
                f"{last.probability:.4f}  {len(result.steps) - 1} swaps")
    rows = [[str(i), f"{s.logit:+.4f}", f"{s.probability:.4f}", Text(shown_token(s.text))]
            for i, s in enumerate(result.steps)]
    table = simple_table([("step", "right"), ("logit", "right"), ("p", "right"), ("text", "left")], rows)
    final = Text("prototype  ", style="dim")
    final.append(shown_token(result.text), style="bold")
    return Group(line, table, final)
