"""The part of a Keras model config that the importer reads, checked for structure and types first.

A config is whatever JSON the file holds: a list where an object belongs, a missing key, units
given as "8" or 10**12. Each is refused here in one line that names the key (its path in the
config), so the importer after it reads only values of the types it expects.
"""

from ..errors import ModelError

MAX_LAYERS = 1000
MAX_UNITS = 2**16  # hidden sizes, embedding widths, output units
MAX_INPUT_DIM = 2**24  # vocabulary rows of an Embedding
MAX_NAME = 256

# key -> (what it must be, test). Keys absent from a layer's config are not required here;
# the importer applies Keras' defaults. Keys not listed are not read, so not checked.

def _int_in(low, high):
    return (f"a whole number from {low} to {high:,}",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high)


BOOL = ("true or false", lambda v: isinstance(v, bool))
TEXT = ("a string", lambda v: isinstance(v, str) and len(v) <= MAX_NAME)
TEXT_OR_NULL = ("a string or null", lambda v: v is None or (isinstance(v, str) and len(v) <= MAX_NAME))
OBJECT = ("an object", lambda v: isinstance(v, dict))
OBJECT_OR_NULL = ("an object or null", lambda v: v is None or isinstance(v, dict))
LAYER_KEYS = {
    "name": TEXT, "units": _int_in(1, MAX_UNITS), "input_dim": _int_in(1, MAX_INPUT_DIM),
    "output_dim": _int_in(1, MAX_UNITS), "activation": TEXT, "recurrent_activation": TEXT, "use_bias": BOOL,
    "reset_after": BOOL, "return_sequences": BOOL, "go_backwards": BOOL, "stateful": BOOL, "return_state": BOOL,
    "merge_mode": TEXT_OR_NULL, "data_format": TEXT, "keepdims": BOOL, "mask_zero": BOOL,
    "lora_rank": ("a whole number or null", lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool))),
    "layer": OBJECT, "backward_layer": OBJECT_OR_NULL,
}
REQUIRED = {"Embedding": ("input_dim", "output_dim"), "SimpleRNN": ("units",), "LSTM": ("units",),
            "GRU": ("units",), "Dense": ("units",), "Bidirectional": ("layer",)}


def bad(path: str, what: str, value=None) -> ModelError:
    shown = "" if value is None else f", not {_short(value)}"
    return ModelError(f"model config: {path} must be {what}{shown}")


def _short(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__.replace("dict", "an object") \
        .replace("list", "a list")
    return text if len(text) <= 40 else text[:37] + "..."


def check_config(config) -> None:
    """Refuse, naming the key, a config whose parts the importer reads are not of the right types."""
    if not isinstance(config, dict):
        raise bad("the config", "a JSON object", config)
    _expect(config, "class_name", TEXT, "class_name", required=True)
    body = config.get("config")
    if not isinstance(body, dict):
        raise bad("config", "an object", body)
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise bad("config.layers", "a list of layers", layers)
    if len(layers) > MAX_LAYERS:
        raise bad("config.layers", f"at most {MAX_LAYERS} layers (it has {len(layers):,})")
    for i, layer in enumerate(layers):
        check_layer(layer, f"config.layers[{i}]")
        if "inbound_nodes" in layer and not isinstance(layer["inbound_nodes"], list):
            raise bad(f"config.layers[{i}].inbound_nodes", "a list", layer["inbound_nodes"])
    if "output_layers" in body and not isinstance(body["output_layers"], list):
        raise bad("config.output_layers", "a list", body["output_layers"])


def check_layer(layer, path: str) -> None:
    if not isinstance(layer, dict):
        raise bad(path, "an object", layer)
    _expect(layer, "class_name", TEXT, f"{path}.class_name", required=True)
    _expect(layer, "name", TEXT, f"{path}.name")
    cfg = layer.get("config", {})
    if not isinstance(cfg, dict):
        raise bad(f"{path}.config", "an object", cfg)
    for key, rule in LAYER_KEYS.items():
        _expect(cfg, key, rule, f"{path}.config.{key}", required=key in REQUIRED.get(layer["class_name"], ()))
    if "name" not in layer and "name" not in cfg:
        raise bad(f"{path}.name", "given (a layer needs a name)")
    for inner in ("layer", "backward_layer"):
        if isinstance(cfg.get(inner), dict):
            check_layer(cfg[inner], f"{path}.config.{inner}")


def _expect(obj: dict, key: str, rule, path: str, required=False) -> None:
    if key not in obj:
        if required:
            raise bad(path, "given")
        return
    what, test = rule
    if not test(obj[key]):
        raise bad(path, what, obj[key])
