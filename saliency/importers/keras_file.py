"""Reading a Keras file's config and weights (keras_model.py makes the model from them).

The file is opened through keras_guard's bounds and its whole HDF5 tree is checked before
anything else; datasets are handed out unread and read (read_weights) only once the
architecture says what shape each must have.
"""

import math
import zipfile
from contextlib import ExitStack, contextmanager

from . import keras_guard
from ..errors import ModelError


@contextmanager
def open_keras_file(path: str):
    """(model config, {layer name: [datasets in Keras' weight order, or per-direction lists]}, meta),
    the datasets unread: the file's whole HDF5 tree has been checked (keras_guard.check_tree)."""
    import h5py

    with ExitStack() as stack:
        try:
            if zipfile.is_zipfile(path):
                z = stack.enter_context(keras_guard.open_zip(path))
                names = z.namelist()
                if "config.json" not in names or "model.weights.h5" not in names:
                    raise ModelError(f"{path} is a zip but not a .keras model (no config.json and model.weights.h5)")
                config = keras_guard.read_json_member(z, "config.json", path)
                meta = keras_guard.read_json_member(z, "metadata.json", path) if "metadata.json" in names else {}
                meta = {**meta, "format": ".keras"} if isinstance(meta, dict) else {"format": ".keras"}
                keras_guard.zip_member(z, "model.weights.h5", keras_guard.MAX_WEIGHTS_BYTES, path)
                f = stack.enter_context(h5py.File(stack.enter_context(z.open("model.weights.h5")), "r"))
                keras_guard.check_tree(f)
                handles = _keras3_weights(f)
            else:
                f = stack.enter_context(h5py.File(path, "r"))
                keras_guard.check_tree(f)
                if "model_config" not in f.attrs:
                    raise ModelError(f"{path} holds weights only (no model_config); save the whole model with "
                                     "model.save('model.keras') or model.save('model.h5')")
                raw = _text(keras_guard.small_attribute(f, "model_config", limit=keras_guard.MAX_CONFIG_BYTES))
                config = keras_guard.json_value(raw, f"{path}: model_config")
                meta = {"keras_version": _text(keras_guard.small_attribute(f, "keras_version", "unknown")),
                        "format": "legacy .h5"}
                handles = _legacy_weights(f["model_weights"] if "model_weights" in f else f)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, zipfile.BadZipFile) as e:
            if isinstance(e, ModelError):
                raise
            raise ModelError(f"{path} is not a readable Keras model ({_one_line(e)})") from None
        yield config, handles, meta


def _one_line(e) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text.encode("unicode_escape").decode("ascii")[:100]


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _keras3_weights(f) -> dict:
    """Keras 3 stores layers/<class_snake>[_n]/vars/<i>; each vars group carries the layer's name."""
    import h5py

    weights = {}
    layers = f.get("layers")
    for group in (layers.values() if isinstance(layers, h5py.Group) else []):
        if not isinstance(group, h5py.Group):
            continue
        name = _text(keras_guard.small_attribute(group["vars"], "name", "")) if "vars" in group else ""
        if "forward_layer" in group and "backward_layer" in group:  # Bidirectional: one list per direction
            weights[name] = [_vars_below(group["forward_layer"]), _vars_below(group["backward_layer"])]
        else:
            weights[name] = _vars_below(group)
    return weights


def _vars_below(group) -> list:
    """The layer's own vars, then its cell's (an RNN keeps kernel, recurrent kernel, bias in its cell)
    or its wrapped layer's (TimeDistributed keeps the Dense's kernel and bias there)."""
    import h5py

    datasets = []
    for sub in (group, group.get("cell"), group.get("layer")):
        if isinstance(sub, h5py.Group) and isinstance(sub.get("vars"), h5py.Group):
            v = sub["vars"]
            keys = sorted((k for k in v if k.isdigit()), key=int)
            datasets += [v[k] for k in keys]
    return datasets


