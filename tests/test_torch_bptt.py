"""The torch engine's backward through time, written for dx alone, against autograd through the
same module (torch's own nn.RNN / nn.LSTM / nn.GRU), in float64, for every architecture."""

import itertools

import numpy as np
import pytest
import torch

from saliency.engines.torch_engine import TorchEngine, select_objective

from .conftest import TEXTS, tiny_model_file
from .test_gradients import padded_inputs

CASES = [dict(cell=c, layers=l, bidirectional=b, head="classifier", pooling=p)
         for c, l, b, p in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("last", "max", "mean"))]
CASES += [dict(cell=c, layers=l, bidirectional=b, head=h)
          for c, l, b, h in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("lm", "tagger"))]
CASES += [dict(cell="rnn", layers=2, bidirectional=True, nonlinearity="relu"),
          dict(cell="lstm", layers=2, bidirectional=True, hidden=(4, 3)),  # layers of different sizes
          dict(cell="gru", layers=3, bidirectional=False, hidden=(3, 5, 2), pooling="last")]


def by_autograd(engine, x, lengths, positions, classes, objective):
    """dF/dx through the module's own forward (packed where it packs), by autograd."""
    x = torch.tensor(x, requires_grad=True)
    logits = engine.model(x, torch.tensor(lengths))
    at = logits[torch.arange(len(x)), torch.tensor(positions)] if logits.dim() == 3 else logits
    classes = torch.where(torch.tensor(classes) < 0, at.argmax(-1), torch.tensor(classes))
    values = select_objective(logits, torch.tensor(positions), classes, objective)
    (dx,) = torch.autograd.grad(values.sum(), x)
    return logits.detach().numpy(), values.detach().numpy(), dx.numpy()


@pytest.mark.parametrize("arch", CASES, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("objective", ["logit", "logprob", "vs:0"])
def test_by_hand_equals_autograd(arch, objective):
    model_file = tiny_model_file(**arch)
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine)
    classes[::2] = -1  # some rows explain the prediction
    mine = engine.gradient(x, lengths, positions, classes, objective)
    reference = by_autograd(engine, x, lengths, positions, classes, objective)
    for got, want in zip(mine, reference):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.abs(reference[2]).max() > 1e-3  # a real gradient, not zeros on both sides


@pytest.mark.parametrize("texts", [TEXTS[:1], ["abc", "hag", "fed"]], ids=["one text", "equal lengths"])
def test_by_hand_without_padding(texts):
    model_file = tiny_model_file("lstm", 2, True, pooling="last")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, texts)
    mine = engine.gradient(x, lengths, positions, classes)
    reference = by_autograd(engine, x, lengths, positions, classes, "logit")
    np.testing.assert_allclose(mine[2], reference[2], rtol=0, atol=1e-12)


def test_padding_gets_no_gradient_and_changes_nothing():
    model_file = tiny_model_file("gru", 2, True, pooling="mean")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine)
    noisy = x.copy()
    padding = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    noisy[padding] = np.random.default_rng(0).normal(size=(padding.sum(), x.shape[2]))
    clean, dirty = engine.gradient(x, lengths, positions, classes), engine.gradient(noisy, lengths, positions, classes)
    for a, b in zip(clean, dirty):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    assert np.all(dirty[2][padding] == 0)


def test_the_autograd_path_kept_for_comparison_gives_the_same():
    model_file = tiny_model_file("gru", 2, True, pooling="max")
    by_hand, by_autograd = TorchEngine(model_file, "float64"), TorchEngine(model_file, "float64")
    by_autograd.backward_by_hand = False
    x, lengths, positions, classes = padded_inputs(model_file, by_hand)
    for a, b in zip(by_hand.gradient(x, lengths, positions, classes), by_autograd.gradient(x, lengths, positions, classes)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert by_autograd._layers is None  # the by-hand layers were never built: autograd did it all
