"""Importing Keras text RNNs from .keras (Keras 3) and legacy .h5 files, with h5py and json only.

Neither keras nor tensorflow is imported: the architecture comes from the saved JSON config,
the weights from the HDF5 datasets. Supported: Embedding, or one-hot input (Input((None, V))
straight into the first recurrent layer) -> one or more SimpleRNN / LSTM / GRU (each optionally
in Bidirectional, concat merge; layers may differ in size and cell type) -> the last state,
GlobalMaxPooling1D or GlobalAveragePooling1D -> hidden Dense layers (relu, tanh, sigmoid,
linear) -> Dense (softmax, sigmoid with one unit, or linear), Dropout anywhere. A tagger: the
last recurrent layer returns sequences straight into TimeDistributed(Dense) or a Dense (which
Keras applies at every step): one label per token. Everything is mapped exactly onto torch's layouts:
- LSTM: Keras' kernel columns are gates i, f, c, o, torch's rows i, f, g, o: the same order.
- GRU (reset_after=True): Keras' z, r, h become torch's r, z, n; bias row 0 is the input
  bias, row 1 the recurrent one, exactly torch's b_i* and b_h* (the reset gate multiplies
  the recurrent part including its bias in both).
- A one-unit sigmoid (or linear) output z becomes two logits (0, z): softmax gives (1 - s, s).
Anything else is refused with one line naming the layer.
"""

import os
import zipfile

import numpy as np

from . import keras_guard
from ..modelfile.checkpoint import ModelFile, sha256
from ..modelfile.config import ACTIVATIONS, ModelConfig
from ..errors import ModelError
from .keras_file import input_width, open_keras_file, read_weights
from .keras_schema import check_config
from .keras_vocab import embedding_rows, one_hot_tokens
from ..tokenize import UNK

CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
NO_OPS = {"InputLayer", "Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout"}
POOLING = {"GlobalMaxPooling1D": "max", "GlobalMaxPool1D": "max", "GlobalAveragePooling1D": "mean",
           "GlobalAvgPool1D": "mean"}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_keras_file(path: str) -> bool:
    """A .keras zip (config.json inside) or an HDF5 file: told by content, not by name."""
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError:
        return False
    if magic == HDF5_MAGIC:
        return True
    if magic[:4] == b"PK\x03\x04":
        try:
            with keras_guard.open_zip(path) as z:
                return "config.json" in z.namelist()
        except ModelError:
            return True  # an unbounded zip: the Keras importer refuses it in one line
        except zipfile.BadZipFile:
            return False
    return False


