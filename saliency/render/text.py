"""One explanation for people: the user's text, each token's background coloured by its score.

The strongest tokens are also bold and underlined; off a terminal or with NO_COLOR they are
written [token score], so the scores survive pipes and copy-paste.
"""

from rich.table import Table
from rich.text import Text

from ..explanation import gap_warning
from .colours import LEVELS, score_style, theme_of
from .tables import simple_table

# Off a terminal (or with NO_COLOR) the strongest tokens are written as [token score]. The space
# inside a mark must not become a line break, so marks are built with this placeholder (one cell,
# not whitespace) and it turns into a space after wrapping.
KEEP = "\ue000"
UNKNOWN = "italic overline"  # the style of a token the model does not know (it reads <unk> there)


def token_shown(text: str) -> str:
    """A token as printed on its own: quoted when blank or holding whitespace (' ', '\\n')."""
    return repr(text) if not text.strip() or any(c.isspace() for c in text) else text


def fmt_score(score: float, signed: bool) -> str:
    return f"{score:+.3g}" if signed else f"{score:.3g}"


def scored_text(text: str, tokens, scores, signed: bool, strong=(), plain=False, theme="dark") -> Text:
    """The original string with a background per token span (offsets index `text`) from the
    theme's ramp (colours.py); `strong` tokens also bold and underlined, and in plain mode
    bracketed with their score; unknown tokens in the UNKNOWN style (plain: named in the legend)."""
    out, cursor = Text(), 0
    scale = max((abs(s) for s in scores), default=0.0)
    for i, (tok, s) in enumerate(zip(tokens, scores)):
        if tok.start < cursor:  # overlapping spans (a user's tokenizer): style only what is left
            continue
        out.append(text[cursor:tok.start])
        style = "" if plain else score_style(s, scale, signed, theme)
        if getattr(tok, "unk", False) and not plain:
            style += " " + UNKNOWN
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
    by_method = bool(exp.rows) and "method" in exp.rows[0]  # several methods side by side
    if getattr(exp, "gold", None) is not None:  # batch with gold labels: is the model right?
        fields.append(field("gold", str(exp.gold), " (correct)" if exp.correct else " (wrong)"))
    if exp.rows and "index" in exp.rows[0]:  # --target all: one row per class
        fields.append(field("target", "every class", f" ({exp.objective})"))
    elif exp.rows and "position" in exp.rows[0]:  # --position all
        fields.append(field("target", "next token", f" at every position ({exp.objective})"))
    else:
        where = f" at position {target['position']}" if lm else ""
        against = f" vs {name(target['contrast']['label'])}" if "contrast" in target else ""
        what = f"{exp.objective} difference" if against else exp.objective
        fields.append(field("target", name(target["label"]) + against + where, f" ({what} {target['value']:.4f})"))
    if by_method:
        for row in exp.rows:
            fields.append(field("method", row["method"], params_shown(row["params"])))
        return fields
    fields.append(field("method", exp.method, params_shown(exp.params)))
    return fields


def params_shown(params: dict) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return f" ({shown})" if shown else ""


