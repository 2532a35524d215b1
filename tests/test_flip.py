"""flip (HotFlip): first-order estimates, verified swaps, rebuilt texts, the CLI."""

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import saliency
from saliency.cli import app
from saliency.act.editor import Editor, margin
from saliency.act.flip import flip
from saliency.tokenize import PAD, UNK, Tokenizer

from .conftest import explainer64, tiny_model_file

TINY_MODEL = dict(cell="lstm", layers=1, bidirectional=True, seed=1)  # model_path's model (conftest)

WORDS = [PAD, UNK, "a", "good", "bad", "film", "is", "was", "n't", "not", "'s", "very", "dull", "fun"]


class LinearInEmbeddings(nn.Module):
    """logits = W (sum_t x_t) + b: linear in the embeddings, so a first-order estimate is exact."""

    def __init__(self, vocab_size, dim=6, labels=2):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, labels)

    def forward(self, ids):
        return self.out(self.emb(ids).sum(1))


def linear_explainer():
    torch.manual_seed(3)
    module = LinearInEmbeddings(len(WORDS)).double()
    return saliency._explainer(module, Tokenizer("word", WORDS), ["neg", "pos"])


def fresh_margin(explainer, text, label):
    ed = Editor(explainer)
    return float(margin(ed.logits([[t.id for t in explainer.tokenize(text)]])[0], label))


def test_the_estimate_is_the_exact_change_for_a_model_linear_in_its_embeddings():
    ex = linear_explainer()
    ed = Editor(ex)
    text = "a good film is n't dull"
    tokens = ex.tokenize(text)
    ids = [t.id for t in tokens]
    logits = ed.logits([ids])[0]
    grad = ed.gradient(ids, 1, 0)
    ranked = ed.rank(ids, grad, 1.0, np.ones(len(ids), bool), 1000)
    assert len(ranked) == len(ids) * (len(WORDS) - 3)  # every swap but pad, unk and the token itself
    for c in ranked:
        changed = list(ids)
        changed[c.position] = c.new_id
        exact = margin(ed.logits([changed])[0], 1) - margin(logits, 1)
        assert c.estimate == pytest.approx(exact, abs=1e-10)
    result = flip(ex, text, max_swaps=3)
    assert result.swaps and all(s.estimated == pytest.approx(s.verified, abs=1e-10) for s in result.swaps)


def test_the_python_api_takes_a_users_module_with_a_vocabulary():
    ex = linear_explainer()
    module, tokenizer = ex.engine.module, ex.tokenizer
    text = "a good film is n't dull"
    result = saliency.flip(module, text, "pos" if ex.explain([text])[0].prediction["label"] == "neg" else "neg",
                           max_swaps=4, tokenizer=tokenizer, labels=["neg", "pos"])
    assert result.flipped and result.to_dict()["after"]["label"] == result.label
    reduced = saliency.reduce(module, text, tokenizer=tokenizer, labels=["neg", "pos"])
    assert reduced.after["label"] == reduced.label and reduced.reduced_text
    proto = saliency.prototype(module, "pos", length=3, tokenizer=tokenizer, labels=["neg", "pos"])
    assert proto.prediction["label"] == "pos" and proto.steps[-1].logit > proto.steps[0].logit


@pytest.mark.parametrize("cell,head,embedding_dim,engine", [
    ("lstm", "classifier", 5, "torch"), ("gru", "classifier", 0, "numpy"), ("rnn", "lm", 5, "numpy"),
    ("lstm", "lm", 0, "numpy")])
