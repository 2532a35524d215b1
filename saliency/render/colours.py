"""Colours for scores: colour-blind-safe ramps and the style of one token's background.

Signed scores use a blue (against the target) to orange (for it) diverging ramp, unsigned
scores a light to dark orange sequential ramp.
"""

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


# Tokens swapped out (flip's before) and in (flip's after, reduce's survivors): the ramps' ends.
REMOVED = f"bold underline white on #{NEGATIVE[0]:02x}{NEGATIVE[1]:02x}{NEGATIVE[2]:02x}"
ADDED = f"bold underline black on #{POSITIVE[0]:02x}{POSITIVE[1]:02x}{POSITIVE[2]:02x}"
