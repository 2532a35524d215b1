"""Notebooks and Python: an Explanation and the list explain returns show as HTML in a cell
(self-contained, escaped, each token's score on hover); to_html() and to_svg() write files."""

import re
import xml.etree.ElementTree as ET
from html import unescape

from saliency import Explanations, explain_records, load_model

from .conftest import explainer64, tiny_model_file
from .test_export import Page, in_order

HOSTILE = "a <script>alert(1)</script> & <img src=x onerror=y> bad cafe"


def titles(markup):
    """(token text, title) of every token span, unescaped."""
    return [(unescape(text), unescape(title)) for title, text in re.findall(r'title="([^"]*)">([^<]*)</span>', markup)]


def test_an_explanation_shows_itself_in_a_cell_escaped_with_scores_on_hover():
    exp = explainer64(tiny_model_file("gru", 1, True)).explain([HOSTILE], "grad-input")[0]
    markup = exp._repr_html_()
    page = Page(markup)
    assert not {"script", "img", "link", "iframe"} & set(page.tags) and "style" in page.tags
    assert "http" not in markup.lower()  # nothing fetched
    assert in_order([t.text for t in exp.tokens], page.text)
    shown = titles(markup)
    assert [text for text, _ in shown] == [t.text for t in exp.tokens]  # one span per token, in order
    for (text, title), t in zip(shown, exp.tokens):
        assert title.startswith(f"{text!r}: " if text == " " else f"{text}: ")
        assert float(title.split(": ")[1].split(",")[0]) == float(f"{t.score:+.3g}")
        assert ("unknown to the model" in title) == t.unk
    assert any(t.unk for t in exp.tokens)  # '<' and friends are not in the tiny vocabulary
    top = [i for i, (_, title) in enumerate(shown) if ", rank " in title]
    assert sorted(top) == sorted(exp.top(3))


def test_the_list_explain_returns_and_batch_results_show_as_one_view(tmp_path):
    explainer = load_model("names-gru")
    results = explainer.explain(["Nakamura", "O'Sullivan"], method="grad-input")
    assert isinstance(results, Explanations) and isinstance(results, list) and len(results) == 2
    markup = results._repr_html_()
    assert in_order(["0", "Japanese", "Nakamura", "1", "English", "O'Sullivan"], unescape(Page(markup).text))
    records = Explanations(explain_records(explainer, [{"text": "Smith"}, {"text": ""}], method="grad-input"))
    text = Page(records._repr_html_()).text
    assert in_order(["record 0", "Smith", "record 1", "Error: empty text"], text)
    assert in_order(["record 1", "Error: empty text"], Page(records[1]._repr_html_()).text)  # one result alone
    page = records.to_html()
    assert page.startswith("<!DOCTYPE html>") and page.count("<style>") >= 1


def test_to_html_and_to_svg_write_self_contained_files(tmp_path):
    exp = explainer64(tiny_model_file("lstm", 1, False)).explain(["bad cafe"], "gradient")[0]
    html = exp.to_html(top=2)
    assert html.startswith("<!DOCTYPE html>") and "prefers-color-scheme: dark" in html
    assert len(re.findall(r"rank \d", html)) == 2
    for theme in ("dark", "light"):
        svg = exp.to_svg(theme=theme)
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and "@font-face" not in svg
        assert in_order(["b", "a", "d", "c", "a", "f", "e"], "".join(root.itertext()))
    assert exp.to_svg(theme="dark") != exp.to_svg(theme="light")
