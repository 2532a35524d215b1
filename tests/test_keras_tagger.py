"""Keras taggers (a per-step Dense after return_sequences=True) import as taggers: every position's
probabilities equal model.predict, and dx_t passes the numeric check at a middle position."""

import json

import numpy as np
import pytest

from saliency.batching import padded
from saliency.importers import import_any
from saliency.engines.torch_engine import TorchEngine
from saliency.engines.numpy_engine import NumpyEngine

from .gradcheck import check_input_gradient
from .test_keras_import import built  # noqa: F401 (the session's Keras models, built once)

TAGGERS = ["bilstm-timedistributed-softmax", "gru-dense-linear", "stacked-bigru-timedistributed"]


def tag_probabilities(mf, text, engine_class):
    engine = engine_class(mf, "float64")
    ids = np.array([mf.tokenizer.encode(text)])
    logits = engine.forward(engine.embed(ids), np.array([ids.shape[1]]))[0]  # (T, C)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", TAGGERS)
def test_keras_tagger_equals_predict_at_every_position(built, name, suffix):  # noqa: F811
    out, cases = built
    mf = import_any(str(out / f"{name}{suffix}"), str(out / "word_index.json"))
    assert mf.config.head == "tagger" and mf.info["task"] == "tag"
    assert mf.config.num_labels == cases["taggers"][name]["outputs"]
    for text, expected in zip(cases["texts"], cases["taggers"][name]["probabilities"]):
        for engine_class in (NumpyEngine, TorchEngine):
            np.testing.assert_allclose(tag_probabilities(mf, text, engine_class), np.array(expected),
                                       atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", TAGGERS)
def test_keras_tagger_dx_passes_the_finite_difference_check(built, name):  # noqa: F811
    out, cases = built
    mf = import_any(str(out / f"{name}.keras"), str(out / "word_index.json"))
    ids = [mf.tokenizer.encode(t) for t in cases["texts"][:3]]
    batch, lengths = padded(ids, 0)
    for engine in (NumpyEngine(mf, "float64"), TorchEngine(mf, "float64")):
        check_input_gradient(engine, engine.embed(batch), lengths, lengths // 2, np.array([0, 1, 2]))


def test_keras_tagger_explains_every_position(built, tmp_path):  # noqa: F811
    from saliency.modelfile import checkpoint
    from saliency.pipeline import Explainer

    out, cases = built
    mf = import_any(str(out / "bilstm-timedistributed-softmax.keras"), str(out / "word_index.json"))
    path = str(tmp_path / "t.safetensors")
    checkpoint.save(mf, path)
    (exp,) = Explainer.from_model_file(checkpoint.load(path), engine="numpy", dtype="float64").explain(
        [cases["texts"][0]], method="gradient")
    expected = np.array(cases["taggers"]["bilstm-timedistributed-softmax"]["probabilities"][0])
    assert exp.prediction["tags"] == [str(k) for k in expected.argmax(-1)]
    assert [r["position"] for r in exp.rows] == [0, 1, 2, 3]
    assert json.loads(exp.to_json())["prediction"]["tags"] == exp.prediction["tags"]