@pytest.mark.parametrize("to", [None, "other"])
def test_verified_changes_are_fresh_forward_passes(cell, head, embedding_dim, engine, to):
    mf = tiny_model_file(cell, 1, False, head, embedding_dim=embedding_dim, seed=1)
    ex = explainer64(mf, engine)
    if head == "lm":
        to = None if to is None else "b"
    text = "dead beef cafe"
    result = flip(ex, text, to=to, max_swaps=4, candidates=50)
    assert result.swaps, "a tiny model should always have some swap that moves its margin"
    goal = ex.output_index(result.label)
    # Each verified change is one step of the margin; together they are the fresh end-to-end change.
    total = fresh_margin(ex, result.changed_text, goal) - fresh_margin(ex, text, goal)
    assert sum(s.verified for s in result.swaps) == pytest.approx(total, abs=1e-9)
    assert result.after["margin"] == pytest.approx(fresh_margin(ex, result.changed_text, goal), abs=1e-12)
    (fresh,) = ex.explain([result.changed_text])
    assert result.after["label"] == fresh.prediction["label"]
    sign = 1 if to else -1
    assert all(sign * s.verified > 0 for s in result.swaps)
    # Characters swapped for characters: same length, different exactly at the swapped positions.
    assert len(result.changed_text) == len(text)
    differ = [i for i, (a, b) in enumerate(zip(text, result.changed_text)) if a != b]
    assert differ == sorted(s.position for s in result.swaps)
    assert result.flipped == ((result.after["label"] == result.label) if to else
                              (result.after["label"] != result.before["label"]))


def test_pad_and_unk_are_never_proposed_and_kept_tokens_never_swapped():
    ex = explainer64(tiny_model_file("gru", 1, True, seed=2), "numpy")
    ed = Editor(ex)
    ids = [t.id for t in ex.tokenize("hag bed")]
    grad = ed.gradient(ids, 0)
    ranked = ed.rank(ids, grad, -1.0, np.ones(len(ids), bool), 1000)
    assert ranked and not {c.new_id for c in ranked} & {ex.pad_id, ex.unk_id}
    estimates = [c.estimate for c in ranked]
    assert estimates == sorted(estimates)  # lowering: most negative first
    result = flip(ex, "hag bed", max_swaps=7, keep=["a", "e"], candidates=100)
    assert result.swaps
    for s in result.swaps:
        assert "hag bed"[s.position] not in "ae"


def test_word_swaps_rebuild_the_text_with_offsets_into_it():
    ex = linear_explainer()
    ed = Editor(ex)
    text = "A film  isn't Dull"
    tokens = ex.tokenize(text)
    assert [t.text for t in tokens] == ["A", "film", "is", "n't", "Dull"]
    new_text, new_tokens = ed.edit(text, tokens, {2: WORDS.index("was"), 4: WORDS.index("fun")})
    assert new_text == "A film  wasn't Fun"  # the user's spacing, the original's capital
    new_text, new_tokens = ed.edit(text, tokens, {3: WORDS.index("not")})
    assert new_text == "A film  is not Dull"  # "isnot" would be one token: a space keeps them apart
    assert [t.id for t in new_tokens] == [WORDS.index(w) for w in ("a", "film", "is", "not", "dull")]
    assert all(new_text[t.start:t.end] == t.text for t in new_tokens)
    assert ed.edit(text, tokens, {1: None, 2: None}) == ("A n't Dull", ex.tokenize("A n't Dull"))


def test_a_clearly_positive_sentence_flips_by_swapping_its_sentiment_word():
    ex = saliency.load_model("sst2-lstm", engine="numpy")
    result = flip(ex, "the movie was wonderful .")
    assert result.before["label"] == "positive" and result.before["probability"] > 0.9
    assert result.flipped and result.after["label"] == "negative"
    assert [(s.position, s.old) for s in result.swaps] == [(3, "wonderful")]
    assert result.changed_text.startswith("the movie was ") and result.changed_text.endswith(" .")


runner = CliRunner()


