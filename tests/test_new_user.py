"""What a new user meets first (issue 24): choices in --help, a training file without a text
column named in one line with the option to use, unknown tokens marked in the text output."""

import re

from typer.testing import CliRunner

from saliency.cli import app

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(*args, **env):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80", "NO_COLOR": None, "FORCE_COLOR": None, **env})


def test_help_shows_the_allowed_values_where_the_type_was():
    explain = run("explain", "--help").stdout
    for choices in ("text|json|html|svg", "logit|logprob", "l2|l1|max", "zero|pad|unk", "unk|pad|delete",
                    "midpoint|gauss-legendre", "auto|torch|numpy"):
        assert choices in explain, choices
    train = run("train", "--help").stdout
    assert all(c in train for c in ("classify|lm", "char|word", "rnn|lstm|gru", "last|max|mean"))
    assert "jsonl|csv|tsv|text|html" in run("batch", "--help").stdout
    assert "delete|unk" in run("evaluate", "--help").stdout


def test_train_without_a_text_column_names_the_option_and_draws_no_bar(tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("review,label\ngood film,1\nbad film,0\nfine,1\nawful,0\n")
    result = run("train", str(data), "-o", str(tmp_path / "m.safetensors"), "--epochs", "1")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [f"Error: {data}: no column 'text or sentence' in header ['review', "
                                          "'label']; name the text's column with --text-field"]
    labels = tmp_path / "nolabel.csv"
    labels.write_text("text,stars\ngood film,1\n")
    result = run("train", str(labels), "-o", str(tmp_path / "m.safetensors"), "--epochs", "1")
    assert result.exit_code == 3 and result.stderr.strip().endswith("name it with --label-field")


def test_unknown_tokens_are_marked_in_the_text_and_named_in_the_legend():
    plain = run("explain", "the movie was blorftastic", "--method", "grad-input").stdout
    assert "unknown to the model (read as <unk>): blorftastic" in plain
    known = run("explain", "the movie was fine", "--method", "grad-input").stdout
    assert "unknown to the model" not in known
    coloured = run("explain", "the movie was blorftastic", "--method", "grad-input", FORCE_COLOR="1",
                   COLORTERM="truecolor").stdout
    mark = re.search(r"\x1b\[([0-9;]*)mblorftastic\x1b\[0m", coloured)
    assert mark and {"3", "53"} <= set(mark.group(1).split(";"))  # italic (3) and overlined (53)
    assert "unknown = not in the model's vocabulary (read as <unk>)" in ANSI.sub("", coloured)
