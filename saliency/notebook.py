"""The notebook's way to the renderer: what a result shows in a Jupyter cell, and its HTML and SVG files.

Results carry data and know no screen; their display hooks (`_repr_html_`, `to_html`, `to_svg`)
call these functions. This is the one library module that reaches saliency.render, and only inside
its functions, when a view is asked for (tests/test_layout.py states the exception): so importing
the library loads no rich, and render/, which draws the results, may import them.
"""


def explanation_html(exp, top: int) -> str:
    """A notebook cell's view of one explanation: the text coloured by score (hover a token for its score)."""
    from .render.html import explanation_html as draw

    return draw(exp, top)


def explanation_page(exp, top: int, title: str) -> str:
    from .render.html import explanation_body, page

    return page(explanation_body(exp, top), title)


def explanation_svg(exp, top: int, theme: str, title: str) -> str:
    from .render import explanation_text, export

    return export([explanation_text(exp, top)], "svg", title, theme=theme)


def results_html(results) -> str:
    """A list of results (explanations, errors in failed texts' places, batch's RecordResults) as one view."""
    from .render.html import results_html as draw

    return draw(results)


def results_page(results, title: str) -> str:
    from .render.html import page, results_body

    return page(results_body(results), title)
