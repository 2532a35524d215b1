"""The Python API: load_model/explain, user nn.Modules, and the README's example run as a test."""

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

README = Path(__file__).resolve().parent.parent / "README.md"


def test_public_names_are_re_exported():
    assert {"load_model", "explain", "Explanation"} <= set(saliency.__all__)
    assert all(hasattr(saliency, name) for name in saliency.__all__)


@pytest.mark.parametrize("block", re.findall(r"```python\n(.*?)```", README.read_text(), re.S))
def test_readme_python_examples_run(block, capsys):
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip()  # each example prints its result


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
    theirs = explain(module, TEXTS, method, tokenizer=tokenize, labels=names, head=head, steps=10)
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
