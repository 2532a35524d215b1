"""HTML and SVG exports: a self-contained page or image of what the terminal would show.

HTML pages are built by html.py (explanations with hover titles, light and dark ramps); SVG
images are rich's recording of the terminal view, with the ramp of the image's theme (dark by
default, as rich draws a terminal; light on request).
"""

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
        from .html import HtmlRecorder

        return HtmlRecorder(EXPORT_WIDTH)
    return rich_recorder(EXPORT_WIDTH, theme or "dark")


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
