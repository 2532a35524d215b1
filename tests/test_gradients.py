"""dx_t against float64 central differences, for every architecture and head."""

import numpy as np
import pytest

from saliency.engines.torch_engine import TorchEngine
from saliency.tokenize import PAD_ID

from .conftest import TEXTS, tiny_model_file
from .gradcheck import check_input_gradient


def padded_inputs(model_file, engine, texts=TEXTS):
    ids_list = [model_file.tokenizer.encode(t) for t in texts]
    lengths = np.array([len(i) for i in ids_list])
    ids = np.full((len(texts), lengths.max()), PAD_ID)
    for b, row in enumerate(ids_list):
        ids[b, : len(row)] = row
    x = engine.embed(ids)
    positions = {"lm": lengths - 1, "tagger": lengths // 2}.get(model_file.config.head, np.zeros(len(texts), dtype=int))
    classes = np.arange(len(texts)) % model_file.config.output_size
    return x, lengths, positions, classes


@pytest.mark.parametrize("objective", ["logit", "logprob"])
def test_dx_matches_central_differences(any_model_file, objective):
    engine = TorchEngine(any_model_file, "float64")
    x, lengths, positions, classes = padded_inputs(any_model_file, engine)
    check_input_gradient(engine, x, lengths, positions, classes, objective)


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_dx_for_each_pooling(pooling):
    mf = tiny_model_file("gru", 2, True, "classifier", pooling=pooling)
    engine = TorchEngine(mf, "float64")
    check_input_gradient(engine, *padded_inputs(mf, engine))


def test_dx_for_one_hot_inputs():
    mf = tiny_model_file("rnn", 1, False, "lm", embedding_dim=0)
    engine = TorchEngine(mf, "float64")
    x, *rest = padded_inputs(mf, engine)
    assert x.shape[2] == mf.config.vocab_size and set(np.unique(x)) <= {0.0, 1.0}
    check_input_gradient(engine, x, *rest)


def test_checker_catches_a_gradient_off_by_a_tenth_of_a_percent():
    mf = tiny_model_file("lstm", 1, False, "classifier")
    engine = TorchEngine(mf, "float64")
    x, lengths, positions, classes = padded_inputs(mf, engine)
    _, _, dx = engine.gradient(x, lengths, positions, classes)
    check_input_gradient(engine, x, lengths, positions, classes, dx=dx)  # the right one passes
    with pytest.raises(AssertionError, match="analytic"):
        check_input_gradient(engine, x, lengths, positions, classes, dx=dx * 1.001)


def test_predicted_class_is_resolved_before_backward():
    mf = tiny_model_file("gru", 1, False, "classifier")
    engine = TorchEngine(mf, "float64")
    x, lengths, positions, _ = padded_inputs(mf, engine)
    logits, values, _ = engine.gradient(x, lengths, positions, np.full(len(x), -1))
    np.testing.assert_array_equal(values, logits.max(-1))


def test_unidirectional_lm_gradient_is_zero_after_the_position():
    mf = tiny_model_file("lstm", 2, False, "lm")
    engine = TorchEngine(mf, "float64")
    x, lengths, _, classes = padded_inputs(mf, engine, ["dead beef cafe"])
    _, _, dx = engine.gradient(x, lengths, np.array([4]), classes)
    assert np.all(dx[0, 5:] == 0.0)
    assert np.all(np.abs(dx[0, :5]).sum(-1) > 0)


def test_bidirectional_classifier_gradient_reaches_every_token():
    mf = tiny_model_file("lstm", 1, True, "classifier", pooling="last")
    engine = TorchEngine(mf, "float64")
    x, lengths, positions, classes = padded_inputs(mf, engine, ["dead beef cafe"])
    _, _, dx = engine.gradient(x, lengths, positions, classes)
    assert np.all(np.abs(dx[0]).sum(-1) > 1e-12)