def import_keras(path: str, vocab: dict, settings: dict = None, labels: list = None, level: str = None,
                 lowercase: bool = None) -> ModelFile:
    """A model file from a Keras model; `vocab` maps Keras ids to tokens and `settings` comes with it
    (keras_vocab.read_vocab); level and lowercase given here win over the settings."""
    settings = settings or {}
    given_level, level = level, level or settings.get("level") or "word"
    lowercase = lowercase if lowercase is not None else settings.get("lowercase") is not False
    with open_keras_file(path) as (config, handles, meta):
        check_config(config)
        layers = chain_of_layers(config)
        spec = read_architecture(layers)
        if spec["embedding"] is None:
            spec["input_width"] = input_width(config, layers)
        layer_weights = read_weights(handles, spec)  # each dataset's shape checked before it is read
    weights = {}
    for k, rnn in enumerate(spec["rnns"]):
        for arrays, suffix in zip(_directions(rnn, layer_weights), ("", "_reverse")):
            weights.update(map_cell(rnn, arrays, k, suffix))
    dense_w, dense_b = _dense(spec, layer_weights)
    weights.update(_hidden_dense(spec, layer_weights))
    if spec["embedding"] is None:  # one-hot: id k is column k, as the author's char_indices numbers it
        tokens, note, width = one_hot_tokens(vocab, spec["input_width"]), None, 0
        level = given_level or settings.get("level") or ("char" if all(len(t) == 1 for t in tokens) else "word")
    else:
        emb = _weights_of(layer_weights, spec["embedding"]["name"], 1)[0]
        tokens, rows, note = embedding_rows(emb, vocab, settings.get("oov"), spec["embedding"]["name"],
                                            settings.get("num_words"))
        weights["embedding.weight"], width = rows, emb.shape[1]
    weights["head.weight"], weights["head.bias"] = dense_w, dense_b
    n_out = len(dense_b)
    if not labels and spec["embedding"] is None and n_out == len(tokens):
        labels = list(tokens)  # a next-character model (keras.io's text generation): its outputs are the characters
    labels = labels or [str(i) for i in range(n_out)]
    if len(labels) != n_out:
        raise ModelError(f"--labels gives {len(labels)} names for {n_out} outputs"
                         + (" (a one-unit output is two classes: 0 and 1)" if spec["binary"] else ""))
    sizes = [r["units"] for r in spec["rnns"]]
    cfg = ModelConfig(spec["cell"], len(tokens), width, sizes, len(sizes), spec["bidirectional"],
                      "tagger" if spec["tagger"] else "classifier", spec["pooling"], n_out, 0.0, spec["nonlinearity"],
                      head_hidden=tuple((int(d["config"]["units"]), d["config"].get("activation", "linear"))
                                        for d in spec["hidden"]))
    from ..tokenize import Tokenizer

    keras_version = meta.get("keras_version", "unknown") if isinstance(meta, dict) else "unknown"
    info = {"task": "tag" if spec["tagger"] else "classify", "imported_from": "keras", "source": os.path.basename(path),
            "source_sha256": sha256(path), "keras_version": str(keras_version)[:40],
            "keras_format": meta["format"], "keras_layers": [f"{l['name']} ({l['class_name']})" for l in layers]}
    if note:
        info["note"] = note
    weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
    split = None
    if level == "word" and "filters" in settings:  # Tokenizer.to_json(): split words exactly as Keras did
        split = {"filters": settings["filters"], "split": settings["split"]}
    elif level == "word":
        info["note"] = "; ".join(filter(None, [info.get("note"), (
            "the vocabulary cannot say how the Keras Tokenizer split words (its filters, split): words are "
            "split as this tool splits them, punctuation apart; pass Tokenizer.to_json() to split as Keras did")]))
    drop = spec["embedding"] is not None and UNK not in tokens  # as texts_to_sequences without an oov_token
    return ModelFile(cfg, Tokenizer(level, tokens, lowercase, split, drop), list(labels), weights, info)


# -- the architecture ---------------------------------------------------------------------------

def _name(layer) -> str:
    return layer.get("name") or layer.get("config", {}).get("name", "?")


def chain_of_layers(config: dict) -> list:
    """The model's layers in order, for a Sequential model or a functional one that is a single chain.
    The config's types were checked (keras_schema); its graph is walked here, refusing loops."""
    kind, body = config.get("class_name"), config.get("config", {})
    layers = body["layers"]
    for layer in layers:
        layer.setdefault("name", _name(layer))
    if kind == "Sequential":
        return [l for l in layers if l["class_name"] != "InputLayer"]
    if kind not in ("Functional", "Model"):
        raise ModelError(f"model class {str(kind)[:40]!r} is not supported (Sequential or functional models only)")
    by_name = {l["name"]: l for l in layers}
    if len(by_name) != len(layers):
        raise ModelError("model config: two layers share a name")
    outputs = body.get("output_layers", [])
    outputs = [outputs] if outputs and isinstance(outputs[0], str) else outputs
    if len(outputs) != 1:
        raise ModelError(f"a functional model with {len(outputs)} outputs is not supported (one output only)")
    chain, current = [], _layer_named(by_name, _first(outputs[0], "config.output_layers"), "config.output_layers")
    seen = set()
    while current["class_name"] != "InputLayer":
        if current["name"] in seen:  # a loop in the graph: it would be walked for ever
            raise ModelError(f"layer {current['name']!r} feeds itself (a loop in the layer graph)")
        seen.add(current["name"])
        chain.append(current)
        sources = _inbound_names(current)
        if len(sources) != 1:
            raise ModelError(f"layer {current['name']!r} ({current['class_name']}) has {len(sources)} inputs; "
                             "only a single chain of layers is supported")
        current = _layer_named(by_name, sources[0], f"inbound_nodes of layer {current['name']!r}")
    on_chain = {l["name"] for l in chain} | {current["name"]}
    # Off the chain, only the mask that Embedding(mask_zero=True) adds (NotEqual(ids, 0)) is allowed.
    for layer in layers:
        if layer["name"] not in on_chain and layer["class_name"] != "NotEqual":
            raise ModelError(f"layer {layer['name']!r} ({layer['class_name']}) is off the main chain; "
                             "only a single chain of layers is supported")
    return chain[::-1]


def _first(value, where):
    if not isinstance(value, list) or not value:
        raise ModelError(f"model config: {where} must hold [layer name, node, tensor] entries")
    return value[0]


