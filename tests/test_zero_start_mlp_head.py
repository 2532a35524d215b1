"""zero_start and a classifier's MLP head through every path that runs the network: RNNModel
(autograd), torch_bptt (the CPU backward by hand), the numpy engine and LRP's recorded re-run
agree in float64 to 1e-10, and dx matches finite differences."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from saliency.attribution.recorded import network_of
from saliency.modelfile.checkpoint import ModelFile
from saliency.modelfile.config import ModelConfig
from saliency.errors import ModelError
from saliency.engines.torch_engine import RNNModel, TorchEngine
from saliency.objective import Objective
from saliency.engines.numpy_engine import NumpyEngine
from saliency.tokenize import Tokenizer

from .gradcheck import check_input_gradient

IDS = np.array([[0, 1, 2, 3, 4, 5], [2, 3, 1, 0, 0, 0], [6, 5, 4, 0, 0, 0]])
LENGTHS = np.array([6, 3, 3])


def model_file(cell, hidden, layers, embedding, head="lm", pooling="last", zero_start=True, head_hidden=(),
               bidirectional=False):
    torch.manual_seed(7)
    cfg = ModelConfig(cell=cell, vocab_size=7, embedding_dim=embedding, hidden_size=hidden, layers=layers,
                      head=head, pooling=pooling, num_labels=3, zero_start=zero_start, head_hidden=head_hidden,
                      bidirectional=bidirectional)
    model = RNNModel(cfg).double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.6)
    return ModelFile(cfg, Tokenizer("char", list("abcdefg")), [] if head == "lm" else ["x", "y", "z"],
                     model.weights())


def autograd_dx(engine, x, positions, classes):
    """RNNModel's own forward differentiated by autograd (not torch_bptt)."""
    x = torch.tensor(x, requires_grad=True)
    logits = engine.model(x, torch.tensor(LENGTHS))
    Objective().values(logits, torch.tensor(positions), torch.tensor(classes)).sum().backward()
    return logits.detach().numpy(), x.grad.numpy()


ZERO_START = [dict(cell=c, hidden=h, layers=l, embedding=e, head=hd, pooling=p)
              for c, (h, l), e, (hd, p) in itertools.product(
                  ("rnn", "lstm", "gru"), ((5, 1), (5, 2), ((6, 4), 2)), (0, 4), (("lm", "last"), ("classifier", "max")))]


@pytest.mark.parametrize("case", ZERO_START, ids=lambda c: "-".join(map(str, c.values())))
def test_zero_start_every_path_agrees(case):
    mf = model_file(**case)
    torch_engine, numpy_engine = TorchEngine(mf, "float64"), NumpyEngine(mf, "float64")
    x = numpy_engine.embed(IDS)
    positions, classes = (np.array([5, 2, 1]) if case["head"] == "lm" else np.zeros(3, int)), np.array([1, 2, 0])
    logits = numpy_engine.forward(x, LENGTHS)
    np.testing.assert_allclose(torch_engine.forward(x, LENGTHS), logits, rtol=0, atol=1e-10)
    np.testing.assert_allclose(network_of(torch_engine).logits(x, LENGTHS), logits, rtol=0, atol=1e-10)
    dx = numpy_engine.gradient(x, LENGTHS, positions, classes)[2]
    np.testing.assert_allclose(torch_engine.gradient(x, LENGTHS, positions, classes)[2], dx, rtol=0, atol=1e-10)
    with_ids = torch_engine.gradient(x, LENGTHS, positions, classes, ids=IDS)[2]  # the token table's projections
    np.testing.assert_allclose(with_ids, dx, rtol=0, atol=1e-10)
    auto_logits, auto_dx = autograd_dx(torch_engine, x, positions, classes)
    np.testing.assert_allclose(auto_dx, dx, rtol=0, atol=1e-10)
    check_input_gradient(numpy_engine, x, LENGTHS, positions, classes)
    # and it is a different network from the same weights without the zero step
    plain = NumpyEngine(ModelFile(dataclasses.replace(mf.config, zero_start=False), mf.tokenizer, mf.labels,
                                  mf.weights), "float64")
    assert np.abs(plain.forward(x, LENGTHS) - logits).max() > 1e-3


HEADS = [((6, "relu"),), ((6, "tanh"), (4, "sigmoid")), ((5, "linear"), (3, "relu"))]


@pytest.mark.parametrize("cell,pooling,bidirectional", list(itertools.product(("rnn", "lstm", "gru"),
                                                                               ("last", "max", "mean"), (False, True))))
