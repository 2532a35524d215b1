"""Keras files written by hand with h5py and zipfile (no keras): a small valid model, then the
hostile variants of issue 27 built from it. The layouts are the ones keras_file.py reads:
Keras 3 `.keras` (config.json + model.weights.h5 with layers/<name>/[cell/]vars/<i>) and legacy
`.h5` (model_config attribute, model_weights/<layer>/<weight name>).
"""

import json
import zipfile

import h5py
import numpy as np

VOCAB = ["", "the", "film", "was", "great", "awful", "plot", "dull", "superb", "a", "bit"]  # id 0 is padding
V, E, H, OUT = len(VOCAB), 5, 4, 2


def config(units=H, input_dim=V, output_dim=E, cell="LSTM"):
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input"}},
        {"class_name": "Embedding", "config": {"name": "embedding", "input_dim": input_dim, "output_dim": output_dim}},
        {"class_name": cell, "config": {"name": "rnn", "units": units}},
        {"class_name": "Dense", "config": {"name": "dense", "units": OUT, "activation": "softmax"}},
    ]}}


def functional_config():
    """The same model as a functional graph (Keras 3 inbound_nodes)."""
    def tensor(name):
        return {"class_name": "__keras_tensor__", "config": {"shape": [None, None], "keras_history": [name, 0, 0]}}

    layers = [dict(layer, name=layer["config"]["name"]) for layer in config()["config"]["layers"]]
    for prev, layer in zip(layers, layers[1:]):
        layer["inbound_nodes"] = [{"args": [tensor(prev["name"])], "kwargs": {}}]
    return {"class_name": "Functional", "config": {"name": "f", "layers": layers, "input_layers": [["input", 0, 0]],
                                                   "output_layers": [["dense", 0, 0]]}}


def weights(seed=0, units=H):
    rng = np.random.default_rng(seed)
    G = 4
    return {"embedding": [rng.normal(size=(V, E))],
            "rnn": [rng.normal(size=(E, G * units)), rng.normal(size=(units, G * units)), rng.normal(size=G * units)],
            "dense": [rng.normal(size=(units, OUT)), rng.normal(size=OUT)]}


def write_weights_h5(path, arrays=None, extra=None):
    """Keras 3's model.weights.h5; `extra(f)` may add or change anything after the weights are in."""
    arrays = arrays or weights()
    with h5py.File(path, "w") as f:
        for name, values in arrays.items():
            group = f.create_group(f"layers/{name}")
            group.create_group("vars").attrs["name"] = name
            where = group.create_group("cell/vars") if name == "rnn" else group["vars"]
            for i, a in enumerate(values):
                where.create_dataset(str(i), data=np.asarray(a, np.float32))
        if extra:
            extra(f)


def write_keras(path, cfg=None, extra=None, arrays=None, config_bytes=None, members=None):
    """A .keras zip: config.json, metadata.json, model.weights.h5 (+ `members`: {name: bytes})."""
    h5 = str(path) + ".weights.h5"
    write_weights_h5(h5, arrays, extra)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", config_bytes if config_bytes is not None else json.dumps(cfg or config()))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.99"}))
        z.write(h5, "model.weights.h5")
        for name, data in (members or {}).items():
            z.writestr(name, data)
    return str(path)


def write_legacy_h5(path, cfg=None, extra=None, arrays=None):
    arrays = arrays or weights()
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg or config())
        f.attrs["keras_version"] = "2.15"
        top = f.create_group("model_weights")
        top.attrs["layer_names"] = [n.encode() for n in arrays]
        for name, values in arrays.items():
            group = top.create_group(name)
            names = [f"{name}/w{i}" for i in range(len(values))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, a in zip(names, values):
                group.create_dataset(n, data=np.asarray(a, np.float32))
        if extra:
            extra(f)
    return str(path)


def write_vocab(path):
    path.write_text(json.dumps(VOCAB))
    return str(path)


def patch_central_directory(path, name, flag_bits=None, file_size=None):
    """Rewrite one member's entry in the zip's central directory (what zipfile believes)."""
    data = bytearray(open(path, "rb").read())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        n = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + n].decode() == name:
            if flag_bits is not None:
                data[at + 8:at + 10] = flag_bits.to_bytes(2, "little")
            if file_size is not None:
                data[at + 24:at + 28] = file_size.to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    open(path, "wb").write(bytes(data))
