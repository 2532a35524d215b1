"""HTML and SVG exports: a self-contained page or image of what the terminal would show."""

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
