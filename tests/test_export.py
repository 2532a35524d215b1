"""HTML and SVG exports: self-contained, parseable, every token present and escaped."""

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from typer.testing import CliRunner

from saliency.cli import app

TINY_MODEL = dict(cell="lstm", layers=1, bidirectional=False)  # model_path's model (conftest)

runner = CliRunner()
HOSTILE = "a gorgeous <script>alert('x')</script> movie & <b>more</b>"


class Page(HTMLParser):
    """The tags and the text of a page, as a browser's parser sees them."""

    def __init__(self, markup):
        super().__init__()
        self.tags, self.data = [], []
        self.feed(markup)
        self.close()
        self.text = "".join(self.data)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.data.append(data)


def in_order(pieces, text):
    """Every piece occurs in text, each after the one before."""
    at = 0
    for piece in pieces:
        at = text.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


def tokens_of(text, *args):
    result = runner.invoke(app, ["explain", text, "-f", "json", *args])
    assert result.exit_code == 0, result.output
    return [t["text"] for t in json.loads(result.stdout)["tokens"]]


def test_explain_html_escapes_hostile_text_and_holds_every_token():
    result = runner.invoke(app, ["explain", HOSTILE, "-f", "html"])
    assert result.exit_code == 0, result.output
    assert "<script" not in result.stdout and "<b>" not in result.stdout and "&lt;" in result.stdout
    page = Page(result.stdout)
    assert "script" not in page.tags and "b" not in page.tags and "style" in page.tags
    tokens = tokens_of(HOSTILE)
    assert "script" in tokens and "<" in tokens
    assert in_order(tokens, page.text)
    assert "http" not in result.stdout.lower().replace("http://www.w3.org", "")  # nothing fetched


def test_explain_svg_is_xml_with_every_token_and_no_font_download():
    result = runner.invoke(app, ["explain", HOSTILE, "-f", "svg"])
    assert result.exit_code == 0, result.output
    root = ET.fromstring(result.stdout)  # well-formed: '<' and '&' are escaped
    assert root.tag.endswith("svg")
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "b")]
    text = "".join(root.itertext()).replace("\xa0", " ")
    assert in_order(tokens_of(HOSTILE), text)
    assert "cdnjs" not in result.stdout and "@font-face" not in result.stdout


def test_batch_html_is_one_page_with_every_record(model_path, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("abc <script>\nbad cafe\n")
    result = runner.invoke(app, ["batch", str(data), "-m", model_path, "-f", "html", "--summary", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("<!DOCTYPE html>") == 1
    page = Page(result.stdout)
    assert "script" not in page.tags
    assert in_order(["record 0", "abc <script>", "record 1", "bad cafe", "tokens most often"], page.text)


def test_evaluate_and_decay_html(model_path, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("abc\nbad cafe\nhead\n")
    result = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--methods", "gradient,occlusion",
                                 "-f", "html", "-q"])
    assert result.exit_code == 0, result.output
    page = Page(result.stdout)
    assert in_order(["faithfulness over 3 records", "gradient", "occlusion", "random (floor)", "agreement"],
                    page.text)
    result = runner.invoke(app, ["decay", str(data), "-m", model_path, "-f", "html", "-q"])
    assert result.exit_code == 0, result.output
    assert in_order(["mean |dx_t|", "distance", "share", "0", "1", "2-3"], Page(result.stdout).text)
