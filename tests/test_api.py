"""The Python API: load_model/explain, user nn.Modules, and the documented examples (README, docs/) run as tests."""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import saliency
from saliency import explain, load_model
from saliency.errors import UsageError

from .conftest import TEXTS, explainer64, tiny_model_file

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def test_public_names_are_re_exported():
    assert {"load_model", "explain", "Explanation"} <= set(saliency.__all__)
    assert all(hasattr(saliency, name) for name in saliency.__all__)


def printed_result(line):
    """'LABEL [(token, ..., score), ...]', as the documented examples print a result."""
    label, pairs = line.split(" ", 1)
    return label, ast.literal_eval(pairs)


def check_shipped_example(ns, lines):
    """The sst2-lstm integrated-gradients example: checked by completeness against forward passes."""
    result = ns["result"]
    assert json.loads(lines[1]) == json.loads(result.to_json())  # the second print is the JSON schema
    assert result.prediction["label"] == "positive" and result.tokens[result.top(1)[0]].text == "gorgeous"
    engine, ids = ns["explainer"].engine, np.array([[t.id for t in result.tokens]])
    x, lengths, cls = engine.embed(ids), np.array([ids.shape[1]]), result.target["index"]
    gap = engine.forward(x, lengths)[0, cls] - engine.forward(np.zeros_like(x), lengths)[0, cls]
    assert abs(sum(t.score for t in result.tokens) - gap) < 0.05 * abs(gap)  # scores add up to F(x) - F(0)


def check_module_example(ns, lines):
    """The user nn.Module example, default method: each score is dF/dx_t . x_t, taken here by hand."""
    torch.manual_seed(0)  # as the example does before building its model
    model, result = ns["Sentiment"](), ns["result"]
    inputs = {}

    def hook(module, args, out):  # make the embedding output a leaf we can differentiate
        inputs["x"] = out.detach().requires_grad_(True)
        return inputs["x"]

    model.emb.register_forward_hook(hook)
    ids = torch.tensor([[ns["vocab"].get(w.lower(), 1) for w in "A great film".split()]])
    logits = model(ids)[0]
    (dx,) = torch.autograd.grad(logits[logits.argmax()], inputs["x"])
    assert result.prediction["label"] == ["negative", "positive"][int(logits.argmax())]
    assert [(t.text, t.start) for t in result.tokens] == [("A", 0), ("great", 2), ("film", 8)]
    np.testing.assert_allclose([t.score for t in result.tokens], (dx[0] * inputs["x"][0]).sum(-1).detach().numpy(),
                               rtol=1e-5)


def check_records_example(ns, lines):
    assert ns["results"][0].record.fields == {"id": 1}
    assert lines[1:] == ["1 empty text {}", f"2 {ns['results'][2].explanation.prediction['label']} {{}}"]
    [alone] = load_model().explain(["a gorgeous , witty movie"], method="grad-input")
    assert [t.score for t in ns["result"].tokens] == pytest.approx([t.score for t in alone.tokens], rel=1e-5)


def check_readme_example(ns, lines):
    """README's example: the default method is grad-input, signed; "gorgeous" counts against negative."""
    result = ns["result"]
    assert result.method == "grad-input" and result.signed and result.prediction["label"] == "negative"
    [explicit] = ns["explainer"].explain([result.text], method="grad-input")
    assert [t.score for t in result.tokens] == [t.score for t in explicit.tokens]
    assert next(t.score for t in result.tokens if t.text == "gorgeous") < 0


def check_notebook_example(ns, lines):
    """The notebook example: HTML for the cell and the page, an SVG, batch results with an error."""
    import xml.etree.ElementTree as ET

    assert ns["results"][0] is ns["result"] and "Nakamura" not in ns["html"]  # one span per character
    assert 'title="N: ' in ns["html"] and ns["page"].startswith("<!DOCTYPE html>")
    assert ET.fromstring(ns["svg"]).tag.endswith("svg")
    assert ns["batch"][1].error == "empty text" and ns["batch"][0].explanation.text == "Smith"


def check_one_hot_example(ns, lines):
    """The name-tutorial example: grad-input = dF/dx_t . x_t, taken by autograd on the one-hot letters."""
    model, letters, result = ns["model"], ns["letters"], ns["result"]
    line = torch.zeros(8, 1, len(letters))
    for t, c in enumerate("Nakamura"):
        line[t, 0, letters.find(c)] = 1
    line.requires_grad_(True)
    out = model(line)[0]
    k = int(out.argmax())
    (dx,) = torch.autograd.grad(out[k], line)
    assert result.prediction["label"] == ["Japanese", "Irish", "Arabic"][k]
    np.testing.assert_allclose([t.score for t in result.tokens], (dx * line).sum(-1)[:, 0].detach().numpy(),
                               rtol=1e-5, atol=1e-7)