def _layer_named(by_name, name, where):
    if not isinstance(name, str) or name not in by_name:
        raise ModelError(f"model config: {where} names a layer that is not in the model ({str(name)[:40]!r})")
    return by_name[name]


def _inbound_names(layer) -> list:
    """Names of the layers feeding a layer's positional inputs (Keras 3 and Keras 2 configs)."""
    nodes = layer.get("inbound_nodes", [])
    if len(nodes) > 1:
        return ["?"] * len(nodes)  # a shared layer called twice
    names = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [keras tensors], "kwargs": {... "mask": ...}}
            _histories(node.get("args", []), names)
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names += [_first(entry, f"inbound_nodes of layer {layer['name']!r}") for entry in node]
        else:
            raise ModelError(f"model config: inbound_nodes of layer {layer['name']!r} must hold lists or objects")
    return names


def _histories(value, names):
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history") if isinstance(value.get("config"), dict) else None
            names.append(_first(history, "a keras tensor's keras_history"))
        return
    if isinstance(value, list):
        for v in value:
            _histories(v, names)


def read_architecture(layers: list) -> dict:
    """What the chain of layers says, refusing with the layer's name what cannot be mapped exactly."""
    spec = {"rnns": [], "pooling": None, "embedding": None, "dense": None, "binary": False, "hidden": [],
            "one_hot": False}
    denses = []
    for layer in layers:
        cls, cfg, name = layer["class_name"], layer.get("config", {}), layer["name"]
        where = f"layer {name!r} ({cls})"
        if denses and cls not in NO_OPS and cls not in ("Dense", "TimeDistributed"):
            raise ModelError(f"{where} after a Dense layer is not supported (Dense layers end the model)")
        if cls in NO_OPS:
            continue
        if cls == "Embedding":
            if spec["embedding"] is not None:
                raise ModelError(f"{where}: a second Embedding is not supported")
            if cfg.get("lora_rank"):
                raise ModelError(f"{where}: LoRA embeddings are not supported")
            spec["embedding"] = layer
        elif cls in ("TextVectorization", "StringLookup", "IntegerLookup", "Hashing"):
            raise ModelError(f"{where}: its vocabulary is not read from the file; build the model from the "
                             "Embedding on and pass --vocab (the layer's get_vocabulary(), one token per line)")
        elif spec["embedding"] is None and not spec["rnns"] and (cls in CELLS or cls == "Bidirectional"):
            spec["one_hot"] = True  # Input((None, V)) straight into the recurrent layer: one-hot vectors
            spec["rnns"].append(_recurrent(layer, where))
        elif spec["embedding"] is None and not spec["one_hot"]:
            raise ModelError(f"{where} comes first; the model must start with an Embedding or a recurrent layer "
                             "over one-hot vectors")
        elif cls in CELLS or cls == "Bidirectional":
            if spec["pooling"] is not None:
                raise ModelError(f"{where} after pooling is not supported")
            spec["rnns"].append(_recurrent(layer, where))
        elif cls in POOLING:
            if not spec["rnns"] or spec["pooling"] is not None or not spec["rnns"][-1]["sequences"]:
                raise ModelError(f"{where} must follow a recurrent layer with return_sequences=True")
            if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("keepdims"):
                raise ModelError(f"{where}: only channels_last without keepdims is supported")
            spec["pooling"] = POOLING[cls]
        elif cls == "Dense":
            denses.append((layer, where))
        elif cls == "TimeDistributed":  # a per-step Dense: a tagger's head
            inner = cfg.get("layer", {})
            if inner.get("class_name") != "Dense":
                raise ModelError(f"{where}: wraps {inner.get('class_name')}, not Dense")
            if not spec["rnns"] or spec["pooling"] is not None or not spec["rnns"][-1]["sequences"]:
                raise ModelError(f"{where} must follow a recurrent layer with return_sequences=True")
            denses.append(({"class_name": "Dense", "name": name, "config": inner.get("config", {})}, where))
        else:
            raise ModelError(f"{where} is not supported (supported: Embedding, SimpleRNN, LSTM, GRU, Bidirectional, "
                             "GlobalMax/AveragePooling1D, Dropout, Dense)")
    for layer, where in denses[:-1]:  # hidden layers of the head, before the output Dense
        activation = layer.get("config", {}).get("activation", "linear")
        if activation not in ACTIVATIONS:
            raise ModelError(f"{where}: a hidden Dense layer's activation {activation!r} is not supported "
                             f"({', '.join(ACTIVATIONS)})")
        spec["hidden"].append(layer)
    if denses:
        spec["dense"] = _dense_spec(*denses[-1], spec)
    return _check_stack(spec, layers)


