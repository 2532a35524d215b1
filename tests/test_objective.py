"""The Objective: one value for what F is, read the same on numpy arrays and torch tensors."""

import numpy as np
import pytest
import torch

from saliency.errors import UsageError
from saliency.objective import PREDICTION, Objective, outputs_at, resolve_classes

from .conftest import TEXTS, explainer64, tiny_model_file

RNG = np.random.default_rng(3)
CLASSIFIER = RNG.standard_normal((4, 5))  # (B, C)
PER_POSITION = RNG.standard_normal((4, 3, 5))  # (B, T, C)
POSITIONS = np.array([0, 2, 1, 2])
CLASSES = np.array([1, 4, 0, 2])


def log_softmax(row):
    return row - np.log(np.exp(row).sum())


@pytest.mark.parametrize("logits", [CLASSIFIER, PER_POSITION], ids=["classifier", "per-position"])
def test_each_kind_is_the_number_written_out(logits):
    at = logits if logits.ndim == 2 else logits[np.arange(4), POSITIONS]
    rows = range(4)
    logit = [at[b, CLASSES[b]] for b in rows]
    logprob = [log_softmax(at[b])[CLASSES[b]] for b in rows]
    contrast = [at[b, CLASSES[b]] - at[b, 3] for b in rows]
    for objective, want in ((Objective(), logit), (Objective("logprob"), logprob), (Objective(against=3), contrast),
                            (Objective("logprob", against=3), contrast)):  # the normaliser cancels
        got = objective.values(logits, POSITIONS, CLASSES)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
        on_torch = objective.values(torch.tensor(logits), torch.tensor(POSITIONS), torch.tensor(CLASSES))
        np.testing.assert_allclose(on_torch.numpy(), want, rtol=0, atol=1e-14)


def test_autograd_follows_the_contrast():
    logits = torch.tensor(CLASSIFIER, requires_grad=True)
    Objective(against=3).values(logits, None, torch.tensor(CLASSES)).sum().backward()
    want = np.zeros_like(CLASSIFIER)
    want[np.arange(4), CLASSES] += 1
    want[:, 3] -= 1
    np.testing.assert_array_equal(logits.grad.numpy(), want)


def test_the_prediction_is_resolved_in_one_place():
    classes = np.array([PREDICTION, 4, PREDICTION, 2])
    at = outputs_at(PER_POSITION, POSITIONS)
    want = np.array([at[0].argmax(), 4, at[2].argmax(), 2])
    np.testing.assert_array_equal(resolve_classes(at, classes), want)
    np.testing.assert_array_equal(resolve_classes(torch.tensor(at), torch.tensor(classes)).numpy(), want)
    assert want[0] != 4 or want[2] != 4  # the argmax was read, not a constant


@pytest.mark.parametrize("bad, message", [(dict(kind="prob"), "unknown objective 'prob'"),
                                          (dict(against=-1), "output index"), (dict(against="2"), "output index"),
                                          (dict(against=True), "output index")])
def test_bad_objectives_are_usage_errors(bad, message):
    with pytest.raises(UsageError, match=message):
        Objective(**bad)


def test_an_objective_is_a_frozen_value():
    assert Objective.of("logprob") == Objective("logprob") and Objective.of(Objective(against=1)).against == 1
    with pytest.raises(AttributeError):
        Objective().kind = "logprob"


def test_explain_takes_an_objective_as_it_takes_the_options():
    explainer = explainer64(tiny_model_file())
    by_options = explainer.explain(TEXTS, objective="logprob", contrast="other")
    by_value = explainer.explain(TEXTS, objective=Objective("logprob", against=2))
    for a, b in zip(by_options, by_value):
        assert a.objective == b.objective == "logprob"
        assert a.target["value"] == b.target["value"]
        assert [t.score for t in a.tokens] == [t.score for t in b.tokens]
    plain = explainer.explain(TEXTS[:1], objective="logit")[0]
    other = explainer.explain(TEXTS[:1], target="other")[0]
    assert by_options[0].target["value"] == pytest.approx(plain.target["value"] - other.target["value"], abs=1e-12)