def test_cli_json_has_exactly_the_documented_fields(model_path):
    result = runner.invoke(app, ["flip", "dead beef", "-m", model_path, "--max-swaps", "3", "-f", "json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert set(d) == {"flipped", "text", "changed_text", "swaps", "before", "after"}
    assert d["text"] == "dead beef" and len(d["changed_text"]) == len(d["text"])
    assert d["swaps"] and all(set(s) == {"position", "from", "to", "estimated", "verified"} for s in d["swaps"])
    assert set(d["before"]) == {"label", "probability", "probabilities", "margin"}
    assert d["before"]["margin"] + sum(s["verified"] for s in d["swaps"]) == pytest.approx(d["after"]["margin"],
                                                                                          abs=1e-5)


def test_cli_text_shows_both_texts_and_each_swap(model_path):
    result = runner.invoke(app, ["flip", "dead beef", "-m", model_path, "--to", "other", "--max-swaps", "2"],
                           env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    d = json.loads(runner.invoke(app, ["flip", "dead beef", "-m", model_path, "--to", "other", "--max-swaps", "2",
                                       "-f", "json"]).stdout)
    # Off a terminal the swapped characters are [bracketed] in both texts.
    marked = {s["position"] for s in d["swaps"]}
    before = "".join(f"[{c}]" if i in marked else c for i, c in enumerate(d["text"]))
    after = "".join(f"[{c}]" if i in marked else c for i, c in enumerate(d["changed_text"]))
    assert lines[1].rstrip() == f"before  {before}" and lines[2].rstrip() == f"after   {after}"
    assert "estimated" in lines[3] and "verified" in lines[3]
    assert all(len(line) <= 80 for line in lines)


@pytest.mark.parametrize("args,fragment", [(["--to", "nope"], "unknown target label 'nope'"),
                                           (["--max-swaps", "51"], "--max-swaps must be an integer from 1 to 50"),
                                           (["--candidates", "0"], "--candidates must be")])
def test_cli_usage_errors_exit_2(model_path, args, fragment):
    result = runner.invoke(app, ["flip", "dead beef", "-m", model_path, *args])
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.stderr


def test_flip_on_every_shipped_model_from_the_cli():
    from saliency.modelfile.registry import load_model_file, shipped_models

    for name in shipped_models():
        mf = load_model_file(name)
        if mf.config.head == "tagger":  # refused: a tagger has one output per word (tests/test_tagger.py)
            continue
        text = ("To be, or not to b" if mf.config.head == "lm" else
                "Nakamura" if mf.tokenizer.level == "char" else "the movie was wonderful .")
        result = runner.invoke(app, ["flip", "-m", name, text, "-f", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["flipped"] is True, name


def test_batch_flip_adds_each_records_best_swap_and_the_summary_counts_them(model_path, tmp_path):
    texts = ["dead beef", "bad cafe", "a", "fade head"]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(texts) + "\n")
    result = runner.invoke(app, ["batch", str(path), "-m", model_path, "--flip", "--summary", "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    alone = [json.loads(runner.invoke(app, ["flip", t, "-m", model_path, "-f", "json"]).stdout) for t in texts]
    for r, a in zip(records, alone):  # what `saliency flip` says
        assert set(r["flip"]) == set(a) and r["flip"]["changed_text"] == a["changed_text"]
        assert [(s["position"], s["from"], s["to"]) for s in r["flip"]["swaps"]] == [
            (s["position"], s["from"], s["to"]) for s in a["swaps"]]
        assert r["flip"]["after"]["margin"] == pytest.approx(a["after"]["margin"], abs=1e-4)
    for label in {r["prediction"]["label"] for r in records}:
        mine = [r["flip"]["flipped"] for r in records if r["prediction"]["label"] == label]
        assert re.search(rf"^{label} +{len(mine)} +{sum(mine)} +{sum(mine) / len(mine):.3f}$", result.stderr, re.M)
    assert re.search(rf"^all +4 +{sum(r['flip']['flipped'] for r in records)} ", result.stderr, re.M)
    bad = runner.invoke(app, ["batch", str(path), "-m", model_path, "--flip", "-f", "csv"])
    assert bad.exit_code == 2 and "--flip adds to each JSON record" in bad.stderr
