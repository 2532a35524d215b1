"""Terminal rendering with rich: the user's text, each token's background coloured by its score.

The only module that imports rich. Colours come from colour-blind-safe ramps: signed scores
use a blue (against the target) to orange (for it) diverging ramp, unsigned scores a light
to dark orange sequential ramp. The strongest tokens are also bold and underlined; off a
terminal or with NO_COLOR they are written [token score], so the scores survive pipes and
copy-paste.
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


# Off a terminal (or with NO_COLOR) the strongest tokens are written as [token score]. The space
# inside a mark must not become a line break, so marks are built with this placeholder (one cell,
# not whitespace) and it turns into a space after wrapping.
KEEP = "\ue000"


def token_shown(text: str) -> str:
    """A token as printed on its own: quoted when blank or holding whitespace (' ', '\\n')."""
    return repr(text) if not text.strip() or any(c.isspace() for c in text) else text


def fmt_score(score: float, signed: bool) -> str:
    return f"{score:+.3g}" if signed else f"{score:.3g}"


def scored_text(text: str, tokens, scores, signed: bool, strong=(), plain=False) -> Text:
    """The original string with a background per token span (offsets index `text`); `strong`
    tokens also bold and underlined, and in plain mode bracketed with their score."""
    out, cursor = Text(), 0
    scale = max((abs(s) for s in scores), default=0.0)
    for i, (tok, s) in enumerate(zip(tokens, scores)):
        if tok.start < cursor:  # overlapping spans (a user's tokenizer): style only what is left
            continue
        out.append(text[cursor:tok.start])
        style = "" if plain else score_style(s, scale, signed)
        if i in strong:
            style += " bold underline"
            if plain:
                out.append(f"[{token_shown(tok.text)}{KEEP}{fmt_score(s, signed)}]", style=style.strip())
                cursor = tok.end
                continue
        out.append(text[tok.start:tok.end], style=style.strip())
        cursor = tok.end
    out.append(text[cursor:])
    return out


def wrapped(console, text: Text, width: int) -> list:
    """Word-wrapped lines of `text` no wider than width; a mark is never split."""
    text = text.copy()
    text.plain = text.plain.replace("\n", " ").replace("\t", " ")  # one text shown as one paragraph
    lines = []
    for line in text.wrap(console, max(1, width), overflow="fold"):
        line.rstrip()
        line.plain = line.plain.replace(KEEP, " ")
        lines.append(line)
    return lines or [Text("")]


def packed(console, fields, width: int) -> list:
    """Fields joined by two spaces, a new line where the next field would pass the width."""
    if not fields:
        return []
    lines, line = [], Text()
    for field in fields:
        if line.plain and line.cell_len + 2 + field.cell_len > width:
            lines.append(line)
            line = Text()
        if line.plain:
            line.append("  ")
        line.append_text(field)
    lines.append(line)
    return [piece for line in lines for piece in wrapped(console, line, width)]


def field(name: str, value: str, detail: str = "") -> Text:
    return Text.assemble((name + " ", "dim"), (value, "bold"), detail)


def header_fields(exp) -> list:
    pred, target = exp.prediction, exp.target
    lm = "position" in target  # language model labels are tokens: quote them (' ', '\n')
    name = repr if lm else str
    fields = [field("prediction", name(pred["label"]), f" ({pred['probability']:.3f})")]
    if exp.rows and "position" not in exp.rows[0]:  # --target all: one row per class
        fields.append(field("target", "every class", f" ({exp.objective})"))
    elif exp.rows:  # --position all
        fields.append(field("target", "next token", f" at every position ({exp.objective})"))
    else:
        where = f" at position {target['position']}" if lm else ""
        against = f" vs {name(target['contrast']['label'])}" if "contrast" in target else ""
        what = f"{exp.objective} difference" if against else exp.objective
        fields.append(field("target", name(target["label"]) + against + where, f" ({what} {target['value']:.4f})"))
    params = ", ".join(f"{k}={v}" for k, v in exp.params.items())
    fields.append(field("method", exp.method, f" ({params})" if params else ""))
    return fields


def legend_fields(signed: bool, k: int, plain: bool) -> list:
    if plain:
        what = "+ for the target, - against it" if signed else "magnitudes"
        strongest = f"the {k} strongest tokens" if k > 1 else "the strongest token"
        return [Text(f"[token score] = {strongest}; scores: {what}", style="dim")] if k else []
    fields = [Text("legend:", style="dim")]
    steps = ((-1.0, " against "), (0.0, " neutral "), (1.0, " for target ")) if signed else \
        ((0.0, " weak "), (0.5, " "), (1.0, " strong "))
    fields.append(Text.assemble(*((label, score_style(t, 1.0, signed)) for t, label in steps)))
    if k:
        fields.append(Text(f"underlined: top {k}", style="dim"))
    fields.append(Text("scaled to this text's max |score|", style="dim"))
    return fields


class ExplanationView:
    """One explanation for people. In colour on a terminal; off a terminal or with NO_COLOR, the
    same lines in plain characters, the k strongest tokens marked [token score]. Lines are
    wrapped between words to the console's width, so they read at 80 columns."""

    def __init__(self, exp, top: int = 3):
        self.exp, self.top = exp, top

    def __rich_console__(self, console, options):
        exp, k, width = self.exp, self.top, options.max_width
        plain = console.no_color or console.color_system is None
        yield from packed(console, header_fields(exp), width)
        if exp.rows:
            yield from rows_view(console, exp, width, k, plain)
        else:
            scores = [t.score for t in exp.tokens]
            text = scored_text(exp.text, exp.tokens, scores, exp.signed, set(exp.top(k)), plain)
            yield from wrapped(console, text, width)
        yield from packed(console, legend_fields(exp.signed, k, plain), width)
        if exp.completeness:
            c = exp.completeness
            note = Text(f"completeness gap {c['delta']:+.2e} ({100 * c['relative']:.2f}% of F(x) - F(baseline))",
                        style="dim")
            if exp.completeness_warning():
                note = Text("warning: " + exp.completeness_warning(), style="bold yellow")
            yield from wrapped(console, note, width)
        if k and not exp.rows:
            yield top_table(exp, k)


