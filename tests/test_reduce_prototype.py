"""reduce (input reduction) and prototype (gradient-guided swaps towards a label): the library and CLI.

Tiny models run on the numpy engine (equal to torch, tested elsewhere): these searches make many
small passes, where torch's per-call overhead dominates."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import saliency
from saliency.cli import app
from saliency.act.editor import Editor
from saliency.pipeline import softmax
from saliency.act.prototype import prototype
from saliency.act.reduce import reduce

from .conftest import TEXTS, explainer64, tiny_model_file
from .test_flip import linear_explainer

TINY_MODEL = dict(cell="lstm", layers=1, bidirectional=True, seed=1)  # model_path's model (conftest)

MODELS = [("lstm", "classifier", 5), ("gru", "classifier", 0), ("rnn", "lm", 5), ("lstm", "lm", 0)]


def fresh(explainer, text):
    return Editor(explainer).logits([[t.id for t in explainer.tokenize(text)]])[0]


@pytest.mark.parametrize("cell,head,embedding_dim", MODELS)
@pytest.mark.parametrize("method", ["gradient", "occlusion"])
def test_reduction_never_changes_the_label_nor_empties_the_text(cell, head, embedding_dim, method):
    ex = explainer64(tiny_model_file(cell, 1, True, head, embedding_dim=embedding_dim, seed=4), engine="numpy")
    for text in TEXTS[1:] + ["fade cab head bag"]:
        result = reduce(ex, text, method=method, candidates=3)
        label = ex.output_names[int(np.argmax(fresh(ex, text)))]
        assert result.label == label == result.before["label"] == result.after["label"]
        assert result.reduced_text.strip() and len(result.reduced_tokens) >= 1
        assert len(result.steps) == len(result.tokens) - len(result.reduced_tokens)
        for step in result.steps:  # every intermediate text keeps the label, by a fresh forward pass
            probs = softmax(fresh(ex, step.text))
            assert ex.output_names[int(np.argmax(probs))] == label
            assert step.probability == pytest.approx(probs[ex.output_index(label)], abs=1e-12)
        # what is left is the original's tokens, in order, at the offsets recorded
        assert [result.tokens[i].text for i in result.kept] == [t.text for t in result.reduced_tokens]


def test_reduction_of_one_token_returns_it_and_words_stay_apart():
    ex = linear_explainer()
    one = reduce(ex, "film")
    assert one.reduced_text == "film" and one.steps == []
    result = reduce(ex, "a good film is n't dull", candidates=6)
    words = result.reduced_text.split()
    assert words and all(w in {"a", "good", "film", "is", "n't", "dull"} for w in words)
    assert result.after["label"] == result.before["label"]


@pytest.mark.parametrize("cell,head,embedding_dim", MODELS)
def test_prototype_never_lowers_the_target_logit(cell, head, embedding_dim):
    ex = explainer64(tiny_model_file(cell, 1, False, head, embedding_dim=embedding_dim, seed=5), engine="numpy")
    to = "pos" if head == "classifier" else "c"
    goal = ex.output_index(to)
    for start, seed in ((None, None), ("bad cafe", None), (None, 3)):
        result = prototype(ex, to, start=start, length=6, seed=seed, candidates=20, max_steps=8)
        logits = [s.logit for s in result.steps]
        assert len(logits) > 1 and all(b > a for a, b in zip(logits, logits[1:]))
        for s in result.steps:  # each step's figures are a fresh forward pass on its text
            out = fresh(ex, s.text)
            assert s.logit == pytest.approx(out[goal], abs=1e-12)
            assert s.probability == pytest.approx(softmax(out)[goal], abs=1e-12)
        for a, b in zip(result.steps, result.steps[1:]):
            assert b.verified == pytest.approx(b.logit - a.logit, abs=1e-9)
            assert a.text[:b.position] == b.text[:b.position] and len(a.text) == len(b.text)
        again = prototype(ex, to, start=start, length=6, seed=seed, candidates=20, max_steps=8)
        assert again.to_dict() == result.to_dict()  # deterministic


def test_the_default_start_is_unknown_tokens_and_seeds_draw_other_starts():
    ex = explainer64(tiny_model_file("gru", 1, False, seed=6), engine="numpy")
    unk = prototype(ex, "neg", length=5, max_steps=1)
    assert [t.unk for t in ex.tokenize(unk.steps[0].text)] == [True] * 5
    starts = {prototype(ex, "neg", length=5, seed=s, max_steps=1).steps[0].text for s in range(4)}
    assert len(starts) > 1 and all(len(s) == 5 for s in starts)
    with pytest.raises(saliency.UsageError, match="--from or --seed"):
        prototype(ex, "neg", start="abc", seed=1)


def test_shipped_sst2_prototypes_are_confident():
    for label in ("negative", "positive"):
        result = saliency.prototype(saliency.load_model("sst2-lstm", engine="numpy"), label, length=2, candidates=8)
        assert result.prediction["label"] == label and result.steps[-1].probability > 0.99


runner = CliRunner()


def test_cli_reduce_json_and_text(model_path):
    result = runner.invoke(app, ["reduce", "dead beef cafe", "-m", model_path, "-f", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert set(d) == {"text", "reduced_text", "label", "probability", "before", "after", "method", "steps"}
    assert d["label"] == d["before"]["label"] == d["after"]["label"] and d["reduced_text"]
    assert d["probability"] == d["after"]["probabilities"][d["label"]]
    text = runner.invoke(app, ["reduce", "dead beef cafe", "-m", model_path], env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert text.exit_code == 0 and f"reduced  {d['reduced_text']}" in text.stdout
    assert text.stdout.count("[") == len(d["reduced_text"])  # the characters kept, bracketed in the original


def test_cli_prototype_json_and_text(model_path):
    result = runner.invoke(app, ["prototype", "--to", "pos", "-m", model_path, "--length", "4", "-f", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert set(d) == {"label", "text", "logit", "probability", "prediction", "start", "steps"}
    assert d["label"] == "pos" and d["text"] == d["steps"][-1]["text"] and d["start"] == d["steps"][0]["text"]
    text = runner.invoke(app, ["prototype", "--to", "pos", "-m", model_path, "--length", "4"],
                         env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert text.exit_code == 0 and text.stdout.splitlines()[-1] == f"prototype  {d['text']}"


@pytest.mark.parametrize("args,fragment", [
    (["prototype", "--to", "nope"], "unknown target label 'nope'"),
    (["prototype", "--to", "pos", "--length", "0"], "--length must be an integer from 1 to 200"),
    (["prototype", "--to", "pos", "--from", "abc", "--seed", "1"], "--from or --seed"),
    (["reduce", "abc", "--candidates", "1001"], "--candidates must be an integer from 1 to 1000"),
])
def test_cli_usage_errors_exit_2(model_path, args, fragment):
    result = runner.invoke(app, [*args, "-m", model_path])
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.stderr


def test_reduce_and_prototype_on_every_shipped_model_from_the_cli():
    for args in (["reduce", "the acting is wooden"], ["reduce", "-m", "names-gru", "Nakamura"],
                 ["reduce", "-m", "shakespeare-lstm", "To be, or not"],
                 ["prototype", "-m", "names-gru", "--to", "Irish", "--length", "4", "--max-steps", "3"],
                 ["prototype", "-m", "shakespeare-lstm", "--to", "e", "--length", "4", "--max-steps", "3"]):
        result = runner.invoke(app, [*args, "-f", "json"])
        assert result.exit_code == 0, result.output
        d = json.loads(result.stdout)
        if args[0] == "reduce":
            assert d["label"] == d["after"]["label"] and d["reduced_text"].strip()
        else:
            assert d["steps"][-1]["logit"] > d["steps"][0]["logit"]
