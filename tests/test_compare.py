"""Methods side by side (saliency/compare.py, explain --method a,b,c) and lrp through the CLI."""

import html
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency.cli import app
from saliency.compare import compare
from saliency.errors import UsageError
from saliency.modelfile.registry import shipped_models

from .conftest import explainer64, tiny_model_file
from .test_cli import one_line_error

runner = CliRunner()
METHODS = "gradient,grad-input,integrated-gradients,lrp"


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_each_row_is_that_method_alone():
    explainer = explainer64(tiny_model_file("lstm", 1, True))
    texts = ["dead beef", "abc"]
    results = compare(explainer, texts, METHODS.split(","), steps=20, bias_factor=1.0, target="pos")
    for text, exp in zip(texts, results):
        assert [row["method"] for row in exp.rows] == METHODS.split(",")
        for row in exp.rows:
            (alone,) = explainer.explain([text], row["method"], steps=20, bias_factor=1.0, target="pos")
            np.testing.assert_allclose(row["scores"], [t.score for t in alone.tokens], rtol=1e-12)
            assert row["signed"] == alone.signed and row["params"] == alone.params
            assert row["value"] == pytest.approx(alone.target["value"], rel=1e-9)
            assert ("completeness" in row) == (row["method"] in ("integrated-gradients", "lrp"))
        assert exp.method == METHODS and exp.target["label"] == "pos"
        lrp = exp.rows[-1]
        assert sum(lrp["scores"]) - lrp["completeness"]["delta"] == pytest.approx(lrp["value"], abs=1e-10)


def test_a_text_one_method_cannot_explain_gets_that_error():
    explainer = explainer64(tiny_model_file("gru", 1, False))
    results = compare(explainer, ["abc", "a"], ["lrp", "occlusion"], occlude="delete", errors="return")
    assert [row["method"] for row in results[0].rows] == ["lrp", "occlusion"]
    assert "at least two tokens" in str(results[1])
    with pytest.raises(UsageError, match="one target"):
        compare(explainer, ["abc"], ["lrp", "gradient"], target="all")
    with pytest.raises(UsageError, match="twice"):
        compare(explainer, ["abc"], ["lrp", "lrp"])


def test_json_rows_by_method(model_path):
    result = run("explain", "bad cafe", "-m", model_path, "-f", "json", "--method", METHODS, "--top", "2")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["method"] == METHODS and list(d["params"]) == METHODS.split(",")
    assert [row["method"] for row in d["rows"]] == METHODS.split(",")
    assert [row["signed"] for row in d["rows"]] == [False, True, True, True]
    for row in d["rows"]:
        assert len(row["scores"]) == len(d["tokens"]) == 8
        assert len(row["top"]) == 2
        key = abs if row["signed"] else (lambda s: s)
        assert key(row["scores"][row["top"][0]]) == max(key(s) for s in row["scores"])
    assert [t["score"] for t in d["tokens"]] == d["rows"][0]["scores"]  # the first method's scores


def test_terminal_shows_one_line_per_method_over_the_same_tokens(model_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    result = run("explain", "bad cafe", "-m", model_path, "--method", METHODS, "--top", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in METHODS.split(","):
        (line,) = [line for line in lines if line.startswith(name + " ")]
        assert line.count("[") == 1  # its strongest token marked
        assert re.sub(r"\[(\S+) \S+\]", r"\1", line[len(name):].strip()) == "bad cafe"  # over the same text
    words = " ".join(result.stdout.split())  # the legend, wherever it wrapped
    assert "gradient: magnitudes" in words
    assert "grad-input, integrated-gradients, lrp: + for the target" in words
    assert "lrp: relevance not on the tokens" in words


def test_html_export_has_every_method(model_path):
    result = run("explain", "bad cafe", "-m", model_path, "--method", "grad-input,lrp", "-f", "html")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>")
    shown = html.unescape(re.sub(r"<[^>]+>", "", result.stdout)).splitlines()
    for name in ("grad-input", "lrp"):
        (line,) = [line for line in shown if line.startswith(name + " ")]
        assert line[len(name):].strip() == "bad cafe"  # coloured, not marked: the text as it is
    assert len(re.findall(r'class="sal-[pn]\d', result.stdout)) >= 4  # tokens on the colour ramps


@pytest.mark.parametrize("args, code, fragment", [
    (["explain", "abc", "--method", "gradient,nope"], 2, "'nope' is not one of"),
    (["explain", "abc", "--method", "lrp,lrp"], 2, "named twice"),
    (["explain", "abc", "--method", "lrp", "--bias-factor", "3"], 2, "--bias-factor"),
    (["explain", "abc", "--method", "lrp", "--objective", "logprob"], 2, "logprob"),
    (["batch", "-", "--method", "lrp,gradient"], 2, "one method at a time"),
])
def test_bad_method_lists_are_one_line_errors(args, code, fragment, model_path):
    result = run(*args, "-m", model_path, input="abc\n")
    if code == 2 and "is not one of" in fragment:  # typer's own usage error: a box on stderr
        assert result.exit_code == 2 and fragment in result.stderr
        return
    one_line_error(result, code, fragment)


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_lrp_explains_every_shipped_model_and_conserves(name):
    """Every shipped kind (word LSTM max-pooled, char GRU last state, char LSTM and RNN language
    models) through the CLI, float32 engine: with --bias-factor 1, sum + what stays = F."""
    result = run("explain", "-m", name, "To be, or not", "--method", "lrp", "--bias-factor", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    total = sum(t["score"] for t in d["tokens"])
    assert total - d["completeness"]["delta"] == pytest.approx(d["target"]["value"], abs=1e-10)
    assert all(np.isfinite(t["score"]) for t in d["tokens"])


def test_evaluate_includes_lrp(model_path, tmp_path):
    data = tmp_path / "dev.tsv"
    data.write_text("sentence\tlabel\ndead beef cafe\t1\nhag bed\t0\nabc fed\t1\n")
    result = run("evaluate", str(data), "-m", model_path, "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    methods = json.loads(result.stdout)["methods"]
    assert "lrp" in methods and set(methods["lrp"]) == {"comprehensiveness", "sufficiency", "loo_tau"}


def test_a_large_gap_of_one_method_is_warned_and_lrp_never(model_path):
    result = run("explain", "dead beef cafe", "-m", model_path, "-f", "json", "--method", "integrated-gradients,lrp",
                 "--steps", "1")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert rows[0]["completeness"]["relative"] > 0.05 and rows[1]["completeness"]["relative"] > 0.05
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("warning: integrated-gradients: completeness gap") and "lrp" not in line


def test_the_python_api_takes_several_methods():
    import saliency

    explainer = explainer64(tiny_model_file("rnn", 2, False))
    exp = saliency.explain(explainer, "dead beef", "grad-input,lrp")
    assert [row["method"] for row in exp.rows] == ["grad-input", "lrp"]
    (alone,) = saliency.explain(explainer, ["dead beef"], "lrp")
    np.testing.assert_allclose(exp.rows[1]["scores"], [t.score for t in alone.tokens], rtol=1e-12)
