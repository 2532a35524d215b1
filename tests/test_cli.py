"""The CLI through typer's CliRunner: JSON schema, exit codes, stdin lines, one-line errors."""

import json
import re

import pytest
from typer.testing import CliRunner

from saliency.cli import app

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def one_line_error(result, code, fragment):
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_json_schema(model_path):
    result = run("explain", "bad cafe", "-m", model_path, "--format", "json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert set(d) == {"text", "model", "method", "params", "signed", "objective", "target", "prediction", "tokens"}
    # the default method: grad-input, signed, no parameters
    assert d["text"] == "bad cafe" and d["method"] == "grad-input" and d["params"] == {}
    assert d["objective"] == "logit" and d["signed"] is True
    assert set(d["target"]) == {"label", "index", "value"}
    assert d["prediction"]["label"] in ("neg", "pos", "other")
    assert sum(d["prediction"]["probabilities"].values()) == pytest.approx(1.0)
    assert [t["text"] for t in d["tokens"]] == list("bad cafe")
    for t in d["tokens"]:
        assert set(t) == {"text", "start", "end", "score", "unk"}
        assert d["text"][t["start"]:t["end"]] == t["text"]


def test_json_of_integrated_gradients_reports_completeness_and_parameters(model_path):
    result = run("explain", "bad cafe", "-m", model_path, "-f", "json", "--method", "integrated-gradients",
                 "--steps", "300", "--baseline", "unk")
    d = json.loads(result.stdout)
    assert d["params"] == {"steps": 300, "baseline": "unk"}
    assert d["signed"] is True
    assert abs(d["completeness"]["delta"]) <= 0.01 * abs(d["target"]["value"] - d["completeness"]["reference"])


def test_integrated_gradients_warns_above_a_five_percent_completeness_gap(model_path):
    relatives = []
    for steps in range(1, 9):  # few steps: gaps from well above 5% to well below
        args = ["explain", "abc", "-m", model_path, "--method", "integrated-gradients", "--steps", str(steps)]
        result = run(*args, "-f", "json")
        assert result.exit_code == 0, result.output
        d = json.loads(result.stdout)
        c, value = d["completeness"], d["target"]["value"]
        gap = value - c["reference"]  # F(x) - F(x')
        assert c["delta"] == pytest.approx(sum(t["score"] for t in d["tokens"]) - gap, abs=1e-5)
        assert c["relative"] == pytest.approx(abs(c["delta"]) / abs(gap), rel=1e-6)
        large = c["relative"] > 0.05
        assert ("warning: completeness gap" in result.stderr) == large, (steps, c, result.stderr)
        assert ("warning: completeness gap" in run(*args).stdout) == large, (steps, c)  # people's output too
        relatives.append(c["relative"])
    # Gaps just either side of 5% were seen (3.6% and 6.7%), so a threshold moved to 3% or 7% fails above.
    assert any(0.05 < r < 0.07 for r in relatives) and any(0.03 < r <= 0.05 for r in relatives), relatives


def test_vectors_are_added_on_request(model_path):
    d = json.loads(run("explain", "bad", "-m", model_path, "-f", "json", "--vectors").stdout)
    assert len(d["vectors"]) == 3 and len(d["vectors"][0]) == 5


def test_text_output_shows_prediction_text_legend_and_top_tokens(model_path):
    result = run("explain", "bad cafe", "-m", model_path, "--top", "2", "--target", "pos", "--method", "gradient")
    assert result.exit_code == 0
    out = result.stdout
    assert "prediction" in out and "target pos" in out and "[token score] = the 2 strongest tokens" in out
    assert "top 2 tokens" in out
    assert "\x1b[" not in out  # not a terminal: no colour codes, and the scores in plain characters:
    d = json.loads(run("explain", "bad cafe", "-m", model_path, "--target", "pos", "-f", "json", "--method",
                       "gradient").stdout)
    top = sorted(d["tokens"], key=lambda t: -t["score"])[:2]
    line = next(x for x in out.splitlines() if re.sub(r"\[(\S+) [0-9.e-]+\]", r"\1", x) == "bad cafe")
    assert all(f"[{t['text']} {t['score']:.3g}]" in line for t in top if t["text"] != " "), out


def test_stdin_lines_give_json_lines(model_path):
    result = run("explain", "-m", model_path, "-f", "json", input="abc\nhag bed\n")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["abc", "hag bed"]
    dash = run("explain", "-", "-m", model_path, "-f", "json", input="abc\nhag bed\n")
    assert dash.stdout == result.stdout


def test_bad_stdin_lines_are_reported_and_skipped(model_path):
    result = runner.invoke(app, ["explain", "-m", model_path, "-f", "json"], input=b"abc\n\xff\xfe\n\nfeed\n")
    assert result.exit_code == 5
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == ["abc", "feed"]
    assert "record 1: not valid UTF-8" in result.stderr and "record 2: empty text" in result.stderr
    assert "2 line(s) failed" in result.stderr


def test_only_bad_stdin_gives_the_input_error_code(model_path):
    result = runner.invoke(app, ["explain", "-m", model_path], input=b"\xff\n")
    assert result.exit_code == 3


def test_language_model_position_and_all_positions(lm_path):
    d = json.loads(run("explain", "dead", "-m", lm_path, "-f", "json", "--position", "1").stdout)
    assert d["target"]["position"] == 1 and d["target"]["label"] == "a"
    d = json.loads(run("explain", "dead", "-m", lm_path, "-f", "json", "--position", "all").stdout)
    assert [r["position"] for r in d["rows"]] == [0, 1, 2, 3]
    assert [r["target"] for r in d["rows"][:3]] == ["e", "a", "d"]
    text = run("explain", "dead", "-m", lm_path, "--position", "all")
    assert text.exit_code == 0 and "position -> next" in text.stdout


@pytest.mark.parametrize("args, code, fragment", [
    (["explain", ""], 3, "empty text"),
    (["explain", "   "], 3, "empty text"),
    (["explain", "x", "-m", "no-such-model"], 4, "unknown model 'no-such-model' (shipped models:"),
    (["explain", "x", "-m", "/tmp/does/not/exist.safetensors"], 4, "model file not found"),
    (["explain", "abc", "--method", "integrated-gradients", "--steps", "0"], 2, "--steps"),
    (["explain", "abc", "--method", "smoothgrad", "--noise", "-1"], 2, "--noise"),
    (["explain", "abc", "--position", "2"], 2, "language models and taggers only"),
    (["explain", "abc", "--format", "yaml"], 2, "--format"),
    (["explain", "abc", "--objective", "prob"], 2, "objective"),
    (["explain", "abc", "--engine", "numpy", "--device", "cuda"], 2, "CPU only"),
    (["explain", "abc", "--engine", "jax"], 2, "unknown engine"),
    (["explain", "abc", "--device", "tpu"], 2, "unknown device"),
])
def test_bad_input_is_one_line_and_an_exit_code(model_path, args, code, fragment):
    if "-m" not in args:
        args = args + ["-m", model_path]
    one_line_error(run(*args), code, fragment)


def test_unknown_target_stops_explain_and_batch_with_one_line(model_path, tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_text("abc\nbad cafe\n")
    for command in (["explain", "abc"], ["batch", str(lines)]):
        # batch too: an option that fits no record stops the run, rather than failing every record
        one_line_error(run(*command, "-m", model_path, "--target", "maybe"), 2, "unknown target label 'maybe'")


def test_a_text_with_no_tokens_is_bad_input(model_path, monkeypatch):
    from saliency.tokenize import Tokenizer

    # The shipped tokenizers find a token in any non-blank text, so stand in one that finds none.
    monkeypatch.setattr(Tokenizer, "tokenize", lambda self, text: [])
    one_line_error(run("explain", "abc", "-m", model_path), 3, "text has no tokens")


def test_position_outside_the_text(lm_path):
    one_line_error(run("explain", "abc", "-m", lm_path, "--position", "9"), 2, "outside the text")


def test_bad_model_file_is_named(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    one_line_error(run("explain", "abc", "-m", str(bad)), 4, str(bad))


def test_unknown_method_is_typers_usage_error(model_path):
    result = run("explain", "abc", "-m", model_path, "--method", "magic")
    assert result.exit_code == 2 and "magic" in result.stderr


def test_no_text_and_no_pipe_is_a_usage_error(model_path, monkeypatch):
    import saliency.cli.explain as explain_module

    monkeypatch.setattr(explain_module, "stdin_is_piped", lambda: False)
    one_line_error(run("explain", "-m", model_path), 2, "give TEXT")


def test_debug_mode_re_raises(model_path, monkeypatch):
    monkeypatch.setenv("SALIENCY_DEBUG", "1")
    result = run("explain", "", "-m", model_path)
    assert result.exit_code == 1 and type(result.exception).__name__ == "InputError"
