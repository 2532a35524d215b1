"""Importing numpy char-RNNs: dx_t equals the textbook backward pass; bad files are refused."""

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency.cli import app
from saliency.errors import ModelError
from saliency.importers import COURSE_VOCAB, import_char_rnn, read_arrays
from saliency.engines.torch_engine import TorchEngine
from saliency.engines.numpy_engine import NumpyEngine

runner = CliRunner()
DINOS = ["aachenosaurus", "aardonyx", "abelisaurus", "brachiosaurus", "tyrannosaurus", "velociraptor",
         "stegosaurus", "triceratops", "diplodocus", "allosaurus", "spinosaurus", "iguanodon"]


def course_params(n_a=12, seed=0):
    rng = np.random.default_rng(seed)
    n_x = len(COURSE_VOCAB)
    return {"Wax": rng.normal(0, 0.5, (n_a, n_x)), "Waa": rng.normal(0, 0.5, (n_a, n_a)),
            "Wya": rng.normal(0, 0.5, (n_x, n_a)), "b": rng.normal(0, 0.1, (n_a, 1)),
            "by": rng.normal(0, 0.1, (n_x, 1))}


def textbook_dx(p, chars, position, target):
    """The course's rnn_forward / rnn_backward, transcribed: d logit_target(position) / d x_t."""
    ix = {c: i for i, c in enumerate(COURSE_VOCAB)}
    xs, a = [], [np.zeros((p["Waa"].shape[0], 1))]
    for c in chars:
        x = np.zeros((len(COURSE_VOCAB), 1))
        x[ix[c]] = 1
        xs.append(x)
        a.append(np.tanh(p["Wax"] @ x + p["Waa"] @ a[-1] + p["b"]))
    dz = np.zeros((len(COURSE_VOCAB), 1))
    dz[target] = 1
    da_next = p["Wya"].T @ dz
    dx = np.zeros((len(chars), len(COURSE_VOCAB)))
    for t in reversed(range(position + 1)):
        dtanh = (1 - a[t + 1] ** 2) * da_next
        dx[t] = (p["Wax"].T @ dtanh)[:, 0]
        da_next = p["Waa"].T @ dtanh
    return dx


@pytest.mark.parametrize("engine_class", [NumpyEngine, TorchEngine], ids=["numpy", "torch"])
def test_dx_equals_the_textbook_backward_pass(engine_class):
    p = course_params()
    model_file = import_char_rnn(p)
    engine = engine_class(model_file, "float64")
    text = "tyrannosaurus"
    ids = np.array([model_file.tokenizer.encode(text)])
    for position in (0, 5, len(text) - 1):
        target = COURSE_VOCAB.index("s")
        _, _, dx = engine.gradient(engine.embed(ids), np.array([len(text)]), np.array([position]),
                                   np.array([target]))  # the author's numbering: 's' is output 19
        np.testing.assert_allclose(dx[0], textbook_dx(p, text, position, target), rtol=0, atol=1e-10)


def test_min_char_rnn_layout_with_a_vocabulary_file(tmp_path):
    p = course_params(n_a=6)
    vocab = list("\nabcdefghijklmnopqrstuvwxyz")
    arrays = {"Wxh": p["Wax"], "Whh": p["Waa"], "Why": p["Wya"], "bh": p["b"], "by": p["by"]}
    np.savez(tmp_path / "mcr.npz", **arrays)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    out = str(tmp_path / "mcr.safetensors")
    result = runner.invoke(app, ["import", str(tmp_path / "mcr.npz"), "--vocab", str(tmp_path / "vocab.json"),
                                 "-o", out])
    assert result.exit_code == 0, result.output
    assert "min-char-rnn layout" in result.stderr
    d = json.loads(runner.invoke(app, ["explain", "abc", "-m", out, "-f", "json"]).stdout)
    assert d["target"]["position"] == 2


