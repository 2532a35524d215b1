"""One table, a row per registered method, run for every method; then each method's own promises.

Adding a method is one module under saliency/attribution/ and one row in ROWS: the shared cases
below (batched equals single, tokens index the text, a named target changes the scores) run its
variants, and tests/test_options.py checks its flags on every command that takes --method.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest

from saliency.attribution import METHODS
from saliency.attribution.integrated_gradients import baseline_inputs
from saliency.errors import InputError, UsageError
from saliency.tokenize import PAD_ID, UNK_ID

from .conftest import TEXTS, explainer64, tiny_model_file
from .gradcheck import objective


@dataclass(frozen=True)
class Row:
    """What the suite expects of one method."""

    signed: bool  # scores carry a direction (Method.signed); unsigned scores are never negative
    variants: tuple = ({},)  # option sets each shared case runs with
    refused: tuple = ()  # (option, value, what the one-line error says): a value the method refuses, on every command


ROWS = {
    "gradient": Row(False, ({}, {"reduce": "l1"}, {"reduce": "max"}), ("reduce", "l3", "unknown --reduce 'l3'")),
    "grad-input": Row(True),
    "integrated-gradients": Row(True, ({"steps": 20}, {"steps": 7, "baseline": "unk"}),
                                ("rule", "simpson", "unknown --rule 'simpson'")),
    "smoothgrad": Row(False, ({"samples": 4, "noise": 0.2},), ("samples", "0", "--samples must be between 1")),
    "occlusion": Row(True, ({}, {"occlude": "pad"}), ("occlude", "all", "unknown --occlude 'all'")),
    "lrp": Row(True, ({}, {"epsilon": 0.01, "bias_factor": 1.0}),
               ("bias-factor", "2", "--bias-factor must be between 0 and 1")),
}


@dataclass(frozen=True)
class Case:
    method: str
    options: dict = field(default_factory=dict)

    def __str__(self):
        return self.method + "".join(f"-{k}={v}" for k, v in self.options.items())


CASES = [Case(name, options) for name, row in ROWS.items() for options in row.variants]
MODELS = {
    "lstm-bi-max": dict(cell="lstm", layers=1, bidirectional=True, pooling="max"),
    "gru-2L-last": dict(cell="gru", layers=2, bidirectional=False, pooling="last"),
    "rnn-mean": dict(cell="rnn", layers=1, bidirectional=False, pooling="mean"),
    "lstm-lm": dict(cell="lstm", layers=2, bidirectional=False, head="lm"),
    "gru-bi-lm": dict(cell="gru", layers=1, bidirectional=True, head="lm"),
}


def test_every_registered_method_has_one_row():
    assert list(ROWS) == list(METHODS)  # the registry's order, too: it is --help's and evaluate's


@pytest.mark.parametrize("name", METHODS)
def test_each_method_is_signed_as_its_row_says(name):
    assert METHODS[name].signed == ROWS[name].signed
    explainer = explainer64(tiny_model_file("lstm", 1, True))
    scores = np.concatenate([[t.score for t in r.tokens] for options in ROWS[name].variants
                             for r in explainer.explain(TEXTS, name, **options)])
    assert (scores < 0).any() if ROWS[name].signed else (scores >= 0).all()


def scores(results):
    assert not any(isinstance(r, Exception) for r in results), results
    return [np.array([t.score for t in r.tokens]) for r in results]


@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_batched_equals_one_at_a_time(model, case):
    """Texts of different lengths in one padded batch score exactly as each alone."""
    explainer = explainer64(tiny_model_file(**MODELS[model]))
    together = explainer.explain(TEXTS, case.method, **case.options)
    alone = [explainer.explain([t], case.method, **case.options)[0] for t in TEXTS]
    for a, b in zip(scores(together), scores(alone)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    for a, b in zip(together, alone):
        assert a.prediction["label"] == b.prediction["label"]
        assert a.prediction["probabilities"] == pytest.approx(b.prediction["probabilities"], rel=1e-9)
        assert a.target["label"] == b.target["label"]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_tokens_index_the_text_and_scores_are_finite(case):
    explainer = explainer64(tiny_model_file("lstm", 1, True))
    for result in explainer.explain(TEXTS, case.method, **case.options):
        assert all(result.text[t.start:t.end] == t.text for t in result.tokens)
        assert np.all(np.isfinite([t.score for t in result.tokens]))
        assert result.method == case.method
        assert result.params == {**METHODS[case.method]().params(), **case.options}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_named_target_changes_the_scores(case):
    explainer = explainer64(tiny_model_file("gru", 1, False))
    a = explainer.explain(["dead beef"], case.method, target="neg", **case.options)[0]
    b = explainer.explain(["dead beef"], case.method, target=2, **case.options)[0]
    assert (a.target["label"], b.target["label"]) == ("neg", "other")
    assert not np.allclose([t.score for t in a.tokens], [t.score for t in b.tokens])


# -- gradient and grad-input ------------------------------------------------------------------

def test_gradient_scores_are_norms_of_dx_and_grad_input_is_dot_with_x():
    explainer = explainer64(tiny_model_file("lstm", 1, False))
    g = explainer.explain(["bad cafe"], "gradient", vectors=True)[0]
    gi = explainer.explain(["bad cafe"], "grad-input", vectors=True)[0]
    dx = np.array(g.vectors)
    np.testing.assert_allclose([t.score for t in g.tokens], np.linalg.norm(dx, axis=1), rtol=1e-12)
    x = explainer.engine.embed(np.array([explainer.tokenizer.encode("bad cafe")]))[0]
    np.testing.assert_allclose([t.score for t in gi.tokens], (dx * x).sum(1), rtol=1e-12)


# -- integrated gradients ---------------------------------------------------------------------

def ig(explainer, text, **options):
    return explainer.explain([text], "integrated-gradients", **options)[0]


@pytest.mark.parametrize("baseline", ["zero", "pad", "unk"])
def test_ig_completeness_gap_shrinks_as_steps_grow(baseline):
    # Smooth pooling: max pooling has kinks, where the midpoint rule converges only as 1/steps.
    explainer = explainer64(tiny_model_file("lstm", 2, True, pooling="last"))
    gaps = [abs(ig(explainer, "dead beef cafe", steps=s, baseline=baseline).completeness["delta"])
            for s in (1, 4, 16, 64, 256)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-3 * max(1e-9, gaps[0])


def test_ig_scores_sum_to_the_change_in_f():
    explainer = explainer64(tiny_model_file("gru", 1, False, "lm"))
    r = ig(explainer, "dead beef", steps=300)
    total = sum(t.score for t in r.tokens)
    assert total == pytest.approx(r.target["value"] - r.completeness["reference"], rel=1e-3)
    assert r.completeness["delta"] == pytest.approx(total - (r.target["value"] - r.completeness["reference"]))


def test_ig_with_one_step_is_difference_times_gradient_at_the_midpoint():
    mf = tiny_model_file("rnn", 1, True)
    explainer = explainer64(mf)
    r = ig(explainer, "hag bed", steps=1, baseline="unk")
    ids = np.array([mf.tokenizer.encode("hag bed")])
    x = explainer.engine.embed(ids)
    x0 = np.broadcast_to(explainer.engine.embed(np.array([[UNK_ID]])), x.shape)
    cls = np.array([r.target["index"]])
    _, _, dx = explainer.engine.gradient(x0 + 0.5 * (x - x0), np.array([7]), np.array([0]), cls)
    np.testing.assert_allclose([t.score for t in r.tokens], ((x - x0) * dx)[0].sum(-1), rtol=1e-12)


def test_ig_matches_a_gauss_legendre_integral():
    """IG with many midpoint steps against an independent 64-point Gauss-Legendre quadrature."""
    mf = tiny_model_file("lstm", 1, False, pooling="mean")  # smooth, so the quadrature is exact enough
    explainer = explainer64(mf)
    r = ig(explainer, "dead beef", steps=2000)
    ids = np.array([mf.tokenizer.encode("dead beef")])
    engine = explainer.engine
    x = engine.embed(ids)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    alphas, weights = (nodes + 1) / 2, weights / 2
    cls, lengths, pos = np.array([r.target["index"]]), np.array([9]), np.array([0])
    integral = sum(w * engine.gradient(a * x, lengths, pos, cls)[2] for a, w in zip(alphas, weights))
    np.testing.assert_allclose([t.score for t in r.tokens], (x * integral)[0].sum(-1), rtol=1e-5, atol=1e-9)


def test_ig_baselines_are_what_they_say():
    mf = tiny_model_file("gru", 1, False)
    engine = explainer64(mf).engine

    class FakeBatch:
        x = np.ones((1, 3, 5))
        pad_id, unk_id = PAD_ID, UNK_ID

    table = engine.embed(np.array([[PAD_ID, UNK_ID]]))[0]
    np.testing.assert_array_equal(baseline_inputs(engine, FakeBatch, "zero"), 0.0)
    np.testing.assert_array_equal(baseline_inputs(engine, FakeBatch, "pad")[0, 2], table[0])
    np.testing.assert_array_equal(baseline_inputs(engine, FakeBatch, "unk")[0, 1], table[1])


# -- occlusion --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["unk", "pad", "delete"])
def test_occlusion_equals_the_hand_computed_change(mode):
    mf = tiny_model_file("lstm", 1, True)
    explainer = explainer64(mf)
    text = "hag bed"
    r = explainer.explain([text], "occlusion", occlude=mode)[0]
    engine, ids = explainer.engine, mf.tokenizer.encode(text)
    cls = np.array([r.target["index"]])

    def f(token_ids):
        x = engine.embed(np.array([token_ids]))
        return objective(engine, x, np.array([len(token_ids)]), np.array([0]), cls)[0]

    expected = []
    for t in range(len(ids)):
        changed = ids[:t] + ids[t + 1:] if mode == "delete" else ids[:t] + [UNK_ID if mode == "unk" else PAD_ID] + ids[t + 1:]
        expected.append(f(ids) - f(changed))
    np.testing.assert_allclose([t.score for t in r.tokens], expected, rtol=1e-12, atol=1e-15)


def test_occlusion_delete_is_refused_for_language_models_and_single_tokens():
    with pytest.raises(UsageError, match="language models"):
        result = explainer64(tiny_model_file("gru", 1, False, "lm")).explain(["abc"], "occlusion", occlude="delete")
        raise result[0]
    result = explainer64(tiny_model_file("gru", 1, False)).explain(["a"], "occlusion", occlude="delete",
                                                                   errors="return")[0]
    assert isinstance(result, InputError)


# -- smoothgrad -------------------------------------------------------------------------------

def test_smoothgrad_is_reproducible_by_seed():
    explainer = explainer64(tiny_model_file("gru", 1, True))

    def run(seed):
        return [t.score for t in explainer.explain(["dead beef"], "smoothgrad", seed=seed, samples=5)[0].tokens]

    assert run(3) == run(3)
    assert not np.allclose(run(3), run(4))


def test_smoothgrad_without_noise_is_the_gradient():
    explainer = explainer64(tiny_model_file("lstm", 1, False))
    a = explainer.explain(["dead beef"], "smoothgrad", noise=0.0, samples=3)[0]
    b = explainer.explain(["dead beef"], "gradient")[0]
    np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=1e-12)


# -- language model targets ------------------------------------------------------------------

def test_lm_default_target_is_the_actual_next_token_and_later_inputs_score_zero():
    mf = tiny_model_file("lstm", 1, False, "lm")
    r = explainer64(mf).explain(["dead beef"], "gradient", position=2)[0]
    assert r.target["position"] == 2 and r.target["label"] == "d"  # "dea|d"
    assert all(t.score == 0.0 for t in r.tokens[3:])
    assert all(t.score > 0.0 for t in r.tokens[:3])


def test_lm_all_positions_gives_a_lower_triangular_matrix():
    mf = tiny_model_file("gru", 2, False, "lm")
    r = explainer64(mf).explain(["dead beef"], "grad-input", position="all")[0]
    matrix = np.array([row["scores"] for row in r.rows])
    assert matrix.shape == (9, 9)
    assert np.all(np.triu(matrix, k=1) == 0.0)
    assert np.all(np.diag(matrix) != 0.0)
    single = explainer64(mf).explain(["dead beef"], "grad-input", position=4)[0]
    np.testing.assert_allclose(matrix[4], [t.score for t in single.tokens], rtol=1e-12)


def test_lm_position_outside_the_text_is_a_usage_error():
    with pytest.raises(UsageError, match="outside"):
        explainer64(tiny_model_file("gru", 1, False, "lm")).explain(["abc"], "gradient", position=3)
    assert explainer64(tiny_model_file("gru", 1, False, "lm")).explain(["abc"], position=-3)[0].target["position"] == 0


@pytest.mark.parametrize("options, message", [
    (dict(method="integrated-gradients", steps=0), "--steps"),
    (dict(method="smoothgrad", noise=-0.1), "--noise"),
    (dict(method="smoothgrad", samples=0), "--samples"),
    (dict(method="gradient", reduce="l3"), "--reduce"),
    (dict(method="occlusion", occlude="blank"), "--occlude"),
    (dict(method="integrated-gradients", baseline="mean"), "--baseline"),
    (dict(method="nope"), "unknown method"),
    (dict(method="gradient", objective="prob"), "objective"),
    (dict(method="gradient", position=1), "language models and taggers only"),
])
def test_bad_options_are_usage_errors(options, message):
    explainer = explainer64(tiny_model_file("gru", 1, False))
    with pytest.raises(UsageError, match=message):
        result = explainer.explain(["abc"], **options)
        if isinstance(result[0], Exception):
            raise result[0]


def test_a_text_that_fails_inside_a_batch_fails_alone():
    explainer = explainer64(tiny_model_file("gru", 1, False))
    results = explainer.explain(["abc", "a", "dead"], "occlusion", occlude="delete", errors="return")
    assert isinstance(results[1], InputError)
    with pytest.raises(InputError, match="at least two tokens"):  # by default the failure is raised
        explainer.explain(["abc", "a", "dead"], "occlusion", occlude="delete")
    assert [r.text for r in (results[0], results[2])] == ["abc", "dead"]


def test_long_texts_come_in_smaller_batches(monkeypatch):
    import saliency.pipeline as pipeline

    monkeypatch.setattr(pipeline, "MAX_BATCH_POSITIONS", 40)
    explainer = explainer64(tiny_model_file("gru", 1, False), batch_size=64)
    texts = ["a" * 10] * 5 + ["b" * 3] * 20
    rows = [pipeline.Row(i, explainer.tokenize(t), 0, -1) for i, t in enumerate(sorted(texts, key=len))]
    sizes = [len(c) for c in explainer.chunks(rows)]
    assert sum(sizes) == 25 and max(sizes) <= 13
    assert all(len(c[-1].tokens) * len(c) <= 40 for c in explainer.chunks(rows))
    together = explainer.explain(texts)
    alone = [explainer.explain([t])[0] for t in texts]
    for a, b in zip(together, alone):
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=1e-9)