def check_save_model_example(ns, lines):
    """The save_model example: the file's model gives the module's probabilities and dx_t . x_t."""
    model, result = ns["model"].eval(), ns["result"]
    ids = torch.tensor([[ns["vocab"].index(w.lower()) for w in "A great film".split()]])
    x = model.emb(ids).detach().requires_grad_(True)
    states, _ = model.gru(x)
    logits = model.out(model.mlp(states.max(dim=1).values))[0]
    k = int(logits.argmax())
    (dx,) = torch.autograd.grad(logits[k], x)
    assert result.prediction["probability"] == pytest.approx(float(logits.softmax(-1)[k].detach()), abs=1e-6)
    np.testing.assert_allclose([t.score for t in result.tokens], (dx * x).sum(-1)[0].detach().numpy(),
                               rtol=1e-4, atol=1e-6)


README_CHECKS = {"inputs=\"one-hot\"": check_one_hot_example, "save_model(model": check_save_model_example,
                 "method=\"integrated-gradients\", steps=100": check_shipped_example, "class Sentiment": check_module_example,
                 "explain_records(load_model()": check_records_example, "wooden": check_readme_example,
                 "Explanations(": check_notebook_example}


@pytest.mark.parametrize("block", [block for path in DOCS for block in re.findall(r"```python\n(.*?)```",
                                                                                 path.read_text(), re.S)])
def test_documented_python_examples_run(block, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may write a file (save_model)
    ns = {}
    exec(compile(block, "docs", "exec"), ns)
    lines = capsys.readouterr().out.splitlines()
    result = ns["result"]
    label, pairs = printed_result(lines[0])  # what it prints is the result's own values, rounded
    assert label == result.prediction["label"] and [p[0] for p in pairs] == [t.text for t in result.tokens]
    assert [p[-1] for p in pairs] == pytest.approx([t.score for t in result.tokens], abs=1e-3)
    [check] = [check for key, check in README_CHECKS.items() if key in block]  # every example is checked
    check(ns, lines)


class Wrapped(nn.Module):
    """Our tiny model behind a plain `forward(ids)`, as a user's own module would look."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids):
        return self.inner(self.inner.embed(ids), torch.tensor([ids.shape[1]]))


@pytest.mark.parametrize("head", ["classifier", "lm"])
@pytest.mark.parametrize("method", ["gradient", "grad-input", "integrated-gradients", "occlusion"])
def test_a_user_module_gives_the_same_scores_as_our_engine(head, method):
    mf = tiny_model_file("gru", 1, False, head, pooling="last")
    ours = explainer64(mf)
    module = Wrapped(ours.engine.model)

    def tokenize(text):
        return [(t.text, t.id) for t in mf.tokenizer.tokenize(text)]

    names = mf.output_names
    # This vocabulary has <pad> 0 and <unk> 1 (occlusion's default puts <unk> in): named, as a user would.
    theirs = explain(module, TEXTS, method, tokenizer=tokenize, labels=names, head=head, steps=10, pad_id=0, unk_id=1)
    mine = ours.explain(TEXTS, method, steps=10)
    for a, b in zip(theirs, mine):
        assert [(t.text, t.start, t.end) for t in a.tokens] == [(t.text, t.start, t.end) for t in b.tokens]
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=1e-9, atol=1e-12)
        assert a.target == pytest.approx(b.target) and a.prediction["label"] == b.prediction["label"]


def test_module_embedding_must_be_unambiguous():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Embedding(5, 2), nn.Embedding(5, 2)
            self.out = nn.Linear(2, 2)

        def forward(self, ids):
            return self.out(self.a(ids).mean(1) + self.b(ids).mean(1))

    with pytest.raises(UsageError, match="found 2 nn.Embedding layers"):
        explain(Two(), "x", tokenizer=lambda t: [2])
    result = explain(Two(), "x y", tokenizer=lambda t: [2, 3], embedding="b")
    assert result.prediction["label"] in ("0", "1") and len(result.tokens) == 2


def test_explain_by_name_and_single_text_errors_raise():
    result = explain("names-gru", "O'Sullivan")  # one text in, one Explanation out
    [same] = load_model("names-gru").explain(["O'Sullivan"])
    assert result.to_dict() == same.to_dict()
    with pytest.raises(saliency.InputError):
        explain(load_model("names-gru"), "   ")
