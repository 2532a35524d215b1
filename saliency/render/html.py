"""Explanations as HTML: a fragment for notebooks (Explanation._repr_html_) and pages for
`explain -f html` and `batch -f html`.

Self-contained: one <style>, no script, no font or file fetched. Every piece of the user's
text passes html.escape. Each token's background comes from the light ramp, or the dark one
where the browser prefers a dark scheme (colours.py); its text is black or white, whichever
contrasts more (at least 4.58:1). Hovering over a token shows its score (`title`).
"""

from html import escape

from .colours import LEVELS, hex_colour, ink, level, ramp
from ..explanation import gap_warning
from .text import completeness_note, fmt_score, header_fields, token_shown

PAGE = {"light": ("#ffffff", "#1a1a1a", "#595959"), "dark": ("#1e1e1e", "#e6e6e6", "#a6a6a6")}  # bg, text, dim


def ramp_css(theme: str) -> str:
    """One class per sign and level: .sal-p3 is the third step of the orange ramp."""
    rules = []
    for sign, prefix in (("positive", "p"), ("negative", "n")):
        for k, background in enumerate(ramp(sign, theme), 1):
            rules.append(f".saliency .sal-{prefix}{k} {{ background: {hex_colour(background)}; "
                         f"color: {hex_colour(ink(background))}; }}")
    bg, fg, dim = PAGE[theme]
    rules.append(f".saliency {{ background: {bg}; color: {fg}; }}")
    rules.append(f".saliency .sal-dim {{ color: {dim}; }}")
    return "\n".join(rules)


STYLE = f"""<style>
.saliency {{ font-family: ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace; font-size: 14px;
  line-height: 1.7; padding: 0.6em 0.8em; }}
.saliency .sal-text {{ white-space: pre-wrap; margin: 0.3em 0; }}
.saliency .sal-text span {{ border-radius: 2px; }}
.saliency .sal-strong {{ font-weight: bold; text-decoration: underline; }}
.saliency .sal-unk {{ font-style: italic; text-decoration: overline; }}
.saliency .sal-strong.sal-unk {{ text-decoration: underline overline; }}
.saliency table {{ border-collapse: collapse; }}
.saliency td, .saliency th {{ padding: 0 0.8em 0 0; text-align: left; }}
.saliency .sal-num {{ text-align: right; }}
.saliency h2 {{ font-size: 1em; font-weight: normal; margin: 1.2em 0 0.2em; }}
.saliency pre {{ margin: 0.4em 0; }}
{ramp_css("light")}
@media (prefers-color-scheme: dark) {{
{ramp_css("dark")}
}}
</style>"""


def token_class(score: float, scale: float, signed: bool) -> str:
    k = level(score, scale)
    return "" if k == 0 else f"sal-{'n' if signed and score < 0 else 'p'}{k}"


def text_html(text) -> str:
    """A rich Text of plain styles (dim, bold) as escaped HTML."""
    cuts = sorted({0, len(text.plain)} | {s.start for s in text.spans} | {s.end for s in text.spans})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        piece = escape(text.plain[a:b])
        styles = " ".join(str(s.style) for s in text.spans if s.start <= a and b <= s.end)
        if "bold" in styles:
            piece = f"<strong>{piece}</strong>"
        if "dim" in styles:
            piece = f'<span class="sal-dim">{piece}</span>'
        out.append(piece)
    return "".join(out)


def marked_html(text: str, tokens, scores, signed: bool, strong=()) -> str:
    """The text with each token in a span: class by score level, title with its score."""
    out, cursor = [], 0
    scale = max((abs(s) for s in scores), default=0.0)
    rank = {i: r for r, i in enumerate(strong, 1)}
    for i, (tok, s) in enumerate(zip(tokens, scores)):
        if tok.start < cursor:  # overlapping spans (a user's tokenizer): mark only what is left
            continue
        out.append(escape(text[cursor:tok.start]))
        classes = [token_class(s, scale, signed)] + (["sal-strong"] if i in rank else [])
        unknown = getattr(tok, "unk", False)
        classes += ["sal-unk"] if unknown else []
        title = f"{token_shown(tok.text)}: {fmt_score(s, signed)}" + (f", rank {rank[i]}" if i in rank else "") + \
            (", unknown to the model" if unknown else "")
        cls = " ".join(c for c in classes if c)
        attrs = (f' class="{cls}"' if cls else "") + f' title="{escape(title)}"'
        out.append(f"<span{attrs}>{escape(text[tok.start:tok.end])}</span>")
        cursor = tok.end
    out.append(escape(text[cursor:]))
    return "".join(out)


def legend_html(signed: bool, k: int, unknown: bool) -> str:
    swatch = "".join(f'<span class="sal-n{j}">&nbsp;&nbsp;</span>' for j in range(LEVELS, 0, -1)) if signed else ""
    swatch += "" if not signed else '<span class="sal-dim"> 0 </span>'
    swatch += "".join(f'<span class="sal-p{j}">&nbsp;&nbsp;</span>' for j in range(1, LEVELS + 1))
    ends = ("against ", " for target") if signed else ("weak ", " strong")
    parts = [f'<span class="sal-dim">{ends[0]}</span>{swatch}<span class="sal-dim">{ends[1]}</span>']
    if k:
        parts.append(f'<span class="sal-dim">bold, underlined: top {k}</span>')
    if unknown:
        parts.append('<span class="sal-unk">unknown</span><span class="sal-dim"> = not in the model\'s vocabulary'
                     ' (read as &lt;unk&gt;)</span>')
    parts.append('<span class="sal-dim">scaled to this text\'s max |score|; hover a token for its score</span>')
    return '<div class="sal-legend">' + "&nbsp;&nbsp; ".join(parts) + "</div>"