def legend_fields(signed: bool, k: int, plain: bool, theme: str = "dark", unknown=()) -> list:
    """The legend's fields; `unknown`: the tokens the model does not know, named in plain text."""
    unk = []
    if unknown:
        names = sorted(set(unknown), key=list(unknown).index)
        shown = ", ".join(token_shown(t) for t in names[:8]) + (", ..." if len(names) > 8 else "")
        unk = [Text(f"unknown to the model (read as <unk>): {shown}", style="dim") if plain else
               Text.assemble(("unknown", UNKNOWN), (" = not in the model's vocabulary (read as <unk>)", "dim"))]
    if plain:
        what = "+ for the target, - against it" if signed else "magnitudes"
        strongest = f"the {k} strongest tokens" if k > 1 else "the strongest token"
        return ([Text(f"[token score] = {strongest}; scores: {what}", style="dim")] if k else []) + unk
    fields = [Text("legend:", style="dim")]
    # every step of the ramp, strongest against ... strongest for: the order is the colour's
    ends = [(-t / LEVELS, "") for t in range(LEVELS, 0, -1)] + [(t / LEVELS, "") for t in range(1, LEVELS + 1)]
    if not signed:
        ends = [(t / LEVELS, "") for t in range(1, LEVELS + 1)]
    swatch = [("  ", score_style(t, 1.0, signed, theme)) for t, _ in ends]
    if signed:
        fields.append(Text.assemble(("against ", "dim"), *swatch[:LEVELS], (" 0 ", "dim"), *swatch[LEVELS:],
                                    (" for target", "dim")))
    else:
        fields.append(Text.assemble(("weak ", "dim"), *swatch, (" strong", "dim")))
    if k:
        fields.append(Text(f"underlined: top {k}", style="dim"))
    fields.append(Text("scaled to this text's max |score|", style="dim"))
    return fields + unk


class ExplanationView:
    """One explanation for people. In colour on a terminal; off a terminal or with NO_COLOR, the
    same lines in plain characters, the k strongest tokens marked [token score]. Lines are
    wrapped between words to the console's width, so they read at 80 columns."""

    def __init__(self, exp, top: int = 3):
        self.exp, self.top = exp, top

    def __rich_console__(self, console, options):
        exp, k, width = self.exp, self.top, options.max_width
        plain = console.no_color or console.color_system is None
        theme = theme_of(console)
        yield from packed(console, header_fields(exp), width)
        if exp.rows:
            yield from rows_view(console, exp, width, k, plain, theme)
        else:
            scores = [t.score for t in exp.tokens]
            text = scored_text(exp.text, exp.tokens, scores, exp.signed, set(exp.top(k)), plain, theme)
            yield from wrapped(console, text, width)
        if exp.rows and "method" in exp.rows[0]:
            yield from method_notes(console, exp, width, k, plain, theme)
            return
        unknown = [t.text for t in exp.tokens if getattr(t, "unk", False)]
        yield from packed(console, legend_fields(exp.signed, k, plain, theme, unknown), width)
        if exp.completeness:
            yield from wrapped(console, completeness_note(exp.method, exp.completeness, exp.completeness_warning(),
                                                        exp.params),
                               width)
        if k and not exp.rows:
            yield top_table(exp, k)


def completeness_note(method: str, c: dict, warning: str = "", params=None) -> Text:
    if warning:
        return Text("warning: " + warning, style="bold yellow")
    if method == "lrp":  # no baseline: F itself is distributed, and the rest stayed in biases and initial states
        where = "bias and stabiliser shares, initial states"
        if (params or {}).get("bias_factor", 0) >= 1:
            where = "what the initial states hold"
        return Text(f"relevance not on the tokens {-c['delta']:+.2e} ({100 * c['relative']:.2f}% of F(x): {where})",
                    style="dim")
    used = f", {c['steps']:,} path points" if "steps" in c else ""  # --steps auto: this text's count
    return Text(f"completeness gap {c['delta']:+.2e} ({100 * c['relative']:.2f}% of F(x) - F(baseline){used})",
                style="dim")


def method_notes(console, exp, width: int, k: int, plain: bool, theme: str = "dark"):
    """Under methods side by side: a legend naming which methods are signed, then each method's
    completeness note."""
    groups = [(signed, ", ".join(r["method"] for r in exp.rows if r["signed"] == signed)) for signed in (True, False)]
    groups = [(signed, names) for signed, names in groups if names]
    if plain:
        kinds = "; ".join(f"{names}: {'+ for the target, - against it' if signed else 'magnitudes'}"
                          for signed, names in groups)
        strongest = f"[token score] = each row's {k} strongest tokens; " if k else ""
        yield from wrapped(console, Text(f"{strongest}scores: {kinds}", style="dim"), width)
    else:
        fields = [Text("legend:", style="dim")]
        for signed, names in groups:
            ramp = legend_fields(signed, 0, False, theme)[1]
            fields.append(Text.assemble((f"{names}", "dim"), " ", ramp))
        if k:
            fields.append(Text(f"underlined: each row's top {k}", style="dim"))
        fields.append(Text("each row scaled to its own max |score|", style="dim"))
        yield from packed(console, fields, width)
    for row in exp.rows:
        if "completeness" in row:
            note = completeness_note(row["method"], row["completeness"], gap_warning(row["method"], row["completeness"]),
                                     row["params"])
            yield from wrapped(console, Text.assemble((row["method"] + ": ", "dim"), note), width)


