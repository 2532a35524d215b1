"""The model file: round trips exactly, and refuses anything that is not a valid model."""

import json

import numpy as np
import pytest

from saliency.modelfile import checkpoint
from saliency.errors import ModelError
from saliency.pipeline import Explainer

from .conftest import TEXTS, tiny_model_file


@pytest.mark.parametrize("head", ["classifier", "lm"])
def test_save_then_load_gives_identical_predictions_and_scores(tmp_path, head):
    mf = tiny_model_file("gru", 2, True, head)
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(mf, path)
    loaded = checkpoint.load(path)
    assert loaded.config == mf.config and loaded.labels == mf.labels
    assert loaded.tokenizer.vocab == mf.tokenizer.vocab
    for method in ("gradient", "integrated-gradients"):
        a = Explainer.from_model_file(mf, "torch", dtype="float64").explain(TEXTS, method)
        b = Explainer.from_model_file(loaded, "torch", dtype="float64").explain(TEXTS, method)
        assert [x.to_dict() for x in a] == [{**y.to_dict(), "model": x.model} for x, y in zip(a, b)]


def test_float16_files_load_as_float16_weights(tmp_path):
    mf = tiny_model_file()
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(mf, path, dtype=np.float16)
    loaded = checkpoint.load(path)
    assert all(w.dtype == np.float16 for w in loaded.weights.values())
    np.testing.assert_allclose(loaded.weights["head.weight"], mf.weights["head.weight"], rtol=1e-3, atol=1e-3)


def write_with_header(path, mf, header):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in mf.weights.items()}, path,
              metadata={"saliency": json.dumps(header)})


def test_refuses_missing_file():
    with pytest.raises(ModelError, match="not found: /nope/x.safetensors"):
        checkpoint.load("/nope/x.safetensors")


def test_refuses_truncated_file(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint.save(tiny_model_file(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a readable model file"):
        checkpoint.load(str(path))


def test_refuses_non_model_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="notes.txt"):
        checkpoint.load(str(text))
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty.safetensors"):
        checkpoint.load(str(empty))


def test_refuses_a_pickle(tmp_path):
    import pickle

    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ModelError, match="not a readable model file"):
        checkpoint.load(str(path))


def test_refuses_plain_safetensors_without_our_header(tmp_path):
    from safetensors.numpy import save_file

    path = str(tmp_path / "plain.safetensors")
    save_file({"w": np.zeros(3, dtype=np.float32)}, path)
    with pytest.raises(ModelError, match="not a saliency model"):
        checkpoint.load(path)


@pytest.mark.parametrize("change, message", [
    (lambda h: h["config"].update(vocab_size=99), "vocabulary has 11 entries"),
    (lambda h: h["config"].update(cell="transformer"), "unknown cell type"),
    (lambda h: h["config"].update(hidden_size=7), "has shape"),
    (lambda h: h.update(labels=["only-one"]), "label names"),
    (lambda h: h["config"].update(layers=2), "needs 11 tensors, the file holds 7"),
    (lambda h: h.update(version=99), "newer saliency"),
    (lambda h: h["config"].update(heads=3), "unknown architecture fields"),
])
def test_refuses_metadata_that_disagrees_with_the_tensors(tmp_path, change, message):
    mf = tiny_model_file("lstm")
    header = mf.header()
    change(header)
    path = str(tmp_path / "bad.safetensors")
    write_with_header(path, mf, header)
    with pytest.raises(ModelError, match=message):
        checkpoint.load(path)
