"""Terminal rendering with rich: the user's text, each token's background coloured by its score.

The only module that imports rich. Colours come from colour-blind-safe ramps: signed scores
use a blue (against the target) to orange (for it) diverging ramp, unsigned scores a light
to dark orange sequential ramp. The strongest tokens are also bold and underlined, so the
ranking survives NO_COLOR and copy-paste.
"""

from rich.console import Group
from rich.table import Table
from rich.text import Text

# Endpoints from ColorBrewer PuOr / Oranges (colour-blind safe), mixed with a neutral grey-white.
NEUTRAL = (247, 247, 247)
NEGATIVE = (33, 102, 172)  # blue
POSITIVE = (230, 97, 1)  # orange
SEQUENTIAL = (166, 54, 3)  # dark orange


def mix(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def score_style(score: float, scale: float, signed: bool) -> str:
    t = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    end = (POSITIVE if score >= 0 else NEGATIVE) if signed else SEQUENTIAL
    r, g, b = mix(NEUTRAL, end, t)
    ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"
    return f"{ink} on #{r:02x}{g:02x}{b:02x}"


def coloured_text(text: str, tokens, scores, signed: bool, strong=()) -> Text:
    """The original string with a background per token span (offsets index `text`)."""
    out = Text(text)
    scale = max((abs(s) for s in scores), default=0.0)
    for i, (tok, s) in enumerate(zip(tokens, scores)):
        style = score_style(s, scale, signed)
        if i in strong:
            style += " bold underline"
        out.stylize(style, tok.start, tok.end)
    return out


def legend(signed: bool) -> Text:
    line = Text("legend: ", style="dim")
    if signed:
        for t, label in ((-1.0, " against target "), (0.0, " neutral "), (1.0, " for target ")):
            line.append(label, style=score_style(t, 1.0, True))
            line.append(" ")
    else:
        for t, label in ((0.0, " weak "), (0.5, " "), (1.0, " strong ")):
            line.append(label, style=score_style(t, 1.0, False))
        line.append(" ")
    line.append("bold underline = top tokens; colours scaled to this text's largest |score|", style="dim")
    return line


def header(exp) -> Text:
    pred, target = exp.prediction, exp.target
    line = Text()
    line.append("prediction ", style="dim")
    lm = "position" in target  # language model labels are tokens: quote them (' ', '\n')
    line.append(repr(pred["label"]) if lm else str(pred["label"]), style="bold")
    line.append(f" ({pred['probability']:.3f})")
    line.append("  method ", style="dim")
    params = ", ".join(f"{k}={v}" for k, v in exp.params.items())
    line.append(exp.method + (f" ({params})" if params else ""))
    line.append("  target ", style="dim")
    where = f" at position {target['position']}" if "position" in target else ""
    line.append((repr(target["label"]) if lm else str(target["label"])) + where, style="bold")
    line.append(f" ({exp.objective} {target['value']:.4f})")
    return line


def explanation_text(exp, top: int = 0):
    strong = set(exp.top(top or 3))
    parts = [header(exp)]
    if exp.rows:
        parts.append(position_heatmap(exp))
    else:
        parts.append(coloured_text(exp.text, exp.tokens, [t.score for t in exp.tokens], exp.signed, strong))
    parts.append(legend(exp.signed))
    if exp.completeness:
        c = exp.completeness
        note = Text(f"completeness gap {c['delta']:+.2e} ({100 * c['relative']:.2f}% of F(x) - F(baseline))",
                    style="dim")
        if exp.completeness_warning():
            note = Text("warning: " + exp.completeness_warning(), style="bold yellow")
        parts.append(note)
    if top:
        parts.append(top_table(exp, top))
    return Group(*parts)


def top_table(exp, k: int) -> Table:
    rows = []
    for rank, i in enumerate(exp.top(k), 1):
        t = exp.tokens[i]
        rows.append([str(rank), Text(repr(t.text)[1:-1] + (" (unk)" if t.unk else "")), str(t.start),
                     f"{t.score:+.4f}" if exp.signed else f"{t.score:.4f}"])
    columns = [("rank", "right"), ("token", "left"), ("start", "right"), ("score", "right")]
    return simple_table(columns, rows, title=f"top {k} tokens")


def position_heatmap(exp) -> Table:
    """Language model, every position: one row per explained position over the input tokens."""
    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("position -> next", justify="right")
    table.add_column("input tokens coloured by their effect on that prediction")
    for row in exp.rows:
        label = f"{row['position']} -> {row['target']!r}"
        table.add_row(label, coloured_text(exp.text, exp.tokens, row["scores"], exp.signed))
    return table


# -- consoles, tables and progress bars for the commands ---------------------------------------

def console(stderr: bool = False):
    """A console on stdout (results) or stderr (progress, tables meant for people beside data)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=not stderr)


def simple_table(columns, rows, title=None, header=True) -> Table:
    """columns: [(name, justify)]; rows: lists of cells (str or Text)."""
    table = Table(title=title, title_justify="left", box=None, show_header=header, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(*row)
    return table


def record_progress(total):
    """Batch progress on stderr: records done, rate and ETA (total None: unknown, for stdin)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)

    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} records/s" if task.speed else "", style="dim")

    bar = Progress(TextColumn("records"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), Rate(),
                   TimeRemainingColumn(), console=console(stderr=True), transient=True)
    return bar, bar.add_task("records", total=total)


