"""Gold labels: batch's gold/correct and --errors-only, --summary by gold label and confusion
pair, evaluate's accuracy, confusion table and metrics over right and wrong predictions."""

import json
import re

import pytest
from typer.testing import CliRunner

from saliency.cli import app
from saliency.records.gold import GoldError, confusion, gold_name

runner = CliRunner()
LABELS = ["neg", "pos", "other"]  # the tiny models' labels (conftest)
TEXTS = ["dead beef cafe", "a", "hag bed", "ff", "abc abc abc abc", "b", "bad cafe", "fed"]


def labelled(tmp_path, golds, name="in.tsv", column="label"):
    path = tmp_path / name
    path.write_text(f"text\t{column}\n" + "".join(f"{t}\t{g}\n" for t, g in zip(TEXTS, golds)))
    return str(path)


def rows(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_gold_values_are_label_names_or_indices():
    assert gold_name("pos", LABELS) == "pos" and gold_name(" pos ", LABELS) == "pos"
    assert gold_name("1", LABELS) == gold_name(1, LABELS) == gold_name(1.0, LABELS) == "pos"
    assert gold_name("2.0", LABELS) == "other"
    assert gold_name(0, LABELS) == "neg" and gold_name("2", LABELS) == "other"
    for bad in ("3", -1, "1.5", "positive", True, None, [1]):
        with pytest.raises(GoldError):
            gold_name(bad, LABELS)
    assert gold_name("0", ["0", "1"]) == "0"  # a label named like an index is that label


def test_confusion_counts_pairs_rows_gold_columns_predicted():
    c = confusion([("neg", "neg"), ("neg", "pos"), ("pos", "pos"), ("pos", "pos")], LABELS)
    assert c == {"records": 4, "accuracy": 0.75, "labels": ["neg", "pos"], "matrix": [[1, 1], [0, 2]]}


def test_batch_reads_a_label_column_by_itself_and_marks_each_record(tmp_path, model_path):
    golds = [0, 1, 2, "neg", "pos", "other", 1, 0]
    result = runner.invoke(app, ["batch", labelled(tmp_path, golds), "-m", model_path, "--method", "grad-input", "-q"])
    assert result.exit_code == 0, result.output
    assert "gold labels: the 'label' field" in result.stderr
    out = rows(result)
    assert [r["gold"] for r in out] == [gold_name(g, LABELS) for g in golds]
    assert all(r["correct"] == (r["prediction"]["label"] == r["gold"]) for r in out)
    assert {r["correct"] for r in out} == {True, False}  # both kinds, so --errors-only below can fail
    wrong = runner.invoke(app, ["batch", labelled(tmp_path, golds), "-m", model_path, "--method", "grad-input", "-q",
                                "--errors-only"])
    assert wrong.exit_code == 0
    assert [r["record"] for r in rows(wrong)] == [r["record"] for r in out if not r["correct"]]


def test_a_named_label_field_and_a_bad_gold_label_fail_only_that_record(tmp_path, model_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "abc", "y": "pos"}\n{"text": "bad", "y": "nonsense"}\n{"text": "fed"}\n'
                    '{"text": "cafe", "y": 2}\n')
    result = runner.invoke(app, ["batch", str(path), "-m", model_path, "--label-field", "y", "-q",
                                 "--method", "grad-input"])
    assert result.exit_code == 5, result.output
    out = rows(result)
    assert [r.get("gold") for r in out] == ["pos", None, None, "other"]
    assert "gold label 'nonsense' is not a label of the model" in out[1]["error"]
    assert out[2]["error"] == "no label field 'y'"
    assert "record 1: gold label 'nonsense'" in result.stderr


def test_a_label_column_that_holds_no_model_label_is_not_used_and_errors_only_needs_one(tmp_path, model_path):
    path = labelled(tmp_path, ["spam"] * len(TEXTS))
    result = runner.invoke(app, ["batch", path, "-m", model_path, "-q"])
    assert result.exit_code == 0 and "not a label of the model: no gold labels" in result.stderr
    assert all("gold" not in r for r in rows(result))
    plain = tmp_path / "in.txt"
    plain.write_text("abc\n")
    refused = runner.invoke(app, ["batch", str(plain), "-m", model_path, "--errors-only"])
    assert refused.exit_code == 2 and "--errors-only needs gold labels" in refused.stderr


