"""saliency batch: formats, order, pass-through fields, bad records, stdin, agreement with explain."""

import csv
import io
import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from saliency.modelfile import checkpoint
from saliency.cli import app

from .conftest import tiny_model_file

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=True)  # model_path's model (conftest)

runner = CliRunner()
# Lengths chosen so that length-bucketing reorders them internally.
TEXTS = ["dead beef cafe", "a", "hag bed", "ff", "abc abc abc abc", "b"]


def batch(model_path, *args, input=None):
    return runner.invoke(app, ["batch", "-m", model_path, "--batch-size", "2", *args], input=input)


def jsonl(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_txt_file_keeps_input_order_across_length_buckets(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    result = batch(model_path, str(path))
    assert result.exit_code == 0, result.output
    rows = jsonl(result)
    assert [r["text"] for r in rows] == TEXTS
    assert [r["record"] for r in rows] == list(range(len(TEXTS)))
    assert all(r["source"] == str(path) for r in rows)


def test_results_equal_explain_on_the_same_texts(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    result = batch(model_path, str(path), "--method", "integrated-gradients", "--steps", "8")
    assert result.exit_code == 0, result.output
    rows = jsonl(result)
    assert [r["text"] for r in rows] == TEXTS  # one row per text: an empty output cannot pass
    for row, text in zip(rows, TEXTS):
        alone = runner.invoke(app, ["explain", text, "-m", model_path, "-f", "json", "--method",
                                    "integrated-gradients", "--steps", "8"])
        assert alone.exit_code == 0, alone.output
        single = json.loads(alone.stdout)
        assert row["params"] == single["params"] and row["target"]["label"] == single["target"]["label"]
        assert row["prediction"]["probabilities"] == pytest.approx(single["prediction"]["probabilities"], rel=1e-5)
        assert [(t["text"], t["start"]) for t in row["tokens"]] == [(t["text"], t["start"]) for t in single["tokens"]]
        assert [t["score"] for t in row["tokens"]] == pytest.approx([t["score"] for t in single["tokens"]], rel=1e-5)


def test_csv_input_passes_fields_through_with_quoting_and_embedded_newlines(tmp_path, model_path):
    path = tmp_path / "in.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "gold"])
        w.writerow(["1", "bad, \"cafe\"\nfed", "pos"])
        w.writerow(["2", "hag", "neg, really"])
    rows = jsonl(batch(model_path, str(path)))
    assert [r["text"] for r in rows] == ["bad, \"cafe\"\nfed", "hag"]
    assert rows[0]["fields"] == {"id": "1", "gold": "pos"}
    assert rows[1]["fields"] == {"id": "2", "gold": "neg, really"}


@pytest.mark.parametrize("fmt, delimiter", [("csv", ","), ("tsv", "\t")])
def test_token_table_output_round_trips(tmp_path, model_path, fmt, delimiter):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a\\tb, \\"c\\"", "id": 7}\n{"text": "dead\\nbeef", "id": 8}\n')
    result = batch(model_path, str(path), "--format", fmt)
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout), delimiter=delimiter))
    first = [r for r in table if r["record"] == "0"]
    assert "".join(r["token"] for r in first) == 'a\tb, "c"'
    assert {r["id"] for r in table} == {"7", "8"}
    assert "".join(r["token"] for r in table if r["record"] == "1") == "dead\nbeef"
    reference = jsonl(batch(model_path, str(path)))
    assert [float(r["score"]) for r in first] == [t["score"] for t in reference[0]["tokens"]]
    assert list(table[0])[:12] == ["record", "source", "token_index", "token", "start", "end", "score", "unk",
                                   "prediction", "probability", "target", "method"]


