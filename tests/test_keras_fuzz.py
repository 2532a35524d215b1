"""Property: any mutation of a Keras config, HDF5 layout or vocabulary imports, or is refused in
one line with a SaliencyError (exit 3 or 4): never another exception, never a read outside the file.

Mutations replace, delete or add config fields at every place the importer reads (with JSON values
of every type, huge numbers included), and rebuild the weights file with datasets of other shapes
and dtypes, missing, extra, or behind links. Bounded example counts keep each test a few seconds.
"""

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saliency.errors import SaliencyError
from saliency.importers import import_any

from . import keras_files as kf

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([0, 1, 2, 4, 5, 11, 2**16, 2**24, 10**9, "tanh", "relu", "sigmoid", "softmax", "LSTM", "GRU",
                       "Dense", "Embedding", "InputLayer", "Bidirectional", "dense", "rnn", "embedding", "concat"])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
LAYER_KEYS = ["name", "units", "input_dim", "output_dim", "activation", "recurrent_activation", "use_bias",
              "reset_after", "return_sequences", "go_backwards", "merge_mode", "layer", "backward_layer", "lora_rank",
              "data_format", "keepdims", "extra"]
places = st.one_of(
    st.tuples(st.just("top"), st.sampled_from(["class_name", "config", "extra"])),
    st.tuples(st.just("body"), st.sampled_from(["layers", "name", "output_layers", "extra"])),
    st.tuples(st.integers(0, 4), st.sampled_from(["class_name", "config", "name", "inbound_nodes"])),
    st.tuples(st.integers(0, 4), st.sampled_from([f"config.{k}" for k in LAYER_KEYS])),
)


def mutate(cfg, place, value):
    where, key = place
    if where == "top":
        target = cfg
    elif where == "body":
        target = cfg.get("config") if isinstance(cfg.get("config"), dict) else None
    else:
        layers = cfg.get("config", {}).get("layers") if isinstance(cfg.get("config"), dict) else None
        target = layers[where] if isinstance(layers, list) and where < len(layers) else None
        if key.startswith("config.") and isinstance(target, dict):
            target, key = target.get("config"), key[len("config."):]
    if not isinstance(target, dict):
        return
    if value == "delete":
        target.pop(key, None)
    else:
        target[key] = value


def outcome(path, vocab):
    try:
        mf = import_any(str(path), vocab)
    except SaliencyError as e:
        assert "\n" not in str(e) and str(e), repr(e)
        return "refused"
    assert np.isfinite(mf.weights["embedding.weight"]).all()
    return "imported"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(places, st.one_of(st.just("delete"), json_values)), min_size=1, max_size=4),
       functional=st.booleans(), legacy=st.booleans())
def test_mutated_configs_import_or_are_refused_in_one_line(mutations, functional, legacy):
    cfg = kf.functional_config() if functional else kf.config()
    for place, value in mutations:
        mutate(cfg, place, value)
    with tempfile.TemporaryDirectory() as d:
        vocab = kf.write_vocab(Path(d) / "v.json")
        try:
            json.dumps(cfg, allow_nan=True)
        except ValueError:
            return
        path = kf.write_legacy_h5(Path(d) / "m.h5", cfg) if legacy else kf.write_keras(Path(d) / "m.keras", cfg)
        outcome(path, vocab)


datasets = st.one_of(
    st.tuples(st.just("shape"), st.lists(st.integers(0, 30), min_size=0, max_size=3)),
    st.tuples(st.just("dtype"), st.sampled_from(["i4", "f2", "f8", "u1", "S3", "c8", "bool"])),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("soft"), st.none()),
    st.tuples(st.just("external"), st.none()),
    st.tuples(st.just("group"), st.none()),
    st.tuples(st.just("nan"), st.none()),
)
targets = st.sampled_from(["layers/embedding/vars/0", "layers/rnn/cell/vars/0", "layers/rnn/cell/vars/1",
                           "layers/rnn/cell/vars/2", "layers/dense/vars/0", "layers/dense/vars/1", "layers/rnn/vars",
                           "layers/dense", "layers"])


def edit(f, target, kind, arg, secret):
    parent, name = target.rsplit("/", 1) if "/" in target else ("/", target)
    if target in f:
        del f[target]
    if kind == "delete":
        return
    if kind == "soft":
        f[target] = h5py.SoftLink("/layers/embedding/vars/0")
    elif kind == "external":
        f.require_group(parent).create_dataset(name, shape=(kf.V, kf.E), dtype="f4", external=[(secret, 0, h5py.h5f.UNLIMITED)])
    elif kind == "group":
        f.require_group(target)
    elif kind == "shape":
        f.require_group(parent).create_dataset(name, data=np.ones(arg, np.float32))
    elif kind == "nan":
        f.require_group(parent).create_dataset(name, data=np.full((kf.V, kf.E), np.nan, np.float32))
    else:
        data = np.ones((kf.V, kf.E)).astype(arg) if arg != "S3" else np.full((kf.V, kf.E), b"abc")
        f.require_group(parent).create_dataset(name, data=data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(targets, datasets), min_size=1, max_size=3))
def test_mutated_hdf5_layouts_import_or_are_refused_and_never_read_outside(edits):
    with tempfile.TemporaryDirectory() as d:
        secret = Path(d) / "passwd"
        secret.write_bytes(b"root:x:0:0:" * 40)

        def extra(f):
            for target, (kind, arg) in edits:
                try:
                    edit(f, target, kind, arg, str(secret))
                except (OSError, ValueError, TypeError, KeyError, RuntimeError):
                    pass  # an edit h5py cannot make (a link under what is now a dataset): the file is built without it

        vocab = kf.write_vocab(Path(d) / "v.json")
        path = kf.write_keras(Path(d) / "m.keras", extra=extra)
        if outcome(path, vocab) == "imported":
            mf = import_any(path, vocab)
            assert not any(b"root:x" in w.tobytes() for w in mf.weights.values())