def _check_stack(spec, layers):
    rnns = spec["rnns"]
    if not rnns:
        raise ModelError("the model needs at least one SimpleRNN, LSTM or GRU layer")
    if spec["dense"] is None:
        raise ModelError(f"the model must end with a Dense output layer (it ends with {layers[-1]['name']!r})")
    for rnn in rnns:
        where = f"layer {rnn['name']!r}"
        if (rnn["bidirectional"], rnn["nonlinearity"]) != (rnns[0]["bidirectional"], rnns[0]["nonlinearity"]):
            first = rnns[0]
            raise ModelError(f"{where} ({'bi' if rnn['bidirectional'] else 'uni'}directional, "
                             f"{rnn['nonlinearity']}) after {first['name']!r} ("
                             f"{'bi' if first['bidirectional'] else 'uni'}directional, {first['nonlinearity']}): "
                             "this tool's model runs one direction and one activation through a stack (cell types "
                             "and sizes may differ)")
        if rnn is not rnns[-1] and not rnn["sequences"]:
            raise ModelError(f"{where} feeds another recurrent layer, so it needs return_sequences=True")
    spec["tagger"] = spec["pooling"] is None and rnns[-1]["sequences"]  # Dense at every step: one label each
    if spec["tagger"] and spec["hidden"]:
        raise ModelError(f"layer {spec['hidden'][0]['name']!r} (Dense): hidden Dense layers before a tagger's "
                         "per-step output are not supported (before a classifier's, they are)")
    if spec["pooling"] is None:
        spec["pooling"] = "last"
    spec.update(cell=tuple(r["cell"] for r in rnns), bidirectional=rnns[0]["bidirectional"],
                nonlinearity=rnns[0]["nonlinearity"])
    return spec


def _recurrent(layer, where) -> dict:
    cfg, bidirectional = layer.get("config", {}), layer["class_name"] == "Bidirectional"
    if bidirectional:
        if cfg.get("merge_mode", "concat") != "concat":
            raise ModelError(f"{where}: merge_mode {cfg.get('merge_mode')!r} is not supported (concat only)")
        inner = cfg["layer"]
        backward = cfg.get("backward_layer")
        if backward and _cell_options(backward) != _cell_options(inner):
            raise ModelError(f"{where}: a backward layer unlike the forward one is not supported")
        if inner["class_name"] not in CELLS:
            raise ModelError(f"{where}: wraps {inner['class_name']}, not SimpleRNN, LSTM or GRU")
    else:
        inner = layer
    icfg, cls = inner.get("config", {}), inner["class_name"]
    for option in ("go_backwards", "stateful", "return_state"):
        if icfg.get(option):
            raise ModelError(f"{where}: {option}=True is not supported")
    activation = icfg.get("activation", "tanh")
    if cls == "SimpleRNN":
        if activation not in ("tanh", "relu"):
            raise ModelError(f"{where}: activation {activation!r} is not supported (tanh or relu)")
    else:
        if activation != "tanh":
            raise ModelError(f"{where}: activation {activation!r} is not supported (tanh only)")
        if icfg.get("recurrent_activation", "sigmoid") != "sigmoid":
            raise ModelError(f"{where}: recurrent_activation {icfg.get('recurrent_activation')!r} is not supported "
                             "(sigmoid only; torch's gates have no hard_sigmoid)")
    if cls == "GRU" and not icfg.get("reset_after", True):
        raise ModelError(f"{where}: reset_after=False is not supported (torch's GRU applies the reset gate "
                         "after the recurrent product, as Keras' default reset_after=True)")
    return {"name": layer["name"], "cell": CELLS[cls], "units": int(icfg["units"]), "bidirectional": bidirectional,
            "nonlinearity": activation if cls == "SimpleRNN" else "tanh", "use_bias": icfg.get("use_bias", True),
            "sequences": bool(icfg.get("return_sequences", False))}


def _cell_options(layer) -> tuple:
    c = layer.get("config", {})
    return (layer["class_name"], c.get("units"), c.get("activation"), c.get("recurrent_activation"),
            c.get("use_bias", True), c.get("reset_after"), c.get("return_sequences"))


