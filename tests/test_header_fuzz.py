"""Property: any mutation of a model file's header loads, or is refused with a ModelError (exit 4).

Starting from a valid tiny model, hypothesis replaces, deletes or adds header fields with any
JSON value (huge integers, floats, strings, nested lists and objects), and may drop or add a
tensor. Whatever loads must also explain a text. Time is not asserted (the machines are shared
and noisy); what keeps each case fast is that nothing is allocated before the header agrees
with the tensor table, which the 10**9-layer cases exercise.
"""

import json
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saliency.modelfile import checkpoint
from saliency.errors import ModelError
from saliency.pipeline import Explainer

from .conftest import tiny_model_file
from .test_model_file import tensors_of, write_raw

BASE = tiny_model_file("gru", layers=2, bidirectional=True)
CONFIG_KEYS = list(BASE.header()["config"])
TOP_KEYS = ["format", "version", "config", "tokenizer", "labels", "info"]
TOKENIZER_KEYS = ["level", "lowercase", "vocab"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**12), max_value=10**12) | st.sampled_from([0, 1, 2, 3, 4, 5, 11, 10**9])
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
places = st.sampled_from([("top", k) for k in TOP_KEYS + ["extra"]] + [("config", k) for k in CONFIG_KEYS + ["extra"]]
                         + [("tokenizer", k) for k in TOKENIZER_KEYS + ["extra"]])
mutation = st.tuples(places, st.one_of(st.just("delete"), json_values))


def mutate(header, place, value):
    where, key = place
    target = header if where == "top" else header.get(where)
    if not isinstance(target, dict):
        return
    if value == "delete":
        target.pop(key, None)
    else:
        target[key] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=4),
       tensor_edit=st.sampled_from(["none", "drop", "add", "bf16"]))
def test_mutated_headers_load_or_are_refused_with_a_model_error(mutations, tensor_edit):
    header = json.loads(json.dumps(BASE.header()))
    for place, value in mutations:
        mutate(header, place, value)
    tensors = tensors_of(BASE)
    if tensor_edit == "drop":
        tensors.pop("head.bias")
    elif tensor_edit == "add":
        tensors["extra"] = ("F32", (1,), b"\0" * 4)
    elif tensor_edit == "bf16":
        tensors["head.bias"] = ("BF16", (3,), b"\0" * 6)
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
        write_raw(f.name, tensors, {"saliency": json.dumps(header)})
        try:
            loaded = checkpoint.load(f.name)
        except ModelError as e:
            assert "\n" not in str(e)
            return
    [result] = Explainer.from_model_file(loaded, engine="numpy").explain(["abc"])
    assert len(result.tokens) == 3 and all(np.isfinite(t.score) for t in result.tokens)