@pytest.mark.parametrize("head_hidden", HEADS, ids=lambda h: "-".join(f"{n}{a}" for n, a in h))
def test_mlp_head_every_engine_agrees_and_matches_finite_differences(cell, pooling, bidirectional, head_hidden):
    mf = model_file(cell, 5, 1, 4, head="classifier", pooling=pooling, zero_start=False, head_hidden=head_hidden,
                    bidirectional=bidirectional)
    torch_engine, numpy_engine = TorchEngine(mf, "float64"), NumpyEngine(mf, "float64")
    x = numpy_engine.embed(IDS)
    positions, classes = np.zeros(3, int), np.array([1, 2, -1])
    logits, values, dx = numpy_engine.gradient(x, LENGTHS, positions, classes, "logprob")
    t_logits, t_values, t_dx = torch_engine.gradient(x, LENGTHS, positions, classes, "logprob")
    np.testing.assert_allclose(t_logits, logits, rtol=0, atol=1e-10)
    np.testing.assert_allclose(t_dx, dx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_engine.gradient(x, LENGTHS, positions, classes, "logprob", ids=IDS)[2], dx,
                               rtol=0, atol=1e-10)
    check_input_gradient(torch_engine, x, LENGTHS, positions, np.array([1, 2, 0]))
    check_input_gradient(numpy_engine, x, LENGTHS, positions, np.array([1, 2, 0]), Objective(against=1))


def test_config_checks_and_files_without_the_new_fields_are_unchanged():
    with pytest.raises(ModelError, match="head_hidden must be a list of \\[size, activation\\] pairs"):
        ModelConfig(head_hidden=((4, "softplus"),))
    with pytest.raises(ModelError, match="head_hidden .* applies to classifiers only"):
        ModelConfig(head="lm", head_hidden=((4, "relu"),))
    cfg = ModelConfig.from_dict({"head_hidden": [[4, "relu"]], "zero_start": True})
    assert cfg.head_hidden == ((4, "relu"),) and cfg.to_dict()["head_hidden"] == [[4, "relu"]]
    assert set(ModelConfig().to_dict()) == {"cell", "vocab_size", "embedding_dim", "hidden_size", "layers",
                                            "bidirectional", "head", "pooling", "num_labels", "dropout",
                                            "nonlinearity"}


@pytest.mark.parametrize("cells,hidden", [(("gru", "rnn"), 5), (("lstm", "gru", "lstm"), (5, 5, 3)),
                                          (("rnn", "lstm"), (4, 6))])
@pytest.mark.parametrize("bidirectional,zero_start", [(False, False), (True, False), (False, True)])
def test_a_stack_of_different_cells_every_path_agrees(cells, hidden, bidirectional, zero_start, tmp_path):
    from saliency.modelfile import checkpoint
    from saliency.attribution import make_method
    from saliency.attribution.base import Batch

    torch.manual_seed(9)
    cfg = ModelConfig(cell=list(cells), vocab_size=7, embedding_dim=4, hidden_size=hidden, layers=len(cells),
                      bidirectional=bidirectional, pooling="mean", num_labels=3, zero_start=zero_start)
    assert cfg.cells == cells and not cfg.uniform
    model = RNNModel(cfg).double()
    mf = ModelFile(cfg, Tokenizer("char", list("abcdefg")), ["x", "y", "z"], model.weights())
    checkpoint.save(mf, str(tmp_path / "mixed.safetensors"))
    mf = checkpoint.load(str(tmp_path / "mixed.safetensors"))  # the per-layer cells survive the file
    assert mf.config.cells == cells and mf.header()["version"] == 2
    torch_engine, numpy_engine = TorchEngine(mf, "float64"), NumpyEngine(mf, "float64")
    x = numpy_engine.embed(IDS)
    positions, classes = np.zeros(3, int), np.array([1, 2, 0])
    logits, _, dx = numpy_engine.gradient(x, LENGTHS, positions, classes)
    np.testing.assert_allclose(torch_engine.forward(x, LENGTHS), logits, rtol=0, atol=1e-10)
    np.testing.assert_allclose(network_of(numpy_engine).logits(x, LENGTHS), logits, rtol=0, atol=1e-10)
    np.testing.assert_allclose(torch_engine.gradient(x, LENGTHS, positions, classes)[2], dx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(autograd_dx(torch_engine, x, positions, classes)[1], dx, rtol=0, atol=1e-10)
    check_input_gradient(numpy_engine, x, LENGTHS, positions, classes)
    lrp = make_method("lrp").attribute(numpy_engine, Batch(IDS, LENGTHS, x, positions, classes))
    assert np.isfinite(lrp.scores).all() and np.abs(lrp.scores).sum() > 0
