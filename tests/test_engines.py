"""The engine contract (saliency/engines/base.py): each engine has every member, answers with real
numbers, and the three agree on the same network; a capability an engine lacks says which."""

import numpy as np
import pytest
import torch

from saliency.engines.base import Engine, EngineConfig, Unsupported
from saliency.engines.numpy_engine import NumpyEngine
from saliency.engines.torch_engine import RNNModel, TorchEngine
from saliency.engines.user_module import ModuleEngine
from saliency.objective import PREDICTION, Objective

from .conftest import tiny_model_file
from .test_gradients import padded_inputs

ARCHS = [dict(cell="lstm"), dict(cell="gru", layers=2, bidirectional=True), dict(cell="rnn", head="lm"),
         dict(cell="lstm", head="tagger", pooling="mean")]


def engines(model_file):
    """The model file's network three ways: torch, numpy, and the same RNNModel as a user's module."""
    module = RNNModel.from_weights(model_file.config, model_file.weights, torch.float64)
    own = ModuleEngine(module, head=model_file.config.head, batched="padded",
                       call=lambda m, ids, lengths: m(m.embed(ids), lengths))
    return TorchEngine(model_file, "float64"), NumpyEngine(model_file, "float64"), own


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: "-".join(map(str, a.values())))
@pytest.mark.parametrize("objective", [Objective(), Objective("logprob"), Objective(against=1)],
                         ids=["logit", "logprob", "contrast"])
def test_every_engine_keeps_the_contract_with_the_same_numbers(arch, objective):
    model_file = tiny_model_file(**arch)
    torch_engine, numpy_engine, own = engines(model_file)
    x, lengths, positions, classes = padded_inputs(model_file, numpy_engine)
    classes[0] = PREDICTION
    reference = None
    for engine in (torch_engine, numpy_engine, own):
        assert isinstance(engine, Engine) and isinstance(engine.config, EngineConfig)
        assert engine.config.head == model_file.config.head and engine.config.vocab_size == model_file.config.vocab_size
        assert engine.config.per_position == (model_file.config.head != "classifier")
        assert engine.dtype == np.float64 and str(engine.device) == "cpu"
        ids = np.array([[2, 3, 4]])
        np.testing.assert_array_equal(engine.embed(ids), numpy_engine.embed(ids))
        assert isinstance(engine.asarray(ids), torch.Tensor if engine is torch_engine else np.ndarray)
        logits = engine.forward(x, lengths)
        got = engine.gradient(x, lengths, positions, classes, objective)
        np.testing.assert_allclose(got[0][:, :1] if got[0].ndim == 3 else got[0],
                                   logits[:, :1] if logits.ndim == 3 else logits, rtol=0, atol=1e-12)
        if reference is None:
            reference = got
            assert np.abs(got[2]).max() > 1e-3 and np.all(np.isfinite(got[1]))  # a real gradient
            continue
        mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])
        np.testing.assert_allclose(got[1], reference[1], rtol=0, atol=1e-10)  # F
        np.testing.assert_allclose(got[2] * mask[..., None], reference[2] * mask[..., None], rtol=0, atol=1e-10)


def test_the_model_file_engines_have_every_capability():
    model_file = tiny_model_file(cell="gru", layers=2, head="lm")
    torch_engine, numpy_engine, _ = engines(model_file)
    x, lengths, _, _ = padded_inputs(model_file, numpy_engine)
    for engine in (torch_engine, numpy_engine):
        assert engine.resumable
        names = engine.weights()
        assert sorted(names) == sorted(model_file.weights)
        for name, array in names.items():
            np.testing.assert_array_equal(array, model_file.weights[name])
        states = engine.states(x, lengths)
        assert len(states) == 2 and states[-1][0].shape == (len(x), x.shape[1] + 1, 4)
        # run on from the states after step 1: the rest of each text's logits, as from step 0
        initial = [(h[:, 1], None if c is None else c[:, 1]) for h, c in states]
        rest = engine.resume(x[:, 1:], lengths - 1, initial, None)
        mask = (np.arange(1, x.shape[1])[None, :] < lengths[:, None])[..., None]
        np.testing.assert_allclose(rest * mask, engine.forward(x, lengths)[:, 1:] * mask, rtol=0, atol=1e-12)
    np.testing.assert_allclose(torch_engine.states(x, lengths)[-1][0], numpy_engine.states(x, lengths)[-1][0],
                               rtol=0, atol=1e-12)
    assert isinstance(torch_engine.torch_module(), RNNModel)
    with pytest.raises(Unsupported, match="the numpy engine has no torch module"):
        numpy_engine.torch_module()


def test_a_users_module_says_which_capability_it_lacks():
    model_file = tiny_model_file()
    *_, own = engines(model_file)
    assert not own.resumable and own.parallel_scope() is None and own.torch_module() is own.module
    x = own.embed(np.array([[2, 3]]))
    for call, capability in ((lambda: own.states(x, np.array([2])), "stored states"),
                             (lambda: own.resume(x, np.array([2]), []), "resume"),
                             (own.weights, "model-file weights")):
        with pytest.raises(NotImplementedError, match=f"the torch-module engine has no {capability}") as caught:
            call()
        assert isinstance(caught.value, Unsupported) and caught.value.engine_name == "torch-module"


def test_a_one_hot_module_reports_one_hot_inputs():
    module = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.LazyLinear(3))
    own = ModuleEngine(module, inputs="one-hot", vocab_size=6)
    own.forward(own.embed(np.array([[1, 2]])), np.array([2]))  # sizes the lazy layer
    assert own.config.embedding_dim == 0 and own.config.vocab_size == 6
    np.testing.assert_array_equal(own.embed(np.array([[1, 5]]))[0], np.eye(6)[[1, 5]])


def test_auto_is_decided_in_one_place():
    from saliency.engines.choose import LIVE, TORCH_FROM_WORK, choose_engine, load_engine

    assert choose_engine("numpy", "cpu", 10 * TORCH_FROM_WORK) == "numpy"  # a named engine is kept
    assert choose_engine("torch", "cpu", LIVE) == "torch"
    assert choose_engine("auto", "cpu", LIVE) == "numpy"  # a pipe's lines, one edited text
    assert choose_engine("auto", "cpu", TORCH_FROM_WORK - 1) == "numpy"
    assert choose_engine("auto", "cpu", TORCH_FROM_WORK) == "torch"
    assert choose_engine("auto", "cpu") == "torch"  # work not weighed: the library's default
    assert choose_engine("auto", "cuda", LIVE) == choose_engine("auto", "auto", LIVE) == "torch"
    assert load_engine(tiny_model_file(), "auto").name == "torch"
