"""saliency train: writes a loadable model with its figures; refuses data it cannot learn from."""

import json
import math
import random
from collections import Counter

import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.modelfile import checkpoint
from saliency.cli import app
from saliency.train import split_by_text

runner = CliRunner()
SMALL = ["--hidden", "8", "--embedding", "4", "--epochs", "3", "--batch-size", "8", "--quiet"]


def write_reviews(path, n=120):
    rng = random.Random(0)
    good, bad, filler = ["great", "fine", "superb"], ["awful", "dull", "bad"], ["film", "plot", "the", "a"]
    with open(path, "w") as f:
        f.write("text\tlabel\n")
        for i in range(n):
            label = i % 2
            words = rng.sample(filler, 2) + [rng.choice(good if label else bad)] + rng.sample(filler, 1)
            f.write(" ".join(words) + f" {i}\t{label}\n")


def test_trains_a_classifier_that_learns_and_records_its_figures(tmp_path):
    data, out = tmp_path / "reviews.tsv", str(tmp_path / "m.safetensors")
    write_reviews(data)
    result = runner.invoke(app, ["train", str(data), "-o", out, "--label-names", "0=neg,1=pos", "--lr", "0.02",
                                 "--epochs", "12", *SMALL[:2], *SMALL[2:4], "--batch-size", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "held-out valid accuracy" in result.stderr
    mf = checkpoint.load(out)
    assert mf.labels == ["neg", "pos"] and mf.config.hidden_size == 8
    figures = mf.info["figures"]
    assert len(figures["history"]) == 12 and figures["valid"]["accuracy"] >= 0.9
    assert mf.info["command"].startswith("saliency train")
    r = load_model(out).explain(["the plot superb film"])[0]
    assert r.prediction["label"] == "pos"


def unigram_nats(text):
    """Cross-entropy of the text under its own character frequencies: what a model learns with no context."""
    counts = Counter(text)
    return -sum(c / len(text) * math.log(c / len(text)) for c in counts.values())


def test_trains_a_char_language_model(tmp_path):
    data, out = tmp_path / "text.txt", str(tmp_path / "lm.safetensors")
    text = "abcabcabc abcab\n" * 40
    data.write_text(text)
    result = runner.invoke(app, ["train", str(data), "--task", "lm", "--level", "char", "--seq-len", "16",
                                 "--cell", "gru", "-o", out, *SMALL[:4], "--epochs", "4", "--batch-size", "8",
                                 "--lr", "0.05", "--quiet"])
    assert result.exit_code == 0, result.output
    mf = checkpoint.load(out)
    # Chance is ln 7 = 1.95 nats and the unigram loss 1.42; the text is nearly determined by its
    # context, so a model that learnt it is far below both (measured 0.34; 1 epoch: 1.28).
    assert mf.config.head == "lm" and mf.info["figures"]["valid"]["loss_nats"] < 0.5 * unigram_nats(text)
    d = json.loads(runner.invoke(app, ["explain", "abcab", "-m", out, "-f", "json"]).stdout)
    assert d["target"]["position"] == 4


def test_a_folder_of_label_files_and_a_test_split(tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "Alpha.txt").write_text("".join(f"aa{i}\n" for i in range(30)) + "aa1\naa1\n")
    (folder / "Beta.txt").write_text("".join(f"bb{i}\n" for i in range(30)))
    out = str(tmp_path / "n.safetensors")
    result = runner.invoke(app, ["train", str(folder), "--level", "char", "--test-split", "0.2", "-o", out, *SMALL])
    assert result.exit_code == 0, result.output
    mf = checkpoint.load(out)
    assert mf.labels == ["Alpha", "Beta"] and "test" in mf.info["figures"]


def test_splits_never_share_a_text():
    pairs = [(f"t{i % 20}", i % 3) for i in range(200)]
    train, valid, test = split_by_text(pairs, [0.2, 0.2], seed=1)
    texts = [{t for t, _ in part} for part in (train, valid, test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert sum(len(p) for p in (train, valid, test)) == 200


@pytest.mark.parametrize("content, message", [
    ("text\tlabel\nonly good\t1\nstill good\t1\nalso good\t1\n", "at least two labels"),
    ("", "no training records"),
    ("text\tlabel\n", "no training records"),
])
def test_refuses_data_it_cannot_learn_from(tmp_path, content, message):
    data = tmp_path / "d.tsv"
    data.write_text(content)
    result = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "m.safetensors"), *SMALL])
    assert result.exit_code == 3 and message in result.stderr, result.output


def test_refuses_bad_options(tmp_path):
    data = tmp_path / "d.tsv"
    write_reviews(data, 20)
    for args, fragment in ((["--cell", "transformer"], "--cell"), (["--label-names", "0"], "--label-names"),
                           (["--task", "regress"], "unknown task")):
        result = runner.invoke(app, ["train", str(data), *SMALL, *args])
        assert result.exit_code == 2 and fragment in result.stderr, result.output


@pytest.mark.parametrize("output, message", [
    ("{tmp}/missing/dir/m.safetensors", "no folder"), ("/dev/null", "not a regular file"), ("{tmp}", "not a regular file"),
])
def test_output_path_is_refused_before_training(tmp_path, output, message):
    from .hostile import assert_error, run

    data = tmp_path / "reviews.tsv"
    write_reviews(data)
    result = run(["train", str(data), "-o", output.format(tmp=tmp_path), *SMALL], timeout=120)
    assert_error(result, 4, message)
    assert "epoch" not in result.stderr.decode()


def test_unusable_rows_are_counted_and_named_by_line(tmp_path):
    data, out = tmp_path / "reviews.tsv", str(tmp_path / "m.safetensors")
    write_reviews(data, n=40)
    lines = data.read_bytes().splitlines(keepends=True)
    lines[3] = b"an extra\ttab\t1\n"
    lines[7] = b"bad \xff bytes\t0\n"
    data.write_bytes(b"".join(lines))
    result = runner.invoke(app, ["train", str(data), "-o", out, *SMALL])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning")]
    assert warning == [f"warning: {data}: skipped 2 unusable records: line 4 (expected 2 fields, found 3), "
                       "line 8 (text is not valid UTF-8)"]
    assert checkpoint.load(out).info["figures"]["train_records"] + 2 <= 40
