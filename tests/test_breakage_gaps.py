"""Two gaps a deliberate-breakage check of the suite found (issue 27): each test here fails when
the check it names is weakened.

- The safetensors reader: tensors' byte ranges must be disjoint and cover the data section,
  and a range past the end of the file is refused by its own check (message and all).
- SmoothGrad's sigma is `noise` times the embeddings' spread: compared with SmoothGrad computed
  by hand, and with a model whose embeddings are scaled (the noise must scale with them).
"""

import json

import numpy as np
import pytest

from saliency.modelfile import checkpoint
from saliency.errors import ModelError
from saliency.engines.numpy_engine import NumpyEngine

from .conftest import explainer64, tiny_model_file
from .test_model_file import tensors_of, write_raw


def raw_file(path, tensors, offsets=None, tail=b""):
    """write_raw, then optionally rewrite some tensors' data_offsets (and append stray bytes)."""
    mf = tiny_model_file("lstm")
    write_raw(path, tensors, {"saliency": json.dumps(mf.header())})
    if offsets is None and not tail:
        return str(path)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    for name, pair in (offsets or {}).items():
        header[name]["data_offsets"] = pair
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:] + tail)
    return str(path)


def offsets_of(path):
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    return {k: v["data_offsets"] for k, v in header.items() if k != "__metadata__"}


def test_a_well_formed_file_loads(tmp_path):
    path = raw_file(tmp_path / "ok.safetensors", tensors_of(tiny_model_file("lstm")))
    assert set(checkpoint.load(path).weights) == set(tiny_model_file("lstm").weights)


def test_two_tensors_over_the_same_bytes_are_refused(tmp_path):
    """A second name for head.bias's bytes (3 floats), the file otherwise exactly covered."""
    tensors = tensors_of(tiny_model_file("lstm"))
    tensors["extra"] = ("F32", (3,), b"\0" * 12)  # written last; its own bytes are then cut off
    path = raw_file(tmp_path / "a.safetensors", tensors)
    overlapping = raw_file(tmp_path / "b.safetensors", tensors, {"extra": offsets_of(path)["head.bias"]})
    open(overlapping, "r+b").truncate(len(open(overlapping, "rb").read()) - 12)
    with pytest.raises(ModelError, match="overlaps the tensor before it"):
        checkpoint.load(overlapping)


def test_bytes_owned_by_no_tensor_are_refused(tmp_path):
    tensors = tensors_of(tiny_model_file("lstm"))
    tensors["zz"] = ("F32", (1,), b"\0" * 4)  # written last: moving it on by 4 leaves a gap
    path = raw_file(tmp_path / "a.safetensors", tensors)
    start, end = offsets_of(path)["zz"]
    gap = raw_file(tmp_path / "gap.safetensors", tensors, {"zz": [start + 4, end + 4]}, tail=b"\0" * 4)
    with pytest.raises(ModelError, match="leaves unowned bytes before it"):
        checkpoint.load(gap)
    trailing = raw_file(tmp_path / "tail.safetensors", tensors, tail=b"\0" * 8)
    with pytest.raises(ModelError, match="bytes after the last tensor"):
        checkpoint.load(trailing)


@pytest.mark.parametrize("short", [1, 4])
def test_a_range_past_the_end_of_the_file_is_refused_by_its_own_check(tmp_path, short):
    path = raw_file(tmp_path / "a.safetensors", tensors_of(tiny_model_file("lstm")))
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-short])
    with pytest.raises(ModelError, match="past the end of the file"):
        checkpoint.load(path)


# -- SmoothGrad's sigma ---------------------------------------------------------------------------

def smoothgrad_by_hand(mf, text, samples, noise, seed):
    """Mean over noisy copies of |dF/dx_t| (l2), sigma = noise * (max - min) of the embedding table."""
    engine = NumpyEngine(mf, "float64")
    ids = np.array([mf.tokenizer.encode(text)])
    T = ids.shape[1]
    x = engine.embed(ids)
    lengths, positions = np.array([T]), np.array([T - 1])
    table = engine.embed(np.arange(mf.config.vocab_size)[None, :])
    sigma = noise * (table.max() - table.min())
    logits = engine.forward(x, lengths)
    target = np.array([int(np.argmax(logits[0]))])
    draws = np.random.default_rng(seed).normal(0.0, sigma, (samples, T, x.shape[-1]))
    total = np.zeros(T)
    for s in range(samples):
        _, _, dx = engine.gradient(x + draws[s][None], lengths, positions, target)
        total += np.linalg.norm(dx[0], axis=-1)
    return total / samples


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_smoothgrad_equals_smoothgrad_by_hand(engine):
    mf = tiny_model_file("gru", 1, False)
    got = explainer64(mf, engine).explain(["dead beef"], "smoothgrad", samples=6, noise=0.3, seed=5)[0]
    np.testing.assert_allclose([t.score for t in got.tokens], smoothgrad_by_hand(mf, "dead beef", 6, 0.3, 5),
                               rtol=1e-10, atol=1e-12)


def test_scaling_the_embeddings_scales_the_noise():
    """Embeddings times c and the first layer's input weights over c: the same model of ids, with
    x scaled by c. If sigma scales with the embeddings' spread, every noisy copy is c times the
    original's, so the gradients (hence the scores) are exactly the original's over c."""
    mf = tiny_model_file("lstm", 1, True)
    scaled = tiny_model_file("lstm", 1, True)
    c = 7.0
    scaled.weights["embedding.weight"] = mf.weights["embedding.weight"] * c
    for name in ("rnn.weight_ih_l0", "rnn.weight_ih_l0_reverse"):
        scaled.weights[name] = mf.weights[name] / c
    kw = dict(samples=5, noise=0.4, seed=2)
    a = explainer64(mf, "numpy").explain(["hag bed"], "smoothgrad", **kw)[0]
    b = explainer64(scaled, "numpy").explain(["hag bed"], "smoothgrad", **kw)[0]
    assert a.prediction["label"] == b.prediction["label"]
    np.testing.assert_allclose([t.score / c for t in a.tokens], [t.score for t in b.tokens], rtol=1e-9)