def _legacy_weights(f) -> dict:
    weights = {}
    for name in keras_guard.small_attribute(f, "layer_names", []):
        name = _text(name)
        if name not in f:
            continue  # reported as missing weights if the architecture needs the layer
        group = f[name]
        names = [_text(n) for n in keras_guard.small_attribute(group, "weight_names", [])]
        datasets = [group.get(n) for n in names]
        if any("backward" in n for n in names):  # Bidirectional: forward weights first, then backward
            half = len(datasets) // 2
            weights[name] = [datasets[:half], datasets[half:]]
        else:
            weights[name] = datasets
    return weights


def read_weights(handles: dict, spec: dict) -> dict:
    """{layer name: arrays} for the layers the architecture uses, each dataset read only once its
    declared shape is the one the config implies, and all of them within keras_guard.MAX_ELEMENTS."""
    expected = expected_shapes(spec)
    total = sum(math.prod(shape) for _, shapes, _ in expected for shape in shapes)
    if total > keras_guard.MAX_ELEMENTS:
        raise ModelError(f"the model declares {total:,} weights (at most {keras_guard.MAX_ELEMENTS:,})")
    arrays = {}
    for name, shapes, bidirectional in expected:
        found = handles.get(name)
        if bidirectional:
            if not (isinstance(found, list) and len(found) == 2 and all(isinstance(d, list) for d in found)):
                raise ModelError(f"layer {name!r}: the file has no forward and backward weights for it")
            arrays[name] = [_read_layer(name, d, shapes) for d in found]
        else:
            arrays[name] = _read_layer(name, found, shapes)
    return arrays


def _read_layer(name, datasets, shapes) -> list:
    if not isinstance(datasets, list) or len(datasets) < len(shapes):
        raise ModelError(f"layer {name!r}: its weights are missing from the file")
    return [keras_guard.read(ds, shape, f"layer {name!r}") for ds, shape in zip(datasets, shapes)]


def expected_shapes(spec) -> list:
    """[(layer name, [weight shapes in Keras' order], bidirectional)] as the config says them."""
    if spec["embedding"] is None:  # one-hot input straight into the first recurrent layer
        width, out = spec["input_width"], []
    else:
        ecfg = spec["embedding"].get("config", {})
        width = ecfg["output_dim"]
        out = [(spec["embedding"]["name"], [(ecfg["input_dim"], width)], False)]
    for rnn in spec["rnns"]:
        H, G = rnn["units"], {"rnn": 1, "lstm": 4, "gru": 3}[rnn["cell"]]
        shapes = [(width, G * H), (H, G * H)]
        if rnn["use_bias"]:
            shapes.append((2, G * H) if rnn["cell"] == "gru" else (G * H,))
        out.append((rnn["name"], shapes, rnn["bidirectional"]))
        width = H * (2 if rnn["bidirectional"] else 1)
    for layer in spec.get("hidden", []) + [spec["dense"]]:  # hidden Dense layers, then the output one
        dense = layer.get("config", {})
        units = dense["units"]
        out.append((layer["name"], [(width, units)] + ([(units,)] if dense.get("use_bias", True) else []), False))
        width = units
    return out


def input_width(config: dict, layers: list) -> int:
    """V of a one-hot model: the last dimension of its input shape (the InputLayer's batch_shape,
    or the first layer's batch_input_shape in a Keras 2 Sequential config)."""
    body = config.get("config", {})
    candidates = [l.get("config", {}) for l in body.get("layers", []) if l.get("class_name") == "InputLayer"]
    candidates += [layers[0].get("config", {})] if layers else []
    for cfg in candidates:
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if isinstance(shape, list) and len(shape) == 3 and isinstance(shape[-1], int) and 0 < shape[-1] <= 2**20:
            return shape[-1]
    raise ModelError("a model without an Embedding must take one-hot vectors: its input shape (None, V) "
                     "is not in the config")