def top_html(exp, k: int) -> str:
    rows = []
    for rank, i in enumerate(exp.top(k), 1):
        t = exp.tokens[i]
        rows.append(f'<tr><td class="sal-num">{rank}</td><td>{escape(token_shown(t.text))}'
                    f'{" (unk)" if t.unk else ""}</td><td class="sal-num">{t.start}</td>'
                    f'<td class="sal-num">{t.score:+.4f}</td></tr>' if exp.signed else
                    f'<td class="sal-num">{t.score:.4f}</td></tr>')
    head = '<tr class="sal-dim"><th>rank</th><th>token</th><th>start</th><th>score</th></tr>'
    return f'<table class="sal-top-table"><caption class="sal-dim" style="text-align:left">top {k} tokens</caption>' \
           f"{head}{''.join(rows)}</table>"


def explanation_body(exp, top: int = 3) -> str:
    """One explanation's HTML, without the style: header, marked text (or one row per position
    or class), legend, top tokens."""
    header = "&nbsp;&nbsp;".join(text_html(f) for f in header_fields(exp))
    parts = [f'<div class="sal-head">{header}</div>']
    by_method = bool(exp.rows) and "method" in exp.rows[0]  # several methods side by side
    if exp.rows:
        rows = []
        for row in exp.rows:
            if by_method:
                label = escape(row["method"])
            elif "position" in row:
                label = f"{row['position']} -&gt; {escape(repr(row['target']))}"
            else:
                label = escape(str(row["target"]))
            signed = row.get("signed", exp.signed)
            p = row.get("position")  # a language model's row: the text up to its position, nothing later marked
            n = len(exp.tokens) if p is None else p + 1
            text = marked_html(exp.text[:exp.tokens[n - 1].end], exp.tokens[:n], row["scores"][:n], signed,
                               exp.top(top, row["scores"], signed, p))
            rows.append(f'<tr><td class="sal-dim">{label}</td> <td class="sal-text">{text}</td></tr>')
        parts.append("<table>\n" + "\n".join(rows) + "\n</table>")
    else:
        scores = [t.score for t in exp.tokens]
        parts.append(f'<div class="sal-text">{marked_html(exp.text, exp.tokens, scores, exp.signed, exp.top(top))}'
                     "</div>")
    unknown = any(t.unk for t in exp.tokens)
    if by_method:  # a legend for each kind of score present, then each method's completeness note
        for signed in sorted({row["signed"] for row in exp.rows}, reverse=True):
            names = ", ".join(row["method"] for row in exp.rows if row["signed"] == signed)
            parts.append(f'<div class="sal-dim">{escape(names)}:</div>' + legend_html(signed, top, unknown))
        for row in exp.rows:
            if row.get("completeness"):
                note = completeness_note(row["method"], row["completeness"],
                                         gap_warning(row["method"], row["completeness"]), row["params"]).plain
                parts.append(f'<div class="sal-dim">{escape(row["method"])}: {escape(note)}</div>')
    else:
        parts.append(legend_html(exp.signed, top, unknown))
    if exp.completeness and not by_method:
        note = completeness_note(exp.method, exp.completeness, exp.completeness_warning(), exp.params).plain
        parts.append(f'<div class="sal-dim">{escape(note)}</div>')
    if top and not exp.rows:
        parts.append(top_html(exp, top))
    return "\n".join(parts)


def explanation_html(exp, top: int = 3) -> str:
    """A fragment for a notebook cell: the style and one explanation."""
    return f'{STYLE}\n<div class="saliency">\n{explanation_body(exp, top)}\n</div>'


def results_body(results, top: int = 3) -> str:
    """Several results one after another, each under its number: an Explanation, an error in
    a failed text's place, or a batch RecordResult (its record number, source and error)."""
    bodies = []
    for i, item in enumerate(results):
        record = getattr(item, "record", None)
        heading = f"record {record.index}" + (f" ({record.source})" if record.source else "") if record else str(i)
        exp = getattr(item, "explanation", item) if record else item
        error = getattr(item, "error", None) if record else (exp if isinstance(exp, Exception) else None)
        body = f'<div>Error: {escape(str(error))}</div>' if error is not None or exp is None else \
            explanation_body(exp, top)
        bodies.append(f'<h2 class="sal-dim">{escape(heading)}</h2>\n{body}')
    return "\n".join(bodies)


def results_html(results, top: int = 3) -> str:
    """A notebook fragment for a list of results."""
    return f'{STYLE}\n<div class="saliency">\n{results_body(results, top)}\n</div>'


def page(body: str, title: str) -> str:
    return (f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<meta name="color-scheme" '
            f'content="light dark">\n<title>{escape(title)}</title>\n{STYLE}\n<style>body {{ margin: 0; }} '
            f'.saliency {{ min-height: 100vh; }}</style>\n</head>\n<body>\n<div class="saliency">\n{body}\n</div>\n'
            "</body>\n</html>\n")