def _directions(rnn, layer_weights) -> list:
    """One list of arrays per direction: Bidirectional layers hold a forward and a backward list."""
    name, arrays = rnn["name"], layer_weights.get(rnn["name"])
    if rnn["bidirectional"]:
        if not (isinstance(arrays, list) and len(arrays) == 2 and all(isinstance(a, list) for a in arrays)):
            raise ModelError(f"layer {name!r}: the file has no forward and backward weights for it")
        return [_checked(name, a, 2) for a in arrays]
    return [_weights_of(layer_weights, name, 2)]


def _weights_of(layer_weights, name, at_least) -> list:
    return _checked(name, layer_weights.get(name), at_least)


def _checked(name, arrays, at_least) -> list:
    if not isinstance(arrays, list) or len(arrays) < at_least or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ModelError(f"layer {name!r}: its weights are missing from the file")
    for a in arrays:
        if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
            raise ModelError(f"layer {name!r}: weights that are not finite floating-point numbers")
    return arrays


def _dense_spec(layer, where, spec) -> dict:
    cfg = layer.get("config", {})
    activation, units = cfg.get("activation", "linear"), int(cfg.get("units", 0))
    if activation == "sigmoid" and units != 1:
        raise ModelError(f"{where}: sigmoid over {units} units (multi-label) is not supported; "
                         "softmax, or sigmoid with one unit")
    if activation not in ("softmax", "sigmoid", "linear"):
        raise ModelError(f"{where}: activation {activation!r} is not supported (softmax, sigmoid, linear)")
    spec["binary"] = units == 1
    return layer


def _dense(spec, layer_weights):
    layer = spec["dense"]
    arrays = _weights_of(layer_weights, layer["name"], 1)
    kernel = arrays[0]
    bias = arrays[1] if layer.get("config", {}).get("use_bias", True) else np.zeros(kernel.shape[1])
    rnn = spec["rnns"][-1]
    expected = rnn["units"] * (2 if rnn["bidirectional"] else 1)
    if spec["hidden"]:
        expected = int(spec["hidden"][-1]["config"]["units"])
    if kernel.ndim != 2 or kernel.shape[0] != expected:
        raise ModelError(f"layer {layer['name']!r}: kernel of shape {kernel.shape}, expected ({expected}, units)")
    if spec["binary"]:  # one unit z: logits (0, z), so softmax gives (1 - sigmoid(z), sigmoid(z))
        return np.concatenate([np.zeros_like(kernel.T), kernel.T]), np.concatenate([[0.0], bias])
    return kernel.T, bias


def _hidden_dense(spec, layer_weights) -> dict:
    """The hidden Dense layers as the model file's head_hidden.k tensors (torch's (out, in) layout)."""
    out = {}
    for k, layer in enumerate(spec["hidden"]):
        arrays = _weights_of(layer_weights, layer["name"], 1)
        kernel = arrays[0]
        bias = arrays[1] if layer.get("config", {}).get("use_bias", True) else np.zeros(kernel.shape[1])
        out[f"head_hidden.{k}.weight"], out[f"head_hidden.{k}.bias"] = kernel.T, bias
    return out


def map_cell(rnn, arrays, k, suffix) -> dict:
    """Keras (kernel, recurrent kernel[, bias]) of one direction -> torch's four tensors of layer k."""
    H, cell = rnn["units"], rnn["cell"]
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    kernel, recurrent = arrays[0], arrays[1]
    bias = arrays[2] if rnn["use_bias"] and len(arrays) > 2 else np.zeros((2, G * H) if cell == "gru" else G * H)
    if kernel.ndim != 2 or kernel.shape[1] != G * H or recurrent.shape != (H, G * H):
        raise ModelError(f"layer {rnn['name']!r}: kernel {kernel.shape} / recurrent kernel {recurrent.shape} do not "
                         f"fit {H} units")
    w_ih, w_hh = kernel.T, recurrent.T
    b_hh = np.zeros(G * H)
    if cell == "gru":
        if bias.shape != (2, G * H):
            raise ModelError(f"layer {rnn['name']!r}: GRU bias of shape {bias.shape}, expected (2, {G * H})")
        bias, b_hh = bias[0], bias[1]
        order = np.concatenate([np.arange(H, 2 * H), np.arange(H), np.arange(2 * H, 3 * H)])  # z,r,h -> r,z,n
        w_ih, w_hh, bias, b_hh = w_ih[order], w_hh[order], bias[order], b_hh[order]
    prefix = f"rnn.{{}}_l{k}{suffix}"
    return {prefix.format("weight_ih"): w_ih, prefix.format("weight_hh"): w_hh,
            prefix.format("bias_ih"): bias.reshape(-1), prefix.format("bias_hh"): b_hh}
