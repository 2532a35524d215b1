"""Readable colours, measured: every coloured token's text on its background is at least 4.5:1
(WCAG AA) in the terminal, HTML (light and dark) and SVG (light and dark); each sign's ramp
keeps one hue and its lightness moves one way, so tokens can be ranked by colour alone."""

import colorsys
import io
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from saliency.cli import app
from saliency.render import explanation_text
from saliency.render.colours import (LEVELS, XTERM, contrast, hex_colour, ink, level, luminance, ramp, score_style,
                                     xterm_rgb)
from saliency.render.exports import rich_recorder, svg_theme

from .conftest import explainer64, tiny_model_file

AA = 4.5
THEMES = ("light", "dark", "256")
WOODEN = "the acting is wooden but the score is gorgeous"


def rgb(hex_code):
    return tuple(int(hex_code.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))


def hue(colour):
    return colorsys.rgb_to_hls(*(c / 255 for c in colour))[0] * 360


def test_the_wcag_formulas_give_the_known_ratios():
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)  # #767676, the AA grey
    assert luminance((255, 0, 0)) == pytest.approx(0.2126)


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("sign", ["positive", "negative"])
def test_every_step_of_every_ramp_is_legible_one_hue_and_ordered_by_lightness(theme, sign):
    steps = ramp(sign, theme)
    assert len(steps) == LEVELS
    assert min(contrast(ink(bg), bg) for bg in steps) >= AA
    lum = [luminance(bg) for bg in steps]
    rising = theme != "light"  # dark backgrounds: stronger is lighter; light pages: stronger is darker
    assert all((b > a) if rising else (b < a) for a, b in zip(lum, lum[1:])), lum
    hues = [hue(bg) for bg in steps]
    centre = sum(hues) / len(hues)
    assert max(abs(h - centre) for h in hues) <= 7, hues  # one hue per sign
    assert (0 <= centre <= 45) if sign == "positive" else (190 <= centre <= 230)  # orange / blue


def test_the_256_colour_ramp_is_palette_entries():
    for sign, indices in XTERM.items():
        assert ramp(sign, "256") == [xterm_rgb(i) for i in indices]
    assert xterm_rgb(16) == (0, 0, 0) and xterm_rgb(231) == (255, 255, 255) and xterm_rgb(202) == (255, 95, 0)


def explanation():
    return explainer64(tiny_model_file("lstm", 1, True)).explain(["bad cafe head"], "grad-input")[0]


def segment_pairs(console):
    """(text colour, background) of every recorded segment that has a background."""
    pairs = []
    for segment in console._record_buffer:
        style = segment.style
        if style is not None and style.bgcolor is not None and segment.text.strip():
            pairs.append((style.color.get_truecolor(), style.bgcolor.get_truecolor()))
    return pairs


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_svg_tokens_are_legible_on_both_backgrounds(theme):
    exp = explanation()
    console = rich_recorder(theme=theme)
    console.print(explanation_text(exp, 2))
    pairs = segment_pairs(console)
    assert len(pairs) >= len([t for t in exp.tokens if t.score != 0 and t.text.strip()])  # scored tokens: a background
    assert min(contrast(tuple(c), tuple(b)) for c, b in pairs) >= AA
    backgrounds = {tuple(b) for _, b in pairs}
    assert backgrounds <= set(ramp("positive", theme)) | set(ramp("negative", theme))
    svg = exp.to_svg(theme=theme)
    page = svg_theme(theme)
    assert hex_colour(tuple(page.background_color)) in svg
    assert contrast(tuple(page.foreground_color), tuple(page.background_color)) >= AA  # unscored tokens
    for b in backgrounds:
        assert hex_colour(b) in svg


def css_rules(css):
    """{selector: {property: value}} of a block of CSS rules (later rules add to earlier ones)."""
    rules = {}
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        props = dict(p.split(":", 1) for p in body.split(";") if ":" in p)
        rules.setdefault(selector.strip().split("\n")[-1], {}).update({k.strip(): v.strip() for k, v in props.items()})
    return rules


def test_html_tokens_are_legible_in_light_and_dark_and_carry_their_score():
    result = CliRunner().invoke(app, ["explain", WOODEN, "-f", "html", "--method", "grad-input"])
    assert result.exit_code == 0, result.output
    page = result.stdout
    light_css, dark_css = page.split("@media (prefers-color-scheme: dark)")
    ratios = {}
    for scheme, css in (("light", light_css), ("dark", dark_css)):
        rules = css_rules(css)
        page_rule = rules[".saliency"]
        for cls in re.findall(r'class="(sal-[pn]\d)', page):
            rule = rules[f".saliency .{cls}"]
            ratios[(scheme, cls)] = contrast(rgb(rule["color"]), rgb(rule["background"]))
        ratios[(scheme, "page")] = contrast(rgb(page_rule["color"]), rgb(page_rule["background"]))
    assert min(ratios.values()) >= AA, ratios
    assert {scheme for scheme, _ in ratios} == {"light", "dark"}
    # each token says its score on hover; the strongest is marked and ranked
    assert 'class="sal-p5 sal-strong" title="wooden: +1.83, rank 1">wooden</span>' in page
    assert 'title="gorgeous: -1.34, rank 3">gorgeous</span>' in page
    assert "<script" not in page and "http" not in page.lower()


def test_256_colour_terminal_gets_palette_entries_ordered_by_score():
    exp = explanation()
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=True, color_system="256").print(explanation_text(exp, 0))
    line = next(x for x in out.getvalue().splitlines() if re.sub(r"\x1b\[[0-9;]*m", "", x) == "bad cafe head")
    runs = re.findall(r"\x1b\[38;5;(\d+);48;5;(\d+)m", line)
    scored = [t for t in exp.tokens if t.score != 0]
    assert len(runs) == len(scored)
    scale = max(abs(t.score) for t in exp.tokens)
    for (fg, bg), t in zip(runs, scored):
        sign = "negative" if t.score < 0 else "positive"
        assert int(bg) == XTERM[sign][level(t.score, scale) - 1]
        assert contrast(xterm_rgb(int(fg)), xterm_rgb(int(bg))) >= AA
    assert score_style(1.0, 1.0, True, "256") == f"color(16) on color({XTERM['positive'][-1]})"


def test_the_contrast_table_in_the_docs_is_what_the_ramps_give():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "formats.md").read_text()
    rows = {"light page": "light", "dark page": "dark", "256-colour": "256"}
    found = 0
    for line in doc.splitlines():
        theme = next((t for name, t in rows.items() if line.startswith(f"| {name}")), None)
        if theme is None:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        for sign, cell in zip(("positive", "negative"), cells[1:]):
            documented = [float(v) for v in cell.split(",")]
            measured = [contrast(ink(bg), bg) for bg in ramp(sign, theme)]
            assert documented == pytest.approx(measured, abs=0.051), (theme, sign, measured)
        found += 1
    assert found == 3
