"""saliency decay: buckets by hand, the rows on a tiny model, and the shipped vanilla RNN's gradient
fading faster with distance than the shipped LSTM's (the same data, the same passages)."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.modelfile import checkpoint
from saliency.records import io
from saliency.cli import app
from saliency.evaluation.decay import bucket, bucket_range, decay, reach
from saliency.evaluation.evaluate import read_limited

from .conftest import explainer64, tiny_model_file

PASSAGES = os.path.join(os.path.dirname(__file__), "data", "shakespeare-passages.jsonl")
runner = CliRunner()


def test_buckets_double_in_width():
    assert [bucket(d) for d in (0, 1, 2, 3, 4, 7, 8, 15, 16)] == [0, 1, 2, 2, 3, 3, 4, 4, 5]
    assert [bucket_range(b) for b in range(5)] == [(0, 0), (1, 1), (2, 3), (4, 7), (8, 15)]
    rows = [{"to": 0, "share": 0.5}, {"to": 1, "share": 0.3}, {"to": 3, "share": 0.2}]
    assert reach(rows, 0.5) == 0 and reach(rows, 0.8) == 1 and reach(rows, 0.9) == 3


def test_rows_on_a_tiny_language_model_match_the_gradient_norms():
    ex = explainer64(tiny_model_file("rnn", 1, False, "lm"))
    texts = ["abcdefgh", "bad cafe"]
    records = [io.Record(i, t) for i, t in enumerate(texts)]
    rows = {r["distance"]: r for r in decay(ex, records)["rows"]}
    scores = [np.array([t.score for t in e.tokens]) for e in ex.explain(texts, "gradient")]  # last position
    assert rows["0"]["mean"] == pytest.approx(np.mean([s[-1] for s in scores]))
    assert rows["4-7"]["tokens"] == 2 * 4 and rows["4-7"]["mean"] == pytest.approx(np.mean([s[:4] for s in scores]))
    shares = [s[-1] / s.sum() for s in scores]
    assert rows["0"]["share"] == pytest.approx(np.mean(shares))
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)


def far_share(rows, start=16):
    return sum(r["share"] for r in rows if r["from"] >= start)


def test_the_vanilla_rnn_forgets_faster_than_the_lstm():
    records, _ = read_limited(PASSAGES)
    assert len(records) == 40
    rnn = decay(load_model("shakespeare-rnn"), records)
    lstm = decay(load_model("shakespeare-lstm"), records)
    # measured: 16 or more characters back lies 0.05% of the RNN's gradient, 6.4% of the LSTM's
    assert far_share(rnn["rows"]) < 0.25 * far_share(lstm["rows"])
    assert reach(rnn["rows"]) < reach(lstm["rows"])
    rnn_mean = {r["distance"]: r["mean"] for r in rnn["rows"]}
    lstm_mean = {r["distance"]: r["mean"] for r in lstm["rows"]}
    assert rnn_mean["16-31"] / rnn_mean["0"] < 0.1 * lstm_mean["16-31"] / lstm_mean["0"]


def test_decay_command_json_and_chart(tmp_path):
    path = str(tmp_path / "tiny.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False), path)
    data = tmp_path / "in.txt"
    data.write_text("abc\n\nbad cafe\n")
    result = runner.invoke(app, ["decay", str(data), "-m", path, "-f", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["records"] == 2 and d["rows"][0]["distance"] == "0" and d["rows"][0]["tokens"] == 2
    assert "record 1 skipped: empty text" in result.stderr  # numbered from 0, as batch numbers them
    text = runner.invoke(app, ["decay", str(data), "-m", path]).stdout
    assert "distance" in text and "█" in text and "2-3" in text