def test_bad_records_are_reported_in_place_and_skipped(tmp_path, model_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "abc"}\n{"text": \n{"other": 1}\n{"text": "\xff\xfe"}\n{"text": ""}\n'
                     b'{"text": "feed", "id": 5}\n')
    result = batch(model_path, str(path))
    assert result.exit_code == 5
    rows = jsonl(result)
    assert [r["record"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [r.get("error", "")[:14] for r in rows] == ["", "malformed JSON", "no field 'text", "line is not va",
                                                     "empty text", ""]
    assert rows[5]["text"] == "feed" and rows[5]["fields"] == {"id": 5}
    assert "4 of 6 records failed" in result.stderr
    assert result.stderr.count("Error:") == 5


def test_missing_csv_column_is_an_input_error(tmp_path, model_path):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,abc\n")
    result = batch(model_path, str(path))
    assert result.exit_code == 3 and "no column 'text or sentence'" in result.stderr
    assert jsonl(batch(model_path, str(path), "--text-field", "body"))[0]["text"] == "abc"


def test_stdin_dash_and_piped(model_path):
    a = batch(model_path, "-", input="abc\nhag\n")
    b = batch(model_path, input="abc\nhag\n")
    assert a.exit_code == b.exit_code == 0
    assert [r["text"] for r in jsonl(a)] == ["abc", "hag"] and a.stdout == b.stdout


def test_stdin_as_tsv(model_path):
    result = batch(model_path, "-", "--input-format", "tsv", input="sentence\tlabel\nabc \t1\n")
    assert jsonl(result)[0]["fields"] == {"label": "1"}


def expected_summary(rows, per_text=3, top=10):
    """The --summary table derived by hand from the JSON rows: per label, how often each token
    (lowercased) is among a text's `per_text` highest scores, and its mean score there."""
    stats, texts = {}, Counter()
    for row in rows:
        label = row["target"]["label"]
        texts[label] += 1
        for t in sorted(row["tokens"], key=lambda t: -t["score"])[:per_text]:
            entry = stats.setdefault((label, t["text"].lower()), [])
            entry.append(t["score"])
    table = []
    for label in sorted(texts):
        items = sorted(((tok, len(s), sum(s) / len(s)) for (lab, tok), s in stats.items() if lab == label),
                       key=lambda item: (-item[1], -item[2], item[0]))
        table += [(label, tok, f"{n} / {texts[label]}", f"{mean:.4f}") for tok, n, mean in items[:top]]
    return table


def test_summary_counts_the_strongest_tokens_per_label(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(TEXTS + ["bad cafe", "fed", "dead beef cafe"]) + "\n")
    result = batch(model_path, str(path), "--summary")  # records on stdout, the table on stderr
    assert result.exit_code == 0, result.output
    rows = jsonl(result)
    expected = expected_summary(rows)
    assert len(rows) == 9 and len({r[0] for r in expected}) == 2  # both labels have rows
    shown = [line for line in result.stderr.splitlines() if re.search(r"\d+ / \d+\s+-?\d+\.\d+\s*$", line)]
    assert len(shown) == len(expected), result.stderr
    for line, (label, token, count, mean) in zip(shown, expected):
        assert re.fullmatch(rf"\s*{label}\s+{re.escape(token)}\s+{count}\s+{mean}\s*", line), (line, expected)
    text = batch(model_path, str(path), "--summary", "--format", "text")  # a people's run: table on stdout
    assert text.exit_code == 0 and shown[0] in text.stdout.splitlines()


def test_unknown_formats_are_usage_errors(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("abc\n")
    assert batch(model_path, str(path), "--format", "xml").exit_code == 2
    assert batch(model_path, str(path), "--input-format", "xml").exit_code == 2


def test_missing_input_file(model_path):
    result = batch(model_path, "/no/such/file.txt")
    assert result.exit_code == 3 and "cannot read /no/such/file.txt" in result.stderr


def test_windows_keep_order_and_size():
    from saliency.records.io import windows

    got = list(windows(iter(range(1000)), 7))
    assert [x for w in got for x in w] == list(range(1000))
    assert all(1 <= len(w) <= 7 for w in got)


def test_windows_pass_on_a_read_error_after_the_records_before_it():
    from saliency.errors import InputError
    from saliency.records.io import windows

    def broken():
        yield 1
        yield 2
        raise InputError("bad column")

    seen = []
    with pytest.raises(InputError, match="bad column"):
        for window in windows(broken(), 10):
            seen += window
    assert seen == [1, 2]


def test_a_position_past_one_short_text_skips_only_that_record(tmp_path):
    path = str(tmp_path / "lm.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False, "lm"), path)
    result = runner.invoke(app, ["batch", "-m", path, "--position", "3"], input="dead beef\nab\ncafe\n")
    assert result.exit_code == 5
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("error", "ok")[:8] for r in rows] == ["ok", "position", "ok"]
    assert [r["target"]["position"] for r in rows if "target" in r] == [3, 3]
