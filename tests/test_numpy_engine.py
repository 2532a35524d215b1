"""The numpy engine against torch: same logits and dx_t, every architecture, and no torch import."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from saliency.engines.torch_engine import TorchEngine
from saliency.engines.numpy_engine import NumpyEngine

from .conftest import tiny_model_file
from .gradcheck import check_input_gradient
from .test_gradients import padded_inputs


# Every cell (vanilla RNN with tanh and with relu) x layers x direction x head, and for
# classifiers every pooling: a language model or a tagger reads every position, so pooling is not used there.
NUMPY_CASES = [
    dict(cell=c, nonlinearity=n, layers=l, bidirectional=b, head=h, pooling=p)
    for (c, n), l, b in itertools.product((("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")),
                                          (1, 2), (False, True))
    for h, p in (("classifier", "last"), ("classifier", "mean"), ("classifier", "max"), ("lm", "last"),
                 ("tagger", "last"))
]


def case_id(c):
    cell = "rnn-relu" if c["nonlinearity"] == "relu" else c["cell"]
    return f"{cell}-{c['layers']}L-{'bi' if c['bidirectional'] else 'uni'}-{c['head']}" + \
        (f"-{c['pooling']}" if c["head"] == "classifier" else "")


@pytest.mark.parametrize("case", NUMPY_CASES, ids=case_id)
def test_numpy_equals_torch_in_float64(case):
    mf = tiny_model_file(**case)
    ours, theirs = NumpyEngine(mf, "float64"), TorchEngine(mf, "float64")
    x, lengths, positions, classes = padded_inputs(mf, theirs)
    np.testing.assert_allclose(ours.forward(x, lengths), theirs.forward(x, lengths), rtol=0, atol=1e-10)
    for objective in ("logit", "logprob"):
        for targets in (classes, np.full(len(x), -1)):  # named classes, and the model's own prediction
            for a, b in zip(ours.gradient(x, lengths, positions, targets, objective),
                            theirs.gradient(x, lengths, positions, targets, objective)):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_numpy_pooling_and_one_hot_inputs(cell, pooling):
    for mf in (tiny_model_file(cell, 2, True, pooling=pooling),
               tiny_model_file(cell, 1, True, pooling=pooling, embedding_dim=0)):
        ours, theirs = NumpyEngine(mf, "float64"), TorchEngine(mf, "float64")
        x, lengths, positions, classes = padded_inputs(mf, theirs)
        for a, b in zip(ours.gradient(x, lengths, positions, np.full(len(x), -1)),
                        theirs.gradient(x, lengths, positions, np.full(len(x), -1))):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
        check_input_gradient(ours, x, lengths, positions, classes)


def test_numpy_embed_equals_torch():
    mf = tiny_model_file()
    ids = np.array([[2, 3, 0], [1, 4, 5]])
    np.testing.assert_array_equal(NumpyEngine(mf, "float64").embed(ids), TorchEngine(mf, "float64").embed(ids))


def test_explain_by_default_never_imports_torch(tmp_path):
    # Nor rich when the output is JSON: start-up time for programs (the renderer loads for people).
    from saliency.modelfile import checkpoint

    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("gru", 2, True), path)
    code = (
        "import sys, json\n"
        "from saliency.cli import app\n"
        # No --engine: the README's claim is about the default path.
        f"try:\n    app(['explain', 'dead beef', '-m', {path!r}, '-f', 'json'])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'rich': 'rich' in sys.modules}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"torch": False, "rich": False}
    assert json.loads(result.stdout)["text"] == "dead beef"
