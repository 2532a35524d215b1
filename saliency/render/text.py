"""One explanation for people: the user's text, each token's background coloured by its score.

The strongest tokens are also bold and underlined; off a terminal or with NO_COLOR they are
written [token score], so the scores survive pipes and copy-paste.
"""

from rich.table import Table
from rich.text import Text

from .colours import score_style
from .tables import simple_table

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
            used = f", {c['steps']:,} path points" if "steps" in c else ""  # --steps auto: this text's count
            note = Text(f"completeness gap {c['delta']:+.2e} ({100 * c['relative']:.2f}% of F(x) - F(baseline)"
                        f"{used})", style="dim")
            if exp.completeness_warning():
                note = Text("warning: " + exp.completeness_warning(), style="bold yellow")
            yield from wrapped(console, note, width)
        if k and not exp.rows:
            yield top_table(exp, k)


def explanation_text(exp, top: int = 3):
    if "tags" in exp.prediction:  # a tagger: its own compact view
        from .tagger import TaggerView

        return TaggerView(exp, top)
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
