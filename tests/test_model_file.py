"""Hostile model files: the header is checked against the tensor table before anything is allocated.

Each case is a file a user could be handed. In process, `checkpoint.load` must raise a ModelError;
through the console script, under an address-space cap (tests/hostile.py), the answer is exit 4
and one stderr line. Also: per-layer hidden sizes, which the format says since version 2.
"""

import json
import os
import struct

import numpy as np
import pytest

from saliency.modelfile import checkpoint
from saliency.modelfile.config import ModelConfig
from saliency.errors import ModelError
from saliency.engines.torch_engine import RNNModel, TorchEngine
from saliency.engines.numpy_engine import NumpyEngine

from .conftest import TEXTS, explainer64, tiny_model_file
from .gradcheck import check_input_gradient
from .hostile import assert_error, run


def write_raw(path, tensors: dict, metadata: dict):
    """A safetensors file written by hand: {name: (dtype, shape, bytes)}, any metadata strings."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def tensors_of(mf, dtype="F32"):
    np_dtype = {"F32": np.float32, "F64": np.float64, "F16": np.float16}[dtype]
    return {k: (dtype, v.shape, np.ascontiguousarray(v, np_dtype).tobytes()) for k, v in mf.weights.items()}


def write_model(path, mf=None, header_change=None, tensor_change=None):
    mf = mf or tiny_model_file("lstm")
    header, tensors = mf.header(), tensors_of(mf)
    if header_change:
        header_change(header)
    if tensor_change:
        tensor_change(tensors)
    write_raw(path, tensors, {"saliency": json.dumps(header)})
    return str(path)


def set_config(**kw):
    return lambda h: h["config"].update(kw)


def set_header(**kw):
    return lambda h: h.update(kw)


def bf16(a):
    return (np.asarray(a, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


# (id, header change, tensor change, message)
REFUSED = [
    ("billion-layers", set_config(layers=10**9), None, "needs 4000000003 tensors"),
    ("layers-string", set_config(layers="1"), None, "layers must be an integer"),
    ("layers-float", set_config(layers=1.5), None, "layers must be an integer"),
    ("layers-bool", set_config(layers=True), None, "layers must be an integer"),
    ("hidden-float", set_config(hidden_size=4.0), None, "hidden_size must be an integer"),
    ("hidden-huge", set_config(hidden_size=10**12), None, "has shape"),
    ("hidden-list-short", set_config(hidden_size=[4, 4]), None, "2 hidden sizes for 1 layers"),
    ("hidden-list-of-str", set_config(hidden_size=["4"]), None, "hidden_size must be an integer"),
    ("vocab-size-mismatch", set_config(vocab_size=100000), None, "vocabulary has 11 entries"),
    ("bidirectional-int", set_config(bidirectional=1), None, "bidirectional must be true or false"),
    ("cell-int", set_config(cell=3), None, "cell must be a string"),
    ("dropout-string", set_config(dropout="0.5"), None, "dropout must be a number"),
    ("config-list", set_header(config=[1, 2]), None, "config must be a JSON object"),
    ("labels-null", set_header(labels=None), None, "labels must be a list of strings"),
    ("labels-int", set_header(labels=5), None, "labels must be a list of strings"),
    ("labels-of-ints", set_header(labels=[0, 1, 2]), None, "labels must be a list of strings"),
    ("info-int", set_header(info=5), None, "info must be a JSON object"),
    ("version-string", set_header(version="2"), None, "version must be a positive integer"),
    ("version-bool", set_header(version=True), None, "version must be a positive integer"),
    ("version-future", set_header(version=99), None, "needs a newer saliency"),
    ("unknown-key", set_header(extra=1), None, "unknown fields extra"),
    ("vocab-of-ints", lambda h: h["tokenizer"].update(vocab=list(range(11))), None, "list of strings"),
    ("level-bad", lambda h: h["tokenizer"].update(level="byte"), None, "char or word"),
    ("tokenizer-missing", lambda h: h.pop("tokenizer"), None, "tokenizer must be a JSON object"),
    ("extra-tensor", None, lambda t: t.update(spy=("F32", (2,), b"\0" * 8)), "unexpected ['spy']"),
    ("renamed-tensor", None, lambda t: t.update({"spy": t.pop("head.bias")}), "unexpected ['spy']"),
    ("bf16-wrong-shape", None, lambda t: t.update({"head.bias": ("BF16", (2,), bf16([1, 2]))}), "has shape"),
    ("f8-tensor", None, lambda t: t.update({"head.bias": ("F8_E4M3", (3,), b"\0" * 3)}), "stored as F8_E4M3"),
    ("int-tensor", None, lambda t: t.update({"head.bias": ("I32", (3,), b"\0" * 12)}), "stored as I32"),
    ("nan-weight", None, lambda t: t.update({"head.bias": ("F32", (3,), np.float32([0, np.nan, 1]).tobytes())}),
     "NaN or infinite"),
    ("inf-weight", None, lambda t: t.update({"head.bias": ("F64", (3,), np.float64([0, np.inf, 1]).tobytes())}),
     "NaN or infinite"),
    ("short-bytes", None, lambda t: t.update({"head.bias": ("F32", (3,), b"\0" * 8)}), "do not fit its shape"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refuses_hostile_headers_in_process(tmp_path, case):
    _, header_change, tensor_change, message = case
    path = write_model(tmp_path / "m.safetensors", header_change=header_change, tensor_change=tensor_change)
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        checkpoint.load(path)


def test_nan_in_the_json_header_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    mf = tiny_model_file("lstm")
    raw = json.dumps(mf.header()).replace('"info": {}', '"info": {"score": NaN}')
    write_raw(path, tensors_of(mf), {"saliency": raw})
    with pytest.raises(ModelError, match="not a saliency model"):
        checkpoint.load(str(path))


def test_bf16_tensors_are_read_exactly_as_float32(tmp_path):
    mf = tiny_model_file("gru")
    rounded = {k: (np.asarray(v, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
               for k, v in mf.weights.items()}
    tensors = {k: ("BF16", v.shape, bf16(v)) for k, v in rounded.items()}
    write_raw(tmp_path / "m.safetensors", tensors, {"saliency": json.dumps(mf.header())})
    loaded = checkpoint.load(str(tmp_path / "m.safetensors"))
    for k, v in rounded.items():
        assert loaded.weights[k].dtype == np.float32
        np.testing.assert_array_equal(loaded.weights[k], v)


def test_undeclared_tensors_are_never_read(tmp_path):
    """A 3 GB sparse tensor beside a valid model: refused from the table, without reading it."""
    path = tmp_path / "m.safetensors"
    mf = tiny_model_file("lstm")
    tensors = tensors_of(mf)
    size = 3 * 2**30
    header, offset = {"__metadata__": {"saliency": json.dumps(mf.header())}}, 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
    header["huge"] = {"dtype": "F32", "shape": [size // 4], "data_offsets": [offset, offset + size]}
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(b for _, _, b in tensors.values()))
        f.truncate(8 + len(raw) + offset + size)  # sparse: no disk used
    result = run(["inspect", path], memory_gb=1.5, timeout=60)
    assert_error(result, 4, "unexpected ['huge']")


@pytest.mark.parametrize("case", ["billion-layers", "labels-of-ints", "info-int", "f8-tensor", "nan-weight"])
def test_refused_through_the_console_script_with_one_line(tmp_path, case):
    _, header_change, tensor_change, message = next(c for c in REFUSED if c[0] == case)
    path = write_model(tmp_path / "m.safetensors", header_change=header_change, tensor_change=tensor_change)
    command = ["inspect", path] if case in ("labels-of-ints", "info-int") else ["explain", "-m", path, "abc"]
    assert_error(run(command, memory_gb=1.5, timeout=60), 4, message)


def test_one_hot_model_with_a_large_vocabulary_explains_in_little_memory(tmp_path):
    """100k one-hot inputs: the numpy engine must not build a 100k x 100k identity (37 GiB)."""
    from saliency.modelfile.checkpoint import ModelFile
    from saliency.tokenize import PAD, UNK, Tokenizer

    V, H = 100_000, 2
    cfg = ModelConfig("rnn", V, 0, H, 1, False, "classifier", "last", 2)
    rng = np.random.default_rng(0)
    weights = {"rnn.weight_ih_l0": rng.normal(size=(H, V)).astype(np.float32),
               "rnn.weight_hh_l0": np.zeros((H, H), np.float32), "rnn.bias_ih_l0": np.zeros(H, np.float32),
               "rnn.bias_hh_l0": np.zeros(H, np.float32), "head.weight": np.ones((2, H), np.float32),
               "head.bias": np.zeros(2, np.float32)}
    vocab = [PAD, UNK] + [f"w{i}" for i in range(V - 2)]
    path = str(tmp_path / "onehot.safetensors")
    checkpoint.save(ModelFile(cfg, Tokenizer("word", vocab), ["a", "b"], weights), path)
    result = run(["explain", "-m", path, "w1 w2 w3", "-f", "json"], memory_gb=2.0, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert [t["text"] for t in json.loads(result.stdout)["tokens"]] == ["w1", "w2", "w3"]


# -- per-layer hidden sizes ---------------------------------------------------------------------

def stacked_model_file(cell, bidirectional, pooling="last", head="classifier", sizes=(6, 3)):
    import torch

    from saliency.modelfile.checkpoint import ModelFile

    base = tiny_model_file(cell, head=head)
    cfg = ModelConfig(cell, base.config.vocab_size, 5, list(sizes), len(sizes), bidirectional, head, pooling, 3)
    torch.manual_seed(0)
    model = RNNModel(cfg).double()
    return ModelFile(cfg, base.tokenizer, base.labels, model.weights(), {}, name="stacked")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_layers_of_different_sizes_round_trip_and_agree_across_engines(tmp_path, cell, bidirectional):
    mf = stacked_model_file(cell, bidirectional, pooling="max" if bidirectional else "last")
    assert mf.config.hidden_sizes == (6, 3) and mf.weights["rnn.weight_hh_l1"].shape == (mf.config.gates * 3, 3)
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(mf, path)
    loaded = checkpoint.load(path)
    assert loaded.header()["version"] == 2 and loaded.config.to_dict()["hidden_size"] == [6, 3]
    torch_scores = explainer64(loaded, "torch").explain(TEXTS, "gradient")
    numpy_scores = explainer64(loaded, "numpy").explain(TEXTS, "gradient")
    for a, b in zip(torch_scores, numpy_scores):
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=1e-9, atol=1e-12)
    engine = NumpyEngine(loaded, "float64")
    ids = np.array([loaded.tokenizer.encode("hag bed"), loaded.tokenizer.encode("abc") + [0] * 4])
    x, lengths = engine.embed(ids), np.array([7, 3])
    for e in (engine, TorchEngine(loaded, "float64")):
        check_input_gradient(e, x, lengths, np.zeros(2, int), np.array([0, 2]))


def test_uniform_sizes_given_as_a_list_are_written_as_version_1(tmp_path):
    cfg = ModelConfig("gru", 11, 5, [4, 4], 2, False, "classifier", "max", 3)
    assert cfg.hidden_size == 4 and cfg.uniform
    mf = tiny_model_file("gru", layers=2)
    assert mf.header()["version"] == 1 and isinstance(mf.header()["config"]["hidden_size"], int)


# -- saving -------------------------------------------------------------------------------------

def test_save_honours_the_umask_and_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "m.safetensors"
    old = os.umask(0o027)
    try:
        checkpoint.save(tiny_model_file(), str(path))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    path.chmod(0o604)
    checkpoint.save(tiny_model_file(), str(path))
    assert path.stat().st_mode & 0o777 == 0o604
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left


@pytest.mark.parametrize("target, message", [
    ("/dev/null", "not a regular file"), ("{tmp}", "not a regular file"), ("{tmp}/no/such/m.safetensors", "no folder"),
])
def test_save_refuses_targets_that_are_not_regular_files(tmp_path, target, message):
    with pytest.raises(ModelError, match=message):
        checkpoint.save(tiny_model_file(), target.format(tmp=tmp_path))


def test_inspect_reads_odd_but_valid_info_without_a_traceback(tmp_path):
    odd = {"figures": {"test": {"accuracy": "high"}}, "command": ["not", "a", "string"]}
    path = write_model(tmp_path / "m.safetensors", header_change=set_header(info=odd))
    result = run(["inspect", path, "-f", "json"], timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["held_out"] == "not measured" and report["info"] == odd
    assert run(["inspect", path], timeout=60).returncode == 0