def test_summary_groups_by_predicted_and_gold_label_and_confusion_pair(tmp_path, model_path):
    golds = [0, 1, 2, 0, 1, 2, 1, 0]
    result = runner.invoke(app, ["batch", labelled(tmp_path, golds), "-m", model_path, "--summary", "-q",
                                 "--method", "grad-input"])
    assert result.exit_code == 0, result.output
    out, err = rows(result), result.stderr
    titles = [line for line in err.splitlines() if line.startswith("tokens most often")]
    assert titles == ["tokens most often among a text's top 3, by predicted label",
                      "tokens most often among a text's top 3, by gold label",
                      "tokens most often among a text's top 3, by confusion pair (gold -> predicted)"]
    gold_part = err.split(titles[1])[1].split(titles[2])[0]
    for label in {r["gold"] for r in out}:  # each gold label's rows count its texts
        n = sum(r["gold"] == label for r in out)
        assert re.search(rf"^{label}\s+\S+\s+\d+ / {n}\s", gold_part, re.M), (label, gold_part)
    pairs = {f"{r['gold']} -> {r['prediction']['label']}" for r in out}
    assert {line.split("  ")[0] for line in err.split(titles[2])[1].strip().splitlines()[1:]} == pairs


def test_evaluate_gives_accuracy_confusion_and_metrics_over_right_and_wrong(tmp_path, model_path):
    golds = [0, 1, 2, 0, 1, 2, 1, 0]
    path = labelled(tmp_path, golds)
    result = runner.invoke(app, ["evaluate", path, "-m", model_path, "--methods", "grad-input,occlusion", "-f", "json",
                                 "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    gold = summary["gold"]
    batch = rows(runner.invoke(app, ["batch", path, "-m", model_path, "-q", "--method", "grad-input"]))
    right = sum(r["correct"] for r in batch)
    assert gold["accuracy"] == pytest.approx(right / len(batch)) and gold["records"] == len(batch)
    at = {label: i for i, label in enumerate(gold["labels"])}
    for r in batch:  # every record counted in its cell
        gold["matrix"][at[r["gold"]]][at[r["prediction"]["label"]]] -= 1
    assert all(n == 0 for row in gold["matrix"] for n in row)
    n_right, n_wrong = gold["correct"]["records"], gold["wrong"]["records"]
    assert (n_right, n_wrong) == (right, len(batch) - right) and n_right and n_wrong
    for method in ("grad-input", "occlusion", "random"):  # the split's means recombine to the overall one
        for metric in ("comprehensiveness", "sufficiency"):
            whole = summary["methods"][method][metric] * len(batch)
            right_part = gold["correct"]["methods"][method][metric] * n_right
            parts = right_part + gold["wrong"]["methods"][method][metric] * n_wrong
            assert parts == pytest.approx(whole, rel=1e-12)
    text = runner.invoke(app, ["evaluate", path, "-m", model_path, "--methods", "grad-input", "-q"]).stdout
    assert f"accuracy {gold['accuracy']:.3f} ({right} of {len(batch)}" in text
    assert "confusion table (rows: gold label, columns: predicted)" in text
    assert "faithfulness on right" in text


def test_evaluate_numbers_a_record_with_a_bad_gold_label_from_0_as_batch_does(tmp_path, model_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "abc", "y": "pos"}\n{"text": "bad fed", "y": "nonsense"}\n{"text": "cafe", "y": "neg"}\n')
    result = runner.invoke(app, ["evaluate", str(path), "-m", model_path, "--label-field", "y", "-q",
                                 "--methods", "grad-input"])
    assert result.exit_code == 0, result.output
    assert "record 1 skipped: gold label 'nonsense'" in result.stderr
