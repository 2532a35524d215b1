"""A tagger's explanation for people: the tagged sentence, then one line per explained position
naming the words that drove its tag, strongest first, with their distance from the position.

    tagged   I/PRON saw/VERB her/PRON duck/VERB ...
    word     tag    p     what drove it (distance: - left, + right)
    duck     VERB   0.91  duck(0) her(-1) under(+1)

Each line fits 80 columns: long words are cut with an ellipsis, and the drivers wrap under
themselves. In colour the drivers carry their score's colour; plain, each is followed by it.
"""

from rich.text import Text

from .colours import score_style
from .text import KEEP, field, fmt_score, legend_fields, packed, scored_text, token_shown, top_table, wrapped

WORD = 12  # widest word shown in the word column (longer: cut, ending in an ellipsis)
TAG = 6


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def tagged_sentence(exp) -> Text:
    out = Text()
    for i, (token, tag) in enumerate(zip(exp.tokens, exp.prediction["tags"])):
        if i:
            out.append(" ")
        out.append(token_shown(token.text).replace(" ", KEEP))  # ' ' is one word: never broken at its space
        out.append("/" + tag, style="bold")
    return out


def header(exp) -> list:
    target = exp.target
    fields = [Text.assemble(("tagged ", "dim"), tagged_sentence(exp))]
    if exp.rows:
        targets = {r["target"] for r in exp.rows}
        named = len(targets) == 1 and any(r["target"] != t for r, t in
                                          zip(exp.rows, (exp.prediction["tags"][r["position"]] for r in exp.rows)))
        what = f"{next(iter(targets))!s} at every position" if named else "the tag predicted at each position"
    else:
        what = f"{target['label']} at position {target['position']} ({token_shown(exp.tokens[target['position']].text)})"
    if "contrast" in target:
        what += f" vs {target['contrast']['label']}"
    fields.append(field("target", what, f" ({exp.objective})"))
    params = ", ".join(f"{k}={v}" for k, v in exp.params.items())
    fields.append(field("method", exp.method, f" ({params})" if params else ""))
    return fields


def drivers(exp, row, k: int, plain: bool) -> Text:
    """The k strongest words for one position: word(distance), in the score's colour (plain: with it)."""
    scores, position = row["scores"], row["position"]
    scale = max((abs(s) for s in scores), default=0.0)
    out = Text()
    for n, i in enumerate(exp.top(k, scores)):
        if n:
            out.append("  ")
        label = f"{cut(token_shown(exp.tokens[i].text), WORD)}({i - position:+d})".replace("(+0)", "(0)")
        label = label.replace(" ", KEEP)
        if plain:
            out.append(label + KEEP + fmt_score(scores[i], exp.signed))
        else:
            out.append(label, style=score_style(scores[i], scale, exp.signed))
    return out


class TaggerView:
    def __init__(self, exp, top: int = 3):
        self.exp, self.top = exp, max(1, top)

    def __rich_console__(self, console, options):
        exp, k, width = self.exp, self.top, options.max_width
        plain = console.no_color or console.color_system is None
        for line in header(exp):
            yield from wrapped(console, line, width)
        if not exp.rows:  # one position: the sentence coloured by its scores, and the top table
            scores = [t.score for t in exp.tokens]
            yield from wrapped(console, scored_text(exp.text, exp.tokens, scores, exp.signed, set(exp.top(k)), plain),
                               width)
            yield from packed(console, legend_fields(exp.signed, k, plain), width)
            yield top_table(exp, k)
            return
        tags, probs = exp.prediction["tags"], exp.prediction["probabilities"]
        word_w = min(WORD, max(len(cut(token_shown(t.text), WORD)) for t in exp.tokens))
        tag_w = min(TAG, max(len(t) for t in tags))
        asked = any(r["target"] != tags[r["position"]] for r in exp.rows)
        target_w = max(len("target"), min(TAG, max(len(r["target"]) for r in exp.rows))) if asked else 0
        left = word_w + 2 + tag_w + 2 + 4 + 2 + (target_w + 2 if asked else 0)
        title = "word".ljust(word_w + 2) + "tag".ljust(tag_w + 2) + "p".ljust(6)
        title += ("target".ljust(target_w + 2) if asked else "") + "what drove it (distance: - left, + right)"
        yield Text(cut(title, width), style="dim")
        for row in exp.rows:
            p = row["position"]
            prefix = (cut(token_shown(exp.tokens[p].text), WORD).ljust(word_w + 2) + cut(tags[p], TAG).ljust(tag_w + 2)
                      + f"{probs[p][tags[p]]:.2f}  ")
            if asked:
                prefix += cut(row["target"], TAG).ljust(target_w + 2)
            pad = left if left < width // 2 else 2
            lines = wrapped(console, drivers(exp, row, k, plain), width - pad)
            if pad == 2:  # too narrow for columns: the word's line, then its drivers indented
                yield Text(prefix.rstrip())
                yield from (Text.assemble("  ", line) for line in lines)
                continue
            yield Text.assemble(prefix, lines[0])
            yield from (Text.assemble(" " * pad, line) for line in lines[1:])
        if not plain:
            yield from packed(console, legend_fields(exp.signed, 0, plain), width)
        else:
            what = "+ for the target, - against it" if exp.signed else "magnitudes"
            yield Text(f"each word(distance) followed by its score; scores: {what}", style="dim")
