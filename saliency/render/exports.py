"""HTML and SVG exports: a self-contained page or image of what the terminal would show.

HTML pages are built by html.py (explanations with hover titles, light and dark ramps); SVG
images are rich's recording of the terminal view, with the ramp of the image's theme (dark by
default, as rich draws a terminal; light on request).
"""

from .html import explanation_body, page
from .text import ExplanationView

EXPORT_WIDTH = 100  # columns of an exported page: wider than a terminal, still one screen


def rich_recorder(width: int = EXPORT_WIDTH, theme: str = "light"):
    """A rich console that records what is printed, in colour whatever stdout is; explanations
    printed to it take the `theme` ramp (colours.theme_of reads saliency_theme)."""
    import io as _io

    from rich.console import Console

    console = Console(record=True, file=_io.StringIO(), width=width, force_terminal=True,
                      color_system="truecolor", no_color=False, highlight=False)
    console.saliency_theme = theme
    return console


def recording_console(fmt: str = "html", theme: str = None):
    """What a command prints into for export(): an HtmlRecorder for HTML, a rich recorder for SVG."""
    if fmt == "html":
        return HtmlRecorder(EXPORT_WIDTH)
    return rich_recorder(EXPORT_WIDTH, theme or "dark")


class HtmlRecorder:
    """What a command prints, collected for one page: explanations as HTML (hover titles, light
    and dark ramps), anything else (headings, tables) through rich's own HTML export."""

    def __init__(self, width: int = 100):
        self.parts, self.width, self.rich = [], width, None

    def print(self, item="", **kwargs):
        if isinstance(item, ExplanationView):
            self._flush()
            self.parts.append(explanation_body(item.exp, item.top))
            return
        if self.rich is None:
            self.rich = rich_recorder(self.width, "light")
        self.rich.print(item, **kwargs)

    def _flush(self):
        if self.rich is not None:
            code = self.rich.export_html(inline_styles=True, code_format="{code}")
            if code.strip():
                self.parts.append(f"<pre>{code.rstrip()}</pre>")
            self.rich = None

    def page(self, title: str) -> str:
        self._flush()
        return page("\n".join(self.parts), title)


def svg_theme(theme: str):
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME, SVG_EXPORT_THEME

    return DEFAULT_TERMINAL_THEME if theme == "light" else SVG_EXPORT_THEME


def export(renderables, fmt: str, title: str = "saliency", recorder=None, theme: str = None) -> str:
    """A self-contained HTML page or SVG image of `renderables` (or of what was printed into
    `recorder`). Every piece of text is escaped, so a token such as <script> shows as text.
    `theme`: light or dark (SVG; an HTML page follows the browser's colour scheme)."""
    recorder = recorder or recording_console(fmt, theme)
    for item in renderables:
        recorder.print(item)
    if fmt == "svg":
        import re

        svg = recorder.export_svg(title=title, theme=svg_theme(recorder.saliency_theme))
        # rich's SVG fetches Fira Code from a CDN; a self-contained file uses a local monospace font.
        return re.sub(r"@font-face \{[^}]*\}\s*", "", svg)
    return recorder.page(title)
