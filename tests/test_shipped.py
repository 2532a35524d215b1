"""End-to-end checks on the shipped models (the files in models/)."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.cli import app
from saliency.modelfile.registry import DEFAULT_MODEL, shipped_models

ROOT = Path(__file__).resolve().parent.parent

runner = CliRunner()
SHIPPED = ["sst2-lstm", "names-gru", "shakespeare-lstm", "shakespeare-rnn", "ud-pos"]
EXAMPLES = {"sst2-lstm": "the acting is wooden but the score is gorgeous", "names-gru": "O'Sullivan",
            "shakespeare-lstm": "ROMEO:\nWhat light", "shakespeare-rnn": "ROMEO:\nWhat light",
            "ud-pos": "I saw her duck under the table ."}
CLEAR = [  # (sentence, label, sentiment words)
    ("a gorgeous , witty , seductive movie .", "positive", {"gorgeous", "witty", "seductive"}),
    ("the worst film of the year .", "negative", {"worst"}),
    ("this is a wonderful and moving story .", "positive", {"wonderful", "moving"}),
    ("a dull , lifeless and boring mess .", "negative", {"dull", "lifeless", "boring", "mess"}),
    ("an excellent film with brilliant performances .", "positive", {"excellent", "brilliant"}),
    ("the movie was awful .", "negative", {"awful"}),
]


def test_the_shipped_models_are_there():
    assert set(SHIPPED) <= set(shipped_models()) and DEFAULT_MODEL == "sst2-lstm"


@pytest.fixture(scope="module")
def sst2():
    return load_model("sst2-lstm", engine="torch")


@pytest.mark.parametrize("method", ["gradient", "integrated-gradients", "occlusion"])
def test_default_model_gets_clear_sentences_right_and_points_at_sentiment_words(sst2, method):
    results = sst2.explain([s for s, _, _ in CLEAR], method)
    for (sentence, label, words), r in zip(CLEAR, results):
        assert r.prediction["label"] == label, sentence
        assert r.tokens[r.top(1)[0]].text in words, (sentence, [(t.text, t.score) for t in r.tokens])


# Not the vanilla RNN: on this text its path integrand is sharp (tanh saturating), measured gap
# 58% at 300 steps and 1.5% at 1,000; the gap is reported and warned about, as README says.
@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "shakespeare-rnn"])
def test_integrated_gradients_is_complete_within_one_percent_at_300_steps(name):
    explainer = load_model(name, engine="torch")
    r = explainer.explain([EXAMPLES[name]], "integrated-gradients", steps=300)[0]
    gap = r.target["value"] - r.completeness["reference"]
    assert abs(r.completeness["delta"]) < 0.01 * abs(gap)


@pytest.mark.parametrize("name", SHIPPED)
def test_numpy_engine_equals_torch_on_shipped_models(name):
    torch_side, numpy_side = load_model(name, engine="torch"), load_model(name, engine="numpy")
    ids = np.array([torch_side.tokenizer.encode(EXAMPLES[name])])
    x = torch_side.engine.embed(ids)
    np.testing.assert_allclose(numpy_side.engine.embed(ids), x)
    args = (x, np.array([ids.shape[1]]), np.array([ids.shape[1] - 1]), np.array([-1]))
    for a, b in zip(numpy_side.engine.gradient(*args), torch_side.engine.gradient(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def assert_same_output(a, b, path="$"):
    """Equal structure and strings; numbers equal to float32 precision (as printed, 4 digits)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same_output(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_output(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("method", ["gradient", "grad-input", "integrated-gradients", "smoothgrad", "occlusion"])
def test_both_engines_print_the_same_json(name, method):
    outputs = []
    for engine in ("numpy", "torch"):
        result = runner.invoke(app, ["explain", EXAMPLES[name], "-m", name, "-f", "json", "--method", method,
                                     "--engine", engine, "--steps", "20", "--samples", "5"])
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
    assert_same_output(*outputs)


def test_models_command_lists_measured_figures():
    result = runner.invoke(app, ["models", "--format", "json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["sst2-lstm"]["default"] is True
    assert rows["sst2-lstm"]["held_out"].startswith("dev accuracy 0.8")
    assert "macro-F1" in rows["names-gru"]["held_out"]
    assert "nats/char" in rows["shakespeare-lstm"]["held_out"]
    assert rows["ud-pos"]["task"] == "tagger (17 tags)" and rows["ud-pos"]["held_out"].startswith("test accuracy 0.9")
    text = runner.invoke(app, ["models"]).stdout
    assert "sst2-lstm" in text and "(default)" in text and rows["sst2-lstm"]["held_out"][13:18] in text


def test_explain_on_the_default_model_from_the_cli():
    result = runner.invoke(app, ["explain", "the movie was awful .", "-f", "json"])
    d = json.loads(result.stdout)
    assert d["model"] == "sst2-lstm" and d["prediction"]["label"] == "negative"
    assert max(d["tokens"], key=lambda t: t["score"])["text"] == "awful"


UD_TEST = next((p for p in (ROOT.parent / "shared" / "data" / "ud-ewt" / "test.conllu",
                            ROOT.parent.parent / "shared" / "data" / "ud-ewt" / "test.conllu") if p.exists()), None)


def test_ud_pos_tags_a_clear_sentence():
    explainer = load_model("ud-pos", engine="numpy")
    (r,) = explainer.explain(["The old dog sleeps under a big table ."], "gradient")
    assert r.prediction["tags"] == ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "ADJ", "NOUN", "PUNCT"]
    # "table" is a noun by itself; "old" is an adjective by itself and then by the noun it modifies
    assert r.top(1, r.rows[7]["scores"]) == [7] and r.top(2, r.rows[1]["scores"]) == [1, 2]


@pytest.mark.skipif(UD_TEST is None, reason="UD English EWT is not in ../shared/data")
def test_ud_pos_test_accuracy_is_what_models_readme_says():
    """The figure in the model file and models/README.md, recomputed from the file (forward passes only)."""
    from saliency.records.io import read_records
    from saliency.pipeline import Explainer
    from saliency.modelfile.registry import load_model_file

    mf = load_model_file("ud-pos")
    engine = Explainer.from_model_file(mf, engine="numpy").engine
    right = total = 0
    for record in read_records(str(UD_TEST)):
        ids = np.array([[t.id for t in given(mf.tokenizer, record.text)]])
        predicted = engine.forward(engine.embed(ids), np.array([ids.shape[1]]))[0].argmax(-1)
        right += sum(mf.labels[k] == g for k, g in zip(predicted, record.fields["tags"]))
        total += len(record.fields["tags"])
    assert total == 25094
    assert right / total == pytest.approx(mf.info["figures"]["test"]["accuracy"], abs=2e-4)
    assert right / total >= 0.92
    assert f"{right / total:.3f}" in (ROOT / "models" / "README.md").read_text()


def given(tokenizer, text):
    from saliency.tagging import given_tokens

    return given_tokens(tokenizer, text)