def train_course_rnn(names, n_a=24, iterations=3000, lr=0.05, seed=0):
    """The course's SGD with BPTT and gradient clipping, on the next-character loss."""
    p = course_params(n_a, seed)
    ix = {c: i for i, c in enumerate(COURSE_VOCAB)}
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        name = names[rng.integers(len(names))]
        X, Y = [None] + [ix[c] for c in name], [ix[c] for c in name] + [ix["\n"]]
        a, xs, ys = {-1: np.zeros((n_a, 1))}, {}, {}
        for t in range(len(X)):
            xs[t] = np.zeros((len(COURSE_VOCAB), 1))
            if X[t] is not None:
                xs[t][X[t]] = 1
            a[t] = np.tanh(p["Wax"] @ xs[t] + p["Waa"] @ a[t - 1] + p["b"])
            z = p["Wya"] @ a[t] + p["by"]
            ys[t] = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        g = {k: np.zeros_like(v) for k, v in p.items()}
        da_next = np.zeros((n_a, 1))
        for t in reversed(range(len(X))):
            dy = ys[t].copy()
            dy[Y[t]] -= 1
            g["Wya"] += dy @ a[t].T
            g["by"] += dy
            dtanh = (1 - a[t] ** 2) * (p["Wya"].T @ dy + da_next)
            g["b"] += dtanh
            g["Wax"] += dtanh @ xs[t].T
            g["Waa"] += dtanh @ a[t - 1].T
            da_next = p["Waa"].T @ dtanh
        for k in p:
            p[k] -= lr * np.clip(g[k], -5, 5)
    return p


def test_an_imported_course_model_explains_dinosaur_names(tmp_path):
    np.savez(tmp_path / "dinos.npz", **train_course_rnn(DINOS))
    out = str(tmp_path / "dinos.safetensors")
    assert runner.invoke(app, ["import", str(tmp_path / "dinos.npz"), "-o", out]).exit_code == 0
    result = runner.invoke(app, ["explain", "Tyrannosauru", "-m", out, "-f", "json", "--method", "grad-input"])
    d = json.loads(result.stdout)
    assert d["prediction"]["label"] == "s"  # it has learned the names' endings
    assert [t["text"] for t in d["tokens"]] == list("Tyrannosauru") and not any(t["unk"] for t in d["tokens"])
    assert d["tokens"][-1]["score"] != 0.0
    text = runner.invoke(app, ["explain", "Stegosauru", "-m", out, "--top", "3"])
    assert text.exit_code == 0 and "top 3 tokens" in text.stdout


def test_npy_dict_needs_allow_pickle(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, course_params(), allow_pickle=True)
    with pytest.raises(ModelError, match="pickle payload"):
        read_arrays(str(path))
    result = runner.invoke(app, ["import", str(path), "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 4 and "--allow-pickle" in result.stderr
    result = runner.invoke(app, ["import", str(path), "--allow-pickle", "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 0 and "warning: --allow-pickle" in result.stderr


@pytest.mark.parametrize("name, content, message", [
    ("model.pt", pickle.dumps({"Wax": 1}), "pickled files are not loaded"),
    ("empty.npz", b"", "not a numpy file"),
    ("notes.npz", b"just some text\n", "neither an .npz archive nor an .npy array"),
    ("junk.npz", b"PK\x03\x04garbage", "not a"),
])
def test_refuses_bad_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        read_arrays(str(path))


def test_refuses_wrong_shapes_and_unknown_layouts(tmp_path):
    p = course_params()
    p["Waa"] = p["Waa"][:, :5]
    with pytest.raises(ModelError, match="recurrent weights have shape"):
        import_char_rnn(p)
    with pytest.raises(ModelError, match="unrecognised layout"):
        import_char_rnn({"W1": np.zeros(3)})
    np.savez(tmp_path / "other.npz", W1=np.zeros(3))
    result = runner.invoke(app, ["import", str(tmp_path / "other.npz")])
    assert result.exit_code == 4 and result.stderr.startswith("Error: unrecognised layout")


def test_an_npz_holding_an_object_array_is_refused_without_unpickling(tmp_path):
    from .hostile import assert_error, run

    path = tmp_path / "evil.npz"
    p = course_params()
    np.savez(path, **p, vocab=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelError, match="object array"):
        read_arrays(str(path), allow_pickle=True)  # not even when pickles are allowed for .npy
    assert_error(run(["import", path, "-o", tmp_path / "m.safetensors"]), 4, "holds an object array")