def training_progress(epochs):
    """Training progress on stderr: epoch, step, loss and the last validation figure."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(f"epoch {{task.fields[epoch]}}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.4f} {task.fields[last]}"), TimeRemainingColumn(),
                   console=console(stderr=True))
    return bar, bar.add_task("train", total=None, epoch=1, loss=0.0, last="")


# -- flip, reduce, prototype ------------------------------------------------------------------

REMOVED = f"bold underline white on #{NEGATIVE[0]:02x}{NEGATIVE[1]:02x}{NEGATIVE[2]:02x}"
ADDED = f"bold underline black on #{POSITIVE[0]:02x}{POSITIVE[1]:02x}{POSITIVE[2]:02x}"


def shown_label(label, lm: bool) -> str:
    return repr(label) if lm else str(label)


def shown_token(text: str) -> str:
    return repr(text)[1:-1]  # newlines and tabs visible, no quotes


def marked_text(text: str, tokens, marked, style) -> Text:
    """`text` with the tokens at indices `marked` highlighted (bold underline survives NO_COLOR)."""
    out = Text(text)
    for i in marked:
        out.stylize(style, tokens[i].start, tokens[i].end)
    return out


def prediction_text(pred: dict, lm: bool) -> str:
    return f"{shown_label(pred['label'], lm)} ({pred['probability']:.4f})"


def flip_text(result):
    """flip: the outcome, both texts with the swapped tokens highlighted, and each swap."""
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
    grid.add_row("before", marked_text(result.text, result.tokens, swapped, REMOVED))
    if result.swaps:
        grid.add_row("after", marked_text(result.changed_text, result.changed_tokens, swapped, ADDED))
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
    lm, label = result.lm, shown_label(result.label, result.lm)
    p0, p1 = result.before["probabilities"][result.label], result.after["probabilities"][result.label]
    line = Text()
    line.append(f"kept {label}", style="bold")
    line.append(f"  {len(result.tokens)} -> {len(result.reduced_tokens)} tokens  p {p0:.4f} -> {p1:.4f}")
    line.append(f"  ({result.method} saliency)", style="dim")
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("text", marked_text(result.text, result.tokens, result.kept, ADDED))
    grid.add_row("reduced", Text(result.reduced_text, style="bold"))
    removed = Text("removed, in order: ", style="dim")
    shown = [repr(s.removed) if s.removed.isspace() else shown_token(s.removed) for s in result.steps]
    removed.append(" ".join(shown) or "nothing (every removal changes the label)")
    return Group(line, grid, removed)


def prototype_text(result):
    """prototype: each step's text, with the target's logit and probability."""
    lm, label = result.lm, shown_label(result.label, result.lm)
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