def explanation_text(exp, top: int = 3) -> ExplanationView:
    return ExplanationView(exp, top)


def top_table(exp, k: int) -> Table:
    rows = []
    for rank, i in enumerate(exp.top(k), 1):
        t = exp.tokens[i]
        rows.append([str(rank), Text(token_shown(t.text) + (" (unk)" if t.unk else "")), str(t.start),
                     f"{t.score:+.4f}" if exp.signed else f"{t.score:.4f}"])
    columns = [("rank", "right"), ("token", "left"), ("start", "right"), ("score", "right")]
    return simple_table(columns, rows, title=f"top {k} tokens")


def rows_view(console, exp, width: int, k: int, plain: bool):
    """Every position (language model) or every class: one row each, the label on the left and
    the text marked by that row's scores, continuation lines indented under the text."""
    labels = [f"{r['position']} -> {r['target']!r}" if "position" in r else str(r["target"]) for r in exp.rows]
    pad = max(len(label) for label in labels) + 2
    if pad > width // 2:  # labels too long to share a line with the text: text on its own lines
        pad = 2
    title = "position -> next" if "position" in exp.rows[0] else "class"
    yield Text(f"{title}: the input marked by its effect on that output", style="dim")
    for label, row in zip(labels, exp.rows):
        text = scored_text(exp.text, exp.tokens, row["scores"], exp.signed, set(exp.top(k, row["scores"])), plain)
        lines = wrapped(console, text, width - pad)
        shown = label.rjust(pad - 2) if "position" in row else label.ljust(pad - 2)
        first = Text(shown + "  ") if pad > 2 else Text(label)
        if pad == 2:
            yield first
            first = Text("  ")
        yield Text.assemble(first, lines[0])
        for line in lines[1:]:
            yield Text.assemble(" " * pad, line)


# -- consoles, tables and progress bars for the commands ---------------------------------------

