"""LRP (saliency/attribution/lrp.py): its forward is each engine's, relevance is conserved for
every architecture, it is gradient x input where the model is linear, and it refuses what it
cannot explain."""

import itertools

import numpy as np
import pytest
import torch

from saliency.attribution import lrp as lrp_module
from saliency.attribution import recorded
from saliency.attribution.lrp import relevance
from saliency.attribution.recorded import network_of
from saliency.errors import UsageError
from saliency.objective import Objective

from .conftest import explainer64, tiny_model_file

TEXTS = ["abc", "hag bed", "a", "dead beef cafe"]
# Every cell x layers x direction x head, and every pooling of a classifier.
ARCHITECTURES = [
    dict(cell=c, layers=n, bidirectional=b, head=h, pooling=p)
    for c, n, b, (h, p) in itertools.product(
        ("rnn", "lstm", "gru"), (1, 2), (False, True),
        (("classifier", "last"), ("classifier", "max"), ("classifier", "mean"), ("lm", "max"), ("tagger", "max")))
]


def arch_id(a):
    return f"{a['cell']}-{a['layers']}L-{'bi' if a['bidirectional'] else 'uni'}-{a['head']}-{a['pooling']}"


def padded(model_file, engine, texts=TEXTS):
    lengths = np.array([len(t) for t in texts])
    ids = np.zeros((len(texts), lengths.max()), dtype=np.int64)
    for b, t in enumerate(texts):
        ids[b, :len(t)] = model_file.tokenizer.encode(t)
    return engine.embed(ids), lengths


def targets(model_file, lengths):
    """An explained position and class per row: different classes, positions inside each text."""
    if model_file.config.head == "lm":
        return np.minimum(lengths - 1, 2), np.array([3, 4, 5, 6])[:len(lengths)]
    if model_file.config.head == "tagger":  # a tag at a position inside each text
        return np.minimum(lengths - 1, 2), np.array([0, 1, 2, 1])[:len(lengths)]
    return np.zeros(len(lengths), dtype=np.int64), np.array([0, 1, 2, 1])[:len(lengths)]


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_conserved_with_bias_factor_1_and_the_same_on_both_engines(arch):
    """With --bias-factor 1 the relevances plus what the zero initial states hold sum to F, to
    1e-10 in float64; the recorded forward gives each engine's logits; both engines' LRP agree."""
    mf = tiny_model_file(**arch)
    results = []
    for name in ("torch", "numpy"):
        engine = explainer64(mf, engine=name).engine
        x, lengths = padded(mf, engine)
        np.testing.assert_allclose(network_of(engine).logits(x, lengths), engine.forward(x, lengths),
                                   rtol=0, atol=1e-10)
        positions, classes = targets(mf, lengths)
        R, held, F = relevance(network_of(engine), x, lengths, positions, classes, "logit", 0.001, 1.0)
        logits = engine.forward(x, lengths)
        at = logits[np.arange(len(x)), positions] if logits.ndim == 3 else logits
        np.testing.assert_allclose(F, at[np.arange(len(x)), classes], rtol=0, atol=1e-10)
        np.testing.assert_allclose(R.sum((1, 2)) + held, F, rtol=0, atol=1e-10)
        assert np.all(R[np.arange(R.shape[1])[None, :] >= lengths[:, None]] == 0.0)  # nothing on padding
        assert np.abs(R).sum() > 0.1 * np.abs(F).sum()  # the tokens got relevance: not all in the biases
        results.append(R)
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("arch", ARCHITECTURES[::3], ids=arch_id)
def test_bias_factor_0_keeps_the_bias_and_stabiliser_shares(arch):
    """With --bias-factor 0 relevance is lost to the biases: the gap is not zero, and a
    contrast is conserved like a logit with --bias-factor 1."""
    mf = tiny_model_file(**arch)
    engine = explainer64(mf, engine="numpy").engine
    x, lengths = padded(mf, engine)
    positions, classes = targets(mf, lengths)
    R, held, F = relevance(network_of(engine), x, lengths, positions, classes, "logit", 0.001, 0.0)
    assert np.all(np.abs(R.sum((1, 2)) + held - F) > 1e-6)
    assert np.all(held == 0.0)  # zero initial states get nothing but shares
    R, held, F = relevance(network_of(engine), x, lengths, positions, classes, Objective(against=0), 0.001, 1.0)
    logits = engine.forward(x, lengths)
    at = logits[np.arange(len(x)), positions] if logits.ndim == 3 else logits
    np.testing.assert_allclose(F, at[np.arange(len(x)), classes] - at[:, 0], atol=1e-10)
    np.testing.assert_allclose(R.sum((1, 2)) + held, F, rtol=0, atol=1e-10)


