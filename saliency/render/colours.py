"""Colours for scores: one hue per sign, strength read from lightness, text always legible.

Scores are cut into LEVELS steps of |score| / the text's largest |score|; each step has a
background colour on a ramp of one hue (orange: for the target, or a magnitude; blue: against
it) whose lightness moves one way only, so tokens can be ranked by colour alone:
- "dark" (terminals, dark pages and SVG): lightness rises with |score|, from near the
  background to a bright tint;
- "light" (light pages and SVG): lightness falls with |score|, from near-white to deep;
- "256" (terminals with 256 colours): xterm palette entries of the same hue, lightness rising
  (rich's own down-sampling of a mixed colour wanders through grey, khaki and pink).
A score of exactly 0 has no background. The text on a background is black or white, whichever
contrasts more: with two inks that is at least 4.58:1 for any colour (WCAG AA asks 4.5:1).
"""

import colorsys
import math

LEVELS = 5
HUES = {"positive": 25, "negative": 210}  # degrees: orange (ColorBrewer PuOr's ends), blue
LIGHTNESS = {"light": (0.90, 0.38), "dark": (0.22, 0.62)}  # HSL lightness of level 1 and level LEVELS
SATURATION = 0.8
# xterm-256 entries (16 + 36r + 6g + b on levels 0, 95, 135, 175, 215, 255), darkest to lightest;
# hues within 7 degrees of the ramp's, checked by the tests.
XTERM = {"positive": (130, 166, 202, 208, 215), "negative": (25, 26, 33, 75, 153)}
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def hsl(hue: float, saturation: float, lightness: float) -> tuple:
    return tuple(round(255 * c) for c in colorsys.hls_to_rgb(hue / 360, lightness, saturation))


def ramp(sign: str, theme: str) -> list:
    """The LEVELS background colours (RGB) of a sign's ramp, weakest first."""
    if theme == "256":
        return [xterm_rgb(i) for i in XTERM[sign]]
    start, end = LIGHTNESS[theme]
    return [hsl(HUES[sign], SATURATION, start + (end - start) * k / (LEVELS - 1)) for k in range(LEVELS)]


def xterm_rgb(index: int) -> tuple:
    """The RGB of an xterm-256 colour cube entry (16..231)."""
    steps = (0, 95, 135, 175, 215, 255)
    i = index - 16
    return steps[i // 36], steps[i // 6 % 6], steps[i % 6]


def luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two colours, 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def ink(background) -> tuple:
    """Black or white, whichever is more legible on the background."""
    return BLACK if contrast(BLACK, background) >= contrast(WHITE, background) else WHITE


def level(score: float, scale: float) -> int:
    """0 for a score of 0 (or no scale), else 1..LEVELS by |score| / scale, rounded up."""
    if scale <= 0 or score == 0 or math.isnan(score):
        return 0
    return max(1, min(LEVELS, math.ceil(LEVELS * abs(score) / scale - 1e-9)))


def sign_of(score: float, signed: bool) -> str:
    return "negative" if signed and score < 0 else "positive"


def hex_colour(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def score_colours(score: float, scale: float, signed: bool, theme: str = "dark"):
    """(text RGB, background RGB) of a score, or None for no background."""
    k = level(score, scale)
    if k == 0:
        return None
    background = ramp(sign_of(score, signed), theme)[k - 1]
    return ink(background), background


def score_style(score: float, scale: float, signed: bool, theme: str = "dark") -> str:
    """The rich style of a token's score: '' (no background) for 0. Theme "256" names palette
    entries, so a 256-colour terminal shows exactly the ramp."""
    colours = score_colours(score, scale, signed, theme)
    if colours is None:
        return ""
    text, background = colours
    if theme == "256":
        index = XTERM[sign_of(score, signed)][level(score, scale) - 1]
        return f"color({16 if text == BLACK else 231}) on color({index})"
    return f"{hex_colour(text)} on {hex_colour(background)}"


def theme_of(console) -> str:
    """The ramp a console gets: an export's own theme (set on its recording console), else
    256-colour entries where the terminal has no more, else the dark ramp."""
    theme = getattr(console, "saliency_theme", None)
    if theme:
        return theme
    return "256" if console.color_system in ("256", "standard") else "dark"


# Endpoints kept for callers that colour one thing (decay's bars, flip's swapped tokens).
NEUTRAL = (247, 247, 247)
POSITIVE = ramp("positive", "light")[-1]
NEGATIVE = ramp("negative", "light")[-1]
SEQUENTIAL = POSITIVE


def mix(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


# Tokens swapped out (flip's before) and in (flip's after, reduce's survivors): the ramps' strong ends.
REMOVED = f"bold underline {hex_colour(ink(NEGATIVE))} on {hex_colour(NEGATIVE)}"
ADDED = f"bold underline {hex_colour(ink(POSITIVE))} on {hex_colour(POSITIVE)}"
