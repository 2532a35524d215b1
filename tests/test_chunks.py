"""Methods make their inputs chunk by chunk (issue 10, 2): the chunking changes no number, no
chunk is larger than the bound whatever --steps or the text's length, and progress is reported."""

import numpy as np
import pytest

from saliency.attribution import base
from saliency.engines.base import Engine

from .conftest import explainer64, tiny_model_file

TEXTS = ["dead beef cafe", "abc", "hag bed", "a"]
METHODS = [("integrated-gradients", dict(steps=9)), ("integrated-gradients", dict(steps=6, rule="gauss-legendre")),
           ("smoothgrad", dict(samples=5)), ("occlusion", {}), ("occlusion", dict(occlude="delete"))]


def scores(results):
    return [[t.score for t in r.tokens] for r in results]


@pytest.mark.parametrize("engine", ["torch", "numpy"])
@pytest.mark.parametrize("method, options", METHODS, ids=lambda v: str(v))
def test_small_chunks_give_the_same_numbers(monkeypatch, engine, method, options):
    mf = tiny_model_file("lstm", 1, True, pooling="max")
    texts = TEXTS if options.get("occlude") != "delete" else TEXTS[:3]
    whole = explainer64(mf, engine).explain(texts, method, **options)
    monkeypatch.setattr(base, "CHUNK_POSITIONS", 20)  # a few rows per chunk: many chunks
    chunked = explainer64(mf, engine).explain(texts, method, **options)
    for a, b in zip(scores(whole), scores(chunked)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


class Recorder(Engine):
    """An engine wrapper that records the size of every batch of inputs it is given (the contract's
    defaults, engines/base.py, give it the rest: numpy arrays, one batch at a time, no prefix reuse)."""

    def __init__(self, engine):
        self.engine, self.config, self.sizes = engine, engine.config, []

    def embed(self, ids):
        self.sizes.append(np.asarray(ids).size)
        return self.engine.embed(ids)

    def forward(self, x, lengths):
        self.sizes.append(x.shape[0] * x.shape[1])
        return self.engine.forward(x, lengths)

    def gradient(self, x, *args):
        self.sizes.append(x.shape[0] * x.shape[1])
        return self.engine.gradient(x, *args)


@pytest.mark.parametrize("method, options", [("integrated-gradients", dict(steps=3000)),
                                             ("smoothgrad", dict(samples=500)), ("occlusion", {})])
def test_no_chunk_grows_with_steps_samples_or_copies(monkeypatch, method, options):
    monkeypatch.setattr(base, "CHUNK_POSITIONS", 64)
    explainer = explainer64(tiny_model_file("gru", 1, False), "numpy")
    explainer.engine = recorder = Recorder(explainer.engine)
    text = "abc fed " * 12  # 96 characters: occlusion makes 96 copies of 96 positions
    result = explainer.explain([text], method, **options)[0]
    assert len(result.tokens) == 96
    assert max(recorder.sizes) <= 2 * 96  # a chunk is one row past the bound at most (F(x), F(x'))
    assert len(recorder.sizes) > 50  # it did the work, in many chunks


def test_progress_counts_every_evaluation_in_order():
    seen = []
    explainer = explainer64(tiny_model_file("lstm", 1, False), "numpy")
    explainer.explain(["dead beef", "abc"], "integrated-gradients", steps=40,
                      progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (80, 80)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


def test_occlusion_delete_is_f_minus_f_without_the_token():
    mf = tiny_model_file("gru", 1, True, pooling="mean")
    explainer = explainer64(mf, "numpy")
    text = "bad cafe"
    result = explainer.explain([text], "occlusion", occlude="delete")[0]
    cls = np.array([result.target["index"]])
    value = explainer.explain([text], "gradient", target=int(cls[0]))[0].target["value"]
    for t, token in enumerate(result.tokens):
        rest = text[: token.start] + text[token.end:]
        without = explainer.explain([rest], "gradient", target=int(cls[0]))[0].target["value"]
        assert token.score == pytest.approx(value - without, rel=1e-12, abs=1e-12)


def test_gauss_legendre_converges_faster_on_a_smooth_model():
    explainer = explainer64(tiny_model_file("lstm", 1, False, pooling="mean"))

    def gap(rule, steps):
        return abs(explainer.explain(["dead beef"], "integrated-gradients", steps=steps, rule=rule)[0]
                   .completeness["delta"])

    assert gap("gauss-legendre", 1) == pytest.approx(gap("midpoint", 1), rel=1e-12)  # one node: the midpoint
    assert gap("gauss-legendre", 8) < 0.1 * gap("midpoint", 8)  # measured: 1.6e-5 against 3.6e-4
    assert gap("gauss-legendre", 16) < 0.1 * gap("gauss-legendre", 8)