def top_table(exp, k: int) -> Table:
    rows = []
    for rank, i in enumerate(exp.top(k), 1):
        t = exp.tokens[i]
        rows.append([str(rank), Text(token_shown(t.text) + (" (unk)" if t.unk else "")), str(t.start),
                     f"{t.score:+.4f}" if exp.signed else f"{t.score:.4f}"])
    columns = [("rank", "right"), ("token", "left"), ("start", "right"), ("score", "right")]
    return simple_table(columns, rows, title=f"top {k} tokens")


ELLIPSIS = "…"


def position_text(console, exp, row, k: int, plain: bool, theme: str, width: int) -> Text:
    """A language model's row: the text up to the explained position's token, its strongest
    tokens among those marked, cut from the left (…) until it fits on one line of `width`."""
    from dataclasses import replace

    p = row["position"]
    end = exp.tokens[p].end
    strong = exp.top(k, row["scores"], p)
    cut = 0
    while True:
        kept = [i for i in range(p + 1) if exp.tokens[i].start >= cut]
        shift = cut - (1 if cut else 0)  # room for the ellipsis
        tokens = [replace(exp.tokens[i], start=exp.tokens[i].start - shift, end=exp.tokens[i].end - shift)
                  for i in kept]
        text = (ELLIPSIS if cut else "") + exp.text[cut:end]
        marked = {n for n, i in enumerate(kept) if i in strong}
        out = scored_text(text, tokens, [row["scores"][i] for i in kept], exp.signed, marked, plain, theme)
        shown = out.plain.replace("\n", " ").replace("\t", " ").replace(KEEP, " ")
        if Text(shown).cell_len <= width or len(kept) <= 1:
            return out
        cut = exp.tokens[kept[1]].start  # drop the earliest token still shown


def rows_view(console, exp, width: int, k: int, plain: bool, theme: str = "dark"):
    """Every position (language model) or every class: one row each, the label on the left and
    the text marked by that row's scores, continuation lines indented under the text."""
    labels = [r["method"] if "method" in r else f"{r['position']} -> {r['target']!r}" if "position" in r
              else str(r["target"]) for r in exp.rows]
    pad = max(len(label) for label in labels) + 2
    if pad > width // 2:  # labels too long to share a line with the text: text on its own lines
        pad = 2
    if "method" in exp.rows[0]:
        yield Text("method: the input marked by that method's scores", style="dim")
    else:
        title = "position -> next" if "position" in exp.rows[0] else "class"
        yield Text(f"{title}: the input marked by its effect on that output", style="dim")
    for label, row in zip(labels, exp.rows):
        signed = row.get("signed", exp.signed)
        if "position" in row:  # the text up to the position (nothing later reaches it), on one line
            text = position_text(console, exp, row, k, plain, theme, width - pad)
        else:
            text = scored_text(exp.text, exp.tokens, row["scores"], signed, set(exp.top(k, row["scores"], signed)),
                               plain, theme)
        lines = wrapped(console, text, width - pad)
        shown = label.rjust(pad - 2) if "position" in row else label.ljust(pad - 2)
        first = Text(shown + "  ") if pad > 2 else Text(label)
        if pad == 2:
            yield first
            first = Text("  ")
        yield Text.assemble(first, lines[0])
        for line in lines[1:]:
            yield Text.assemble(" " * pad, line)