def linearised(cell, bidirectional, head, pooling, monkeypatch):
    """A one-layer model with the identity in place of tanh and constant gates (their input and
    recurrent weights zero), so the network is affine in its inputs."""
    mf = tiny_model_file(cell, 1, bidirectional, head, pooling)
    monkeypatch.setattr(recorded, "tanh", lambda a: a)
    H = mf.config.hidden_size
    gates = {"lstm": [slice(0, 2 * H), slice(3 * H, 4 * H)], "gru": [slice(0, 2 * H)], "rnn": []}[cell]
    for name, w in mf.weights.items():
        if name.startswith("rnn.weight_"):
            for rows in gates:
                w[rows] = 0.0
    return mf


@pytest.mark.parametrize("cell, bidirectional, head, pooling", [
    ("rnn", False, "classifier", "last"), ("rnn", True, "classifier", "mean"), ("rnn", False, "lm", "max"),
    ("lstm", False, "classifier", "mean"), ("lstm", True, "classifier", "last"), ("lstm", False, "lm", "max"),
    ("gru", False, "classifier", "last"), ("gru", True, "classifier", "max"), ("gru", True, "lm", "max"),
])
def test_on_a_linear_model_lrp_0_is_gradient_times_input(cell, bidirectional, head, pooling, monkeypatch):
    """The known identity: with epsilon 0 and bias factor 0, on an affine network, each input's
    relevance is x_i dF/dx_i. The gradient is by central differences along x_t (exact for an
    affine map, up to rounding; max pooling is affine where the winners do not change)."""
    mf = linearised(cell, bidirectional, head, pooling, monkeypatch)
    net = network_of(explainer64(mf, engine="numpy").engine)
    x, lengths = padded(mf, explainer64(mf, engine="numpy").engine)
    positions, classes = targets(mf, lengths)
    R, held, F = relevance(net, x, lengths, positions, classes, "logit", 0.0, 0.0)

    def f(inputs):
        logits = net.logits(inputs, lengths)
        at = logits[np.arange(len(x)), positions] if logits.ndim == 3 else logits
        return at[np.arange(len(x)), classes]

    step = 1e-4
    expected = np.zeros(R.shape[:2])
    for t in range(x.shape[1]):
        v = np.zeros_like(x)
        v[:, t] = x[:, t]
        expected[:, t] = (f(x + step * v) - f(x - step * v)) / (2 * step)
    expected *= np.arange(x.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_allclose(R.sum(-1), expected, rtol=1e-7, atol=1e-9)
    assert np.abs(expected).max() > 0.1  # the check compares real numbers
    with pytest.raises(AssertionError):  # and the identity fails once epsilon is no longer 0
        np.testing.assert_allclose(relevance(net, x, lengths, positions, classes, "logit", 0.5, 0.0)[0].sum(-1),
                                   expected, rtol=1e-7, atol=1e-9)


def test_through_the_explainer_scores_are_the_relevance_and_the_gap_is_reported():
    mf = tiny_model_file("lstm", 2, True, pooling="mean")
    explainer = explainer64(mf, engine="numpy")
    results = explainer.explain(TEXTS, "lrp", bias_factor=1.0, vectors=True)
    engine = explainer.engine
    x, lengths = padded(mf, engine)
    predicted = engine.forward(x, lengths).argmax(-1)
    R, held, F = relevance(network_of(engine), x, lengths, np.zeros(4, dtype=np.int64), predicted, "logit", 0.001, 1.0)
    for b, r in enumerate(results):
        np.testing.assert_allclose([t.score for t in r.tokens], R[b, :lengths[b]].sum(-1), rtol=1e-12)
        np.testing.assert_allclose(r.vectors, R[b, :lengths[b]], rtol=1e-12)
        assert r.target["value"] == pytest.approx(F[b], abs=1e-12)
        assert r.completeness["delta"] == pytest.approx(-held[b], abs=1e-10)
        assert r.completeness["reference"] == 0.0
        assert r.completeness_warning() == ""  # the gap is bias by design, not an error to fix


def test_float32_engines_explain_in_float64():
    """The default float32 engine hands LRP its weights; LRP still conserves to 1e-10."""
    mf = tiny_model_file("gru", 1, True, pooling="last")
    for name in ("torch", "numpy"):
        from saliency.pipeline import Explainer

        explainer = Explainer.from_model_file(mf, engine=name, dtype="float32")
        (r,) = explainer.explain(["dead beef"], "lrp", bias_factor=1.0)
        net = network_of(explainer.engine)
        x, lengths = padded(mf, explainer.engine, ["dead beef"])
        _, held, F = relevance(net, x, lengths, [0], [r.target["index"]], "logit", 0.001, 1.0)
        assert sum(t.score for t in r.tokens) + held[0] == pytest.approx(F[0], abs=1e-10)


def test_max_pooling_is_winner_take_all():
    mf = tiny_model_file("rnn", 1, False, pooling="max")
    net = network_of(explainer64(mf, engine="numpy").engine)
    x, lengths = padded(mf, explainer64(mf, engine="numpy").engine, ["dead beef"])
    out, _ = net.run(x, lengths)
    F, R_out = lrp_module.head_relevance(net, out, lengths, np.array([0]), np.array([1]), "logit", 0.001, 0.0)
    winners = out[0].argmax(0)
    assert np.count_nonzero(R_out[0]) == np.count_nonzero(R_out[0, winners, np.arange(out.shape[2])])
    assert R_out[0].sum() == pytest.approx((out[0].max(0) * net.head_w[1]).sum() * F[0] / (F[0] + 0.001 * np.sign(F[0])))


@pytest.mark.parametrize("options, message", [
    (dict(epsilon=-0.1), "--epsilon"), (dict(bias_factor=2.0), "--bias-factor"), (dict(epsilon="x"), "--epsilon"),
    (dict(objective="logprob"), "logprob"),
])
def test_bad_options_are_usage_errors(options, message):
    explainer = explainer64(tiny_model_file("gru", 1, False))
    with pytest.raises(UsageError, match=message):
        explainer.explain(["abc"], "lrp", **options)


def test_a_user_module_is_refused_with_the_reason():
    import saliency

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.out = torch.nn.Embedding(10, 3), torch.nn.LSTM(3, 4, batch_first=True), \
                torch.nn.Linear(4, 2)

        def forward(self, ids):
            h, _ = self.rnn(self.emb(ids))
            return self.out(h[:, -1])

    with pytest.raises(UsageError, match="internals.*model file"):
        saliency.explain(Tiny(), "abc", "lrp", tokenizer=lambda s: [ord(c) % 10 for c in s])


def test_the_conservation_check_catches_a_rule_off_by_a_thousandth(monkeypatch):
    """The checker is tested: a cell-sum rule that hands down 1.001 of what it got fails it."""
    mf = tiny_model_file("lstm", 1, False)
    engine = explainer64(mf, engine="numpy").engine
    x, lengths = padded(mf, engine)
    positions, classes = targets(mf, lengths)
    right = lrp_module.sum_rule
    monkeypatch.setattr(lrp_module, "sum_rule", lambda *a: tuple(1.001 * r for r in right(*a)))
    R, held, F = relevance(network_of(engine), x, lengths, positions, classes, "logit", 0.001, 1.0)
    assert np.abs(R.sum((1, 2)) + held - F).max() > 1e-6


def test_a_language_model_gives_later_tokens_nothing():
    mf = tiny_model_file("gru", 2, False, "lm")
    (r,) = explainer64(mf).explain(["dead beef"], "lrp", position=3, bias_factor=1.0)
    scores = [t.score for t in r.tokens]
    assert all(s == 0.0 for s in scores[4:]) and all(s != 0.0 for s in scores[:4])
    assert sum(scores) - r.completeness["delta"] == pytest.approx(r.target["value"], abs=1e-10)