def console(stderr: bool = False):
    """A console on stdout (results) or stderr (progress, tables meant for people beside data)."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self):
            # rich exits 1 here; raise instead, so `| head` exits 141 as every other write does
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole(stderr=stderr, highlight=False)


def simple_table(columns, rows, title=None, header=True):
    """columns: [(name, justify)]; rows: lists of cells (str or Text). A title goes on its own
    line above (as a table title it would be wrapped to the table's width)."""
    table = Table(box=None, show_header=header, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(*row)
    return Group(Text(title), table) if title else table


def record_progress(total):
    """Batch progress on stderr: records done, rate and ETA (total None: unknown, for stdin)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)

    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} records/s" if task.speed else "", style="dim")

    # No stdout redirection: rich would send results printed to stdout through the bar's stderr
    # console. Records meant for the same terminal are printed with the bar's console instead.
    bar = Progress(TextColumn("records"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), Rate(),
                   TimeRemainingColumn(), console=console(stderr=True), transient=True, redirect_stdout=False,
                   redirect_stderr=False)
    return bar, bar.add_task("records", total=total)


class WorkProgress:
    """A transient bar on stderr for one long explanation (integrated gradients over thousands of
    tokens can take minutes), called with (done, total) as chunks of the work finish. It appears
    only after `delay` seconds, so quick answers never flash a bar."""

    def __init__(self, delay: float = 1.0, out=None):
        import time

        self.clock, self.start, self.delay = time.monotonic, time.monotonic(), delay
        self.out, self.bar, self.task = out, None, None

    def __call__(self, done, total):
        if self.bar is None:
            if self.clock() - self.start < self.delay:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("explaining"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                                console=self.out or console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("explaining", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self):
        if self.bar is not None:
            self.bar.stop()


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
    lm, label = result.lm, shown_label(result.label, result.lm)
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


# -- evaluate, decay, and HTML/SVG exports ------------------------------------------------------

EXPORT_WIDTH = 100  # columns of an exported page: wider than a terminal, still one screen


def recording_console():
    """A console that records what is printed, in colour whatever stdout is, for export()."""
    import io as _io

    from rich.console import Console

    return Console(record=True, file=_io.StringIO(), width=EXPORT_WIDTH, force_terminal=True,
                   color_system="truecolor", no_color=False, highlight=False)


def export(renderables, fmt: str, title: str = "saliency", recorder=None) -> str:
    """A self-contained HTML page or SVG image of what the terminal would show, in its colours.

    rich records the printed segments and writes them out; every piece of text passes through
    html.escape, so a token such as <script> shows as text.
    """
    recorder = recorder or recording_console()
    for item in renderables:
        recorder.print(item)
    if fmt == "svg":
        import re

        # rich's SVG fetches Fira Code from a CDN; a self-contained file uses a local monospace font.
        return re.sub(r"@font-face \{[^}]*\}\s*", "", recorder.export_svg(title=title))
    return recorder.export_html()


def _cell(value, best=False, digits=3) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(f"{value:.{digits}f}" + (" *" if best else "  "), style="bold" if best else "")


# (column, higher is better) for the evaluation table
EVAL_COLUMNS = [("comprehensiveness", "compr.", True), ("sufficiency", "suff.", False), ("loo_tau", "loo tau", True)]
PLAUSIBILITY_COLUMNS = [("token_f1", "token F1", True), ("auprc", "AUPRC", True)]


def evaluation_view(summary: dict, flagged=()):
    """evaluate's tables: metrics per method (best marked *, the random floor dim), agreement
    between methods, and the randomisation check when it ran."""
    methods = summary["methods"]
    plausible = any("plausibility" in row for row in methods.values())
    columns = [(key, label, up, None) for key, label, up in EVAL_COLUMNS]
    if plausible:
        columns += [(key, label, up, "plausibility") for key, label, up in PLAUSIBILITY_COLUMNS]

    def value(row, key, group):
        return (row.get(group) or {}).get(key) if group else row.get(key)

    best = {}
    for key, _, up, group in columns:
        values = [(value(row, key, group), m) for m, row in methods.items() if m != "random"]
        values = [(v, m) for v, m in values if v is not None]
        if values:
            best[key] = (max if up else min)(values)[1]
    table = Table(title=f"faithfulness over {summary['records']} records", title_justify="left", box=None,
                  pad_edge=False)
    table.add_column("method")
    for _, label, up, _ in columns:
        table.add_column(f"{label} {'↑' if up else '↓'}", justify="right")
    for name, row in methods.items():
        label = Text("random (floor)", style="dim") if name == "random" else Text(name)
        table.add_row(label, *[_cell(value(row, key, group), best.get(key) == name) for key, _, _, group in columns])
    parts = [table, Text("compr. / suff.: drop in p(class) with the top k% of tokens removed / kept alone,\n"
                         "mean over k = 1, 5, 10, 20, 50; loo tau: Kendall tau with leave-one-out; * best",
                         style="dim")]
    if summary["agreement"]:
        rows = [[Text(pair.replace("|", " / ")), _cell(v)] for pair, v in summary["agreement"].items()]
        parts += [Text(""), simple_table([("methods", "left"), ("spearman", "right")], rows,
                                         title="agreement between methods (mean Spearman of token ranks)")]
    if summary.get("randomization"):
        parts += [Text(""), randomization_table(summary["randomization"], flagged)]
    return Group(*parts)


def randomization_table(randomization: dict, flagged=()) -> Table:
    stages = [row["stage"] for row in next(iter(randomization.values()))]
    table = Table(title="sanity check: Spearman, trained vs randomised map",
                  caption="column: weights randomised from the head down to that layer", caption_justify="left",
                  caption_style="dim", title_justify="left", box=None, pad_edge=False)
    table.add_column("method")
    for stage in stages:
        table.add_column(stage, justify="right")
    table.add_column("verdict")
    for name, rows in randomization.items():
        verdict = Text("map barely changes: not model-dependent", style="bold yellow") if name in flagged \
            else Text("changes with the model")
        table.add_row(Text(name), *[_cell(r["spearman"]) for r in rows], verdict)
    return table


BAR_WIDTH = 32
BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def decay_chart(result: dict, model: str = ""):
    """decay: one bar per distance bucket, length = mean |dx_t| relative to the largest bucket."""
    rows = result["rows"]
    top = max((r["mean"] for r in rows), default=0.0) or 1.0
    colour = "#{:02x}{:02x}{:02x}".format(*SEQUENTIAL)
    table = Table(title=f"mean |dx_t| by distance to the explained position{f' ({model})' if model else ''}, "
                        f"{result['records']} texts", title_justify="left", box=None, pad_edge=False)
    for name, justify in (("distance", "right"), ("mean |dx_t|", "left"), ("", "right"), ("share", "right"),
                          ("tokens", "right")):
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r["distance"], Text(bar(r["mean"] / top), style=colour), f"{r['mean']:.3g}",
                      f"{100 * r['share']:.1f}%", str(r["tokens"]))
    note = Text("share: the part of each text's total |dx_t| in the bucket, averaged over texts", style="dim")
    return Group(table, note)
