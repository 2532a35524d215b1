"""Issue 27's table of hostile Keras files, vocabularies and output paths, through the console
script under a 2 GB address-space cap: each is one stderr line, its documented exit code, no
traceback, and nothing of another file in any output. Files are built with h5py (tests/keras_files.py).
"""

import json
import os
import zipfile
from dataclasses import dataclass
from typing import Callable

import h5py
import numpy as np
import pytest

from . import keras_files as kf
from .hostile import assert_error, run

SECRET = "root:x:0:0:root:/root:/bin/bash\n" * 20  # stands for /etc/passwd: a file the model must not read


def external_storage(f):
    """The embedding's data kept in a local file: h5py would read the file's bytes as weights."""
    del f["layers/embedding/vars/0"]
    f["layers/embedding/vars"].create_dataset("0", shape=(kf.V, kf.E), dtype="f4",
                                              external=[(os.environ["SECRET_FILE"], 0, kf.V * kf.E * 4)])


def external_link(f):
    del f["layers/embedding/vars/0"]
    f["layers/embedding/vars/0"] = h5py.ExternalLink(os.environ["OTHER_H5"], "/secret")


def soft_link(f):
    f["layers/embedding/vars/1"] = h5py.SoftLink("/layers/dense/vars/0")


def virtual(f):
    layout = h5py.VirtualLayout(shape=(kf.V, kf.E), dtype="f4")
    layout[:] = h5py.VirtualSource(os.environ["OTHER_H5"], "secret", shape=(kf.V, kf.E))
    del f["layers/embedding/vars/0"]
    f["layers/embedding/vars"].create_virtual_dataset("0", layout)


def hard_link_loop(f):
    """A group linked into itself: walked once, then the model imports."""
    f["layers/embedding/loop"] = f["layers/embedding"]


def huge_declared(f):
    del f["layers/embedding/vars/0"]
    f["layers/embedding/vars"].create_dataset("0", shape=(20000, 20000), dtype="f4")  # 1.6 GB, never written


def int_weights(f):
    del f["layers/dense/vars/1"]
    f["layers/dense/vars"].create_dataset("1", data=np.arange(kf.OUT))


def self_loop():
    cfg = kf.functional_config()
    dense = cfg["config"]["layers"][-1]
    dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["dense", 0, 0]
    return cfg


def two_step_loop():
    cfg = kf.functional_config()
    layers = cfg["config"]["layers"]
    layers[1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["dense", 0, 0]  # embedding <- dense
    return cfg


def with_layer(index, **changes):
    cfg = kf.config()
    cfg["config"]["layers"][index]["config"].update(changes)
    return cfg


def without(index, key):
    cfg = kf.config()
    del cfg["config"]["layers"][index]["config"][key]
    return cfg


def many_members():
    return {f"assets/{i}": b"" for i in range(100)}


@dataclass
class Case:
    name: str
    make: Callable  # tmp_path -> the import command's arguments
    code: int
    says: str


def keras(tmp_path, **kw):
    return [kf.write_keras(tmp_path / "m.keras", **kw), "--vocab", kf.write_vocab(tmp_path / "v.json")]


def legacy(tmp_path, **kw):
    return [kf.write_legacy_h5(tmp_path / "m.h5", **kw), "--vocab", kf.write_vocab(tmp_path / "v.json")]


def patched(tmp_path, member, **patch):
    args = keras(tmp_path)
    kf.patch_central_directory(args[0], member, **patch)
    return args


def bzip2_member(tmp_path):
    args = keras(tmp_path)
    path = tmp_path / "bz.keras"
    with zipfile.ZipFile(args[0]) as z, zipfile.ZipFile(path, "w") as w:
        for item in z.namelist():
            w.writestr(item, z.read(item), compress_type=zipfile.ZIP_BZIP2 if item == "config.json" else None)
    return [str(path)] + args[1:]


def vocab_case(text=None, special=None):
    def make(tmp_path):
        args = keras(tmp_path)
        path = tmp_path / "vocab.txt"
        if special == "fifo":
            os.mkfifo(path)
        elif special == "/dev/zero":
            pass
        elif special == "sparse":
            with open(path, "wb") as f:
                f.truncate(300 * 2**20)  # 300 MB of zero bytes, costing no disk
        else:
            path.write_text(text)
        return args[:2] + [special if special == "/dev/zero" else str(path)]
    return make


def output_is(which):
    def make(tmp_path):
        args = keras(tmp_path)
        link = tmp_path / "link.keras"
        link.symlink_to(args[0])
        if which == "symlink-source":
            return [str(link), "--vocab", args[2], "-o", args[0]]
        if which == "source-via-symlink":
            return args + ["-o", str(link)]
        return args + ["-o", args[2]]  # the vocabulary
    return make


TOKENIZER = {"class_name": "Tokenizer", "config": {"word_index": "{not json", "oov_token": None}}
CASES = [
    Case("external storage (/etc/passwd)", lambda p: keras(p, extra=external_storage), 4, "keeps its data in another file"),
    Case("external storage, legacy .h5", lambda p: legacy(p, extra=lambda f: external_storage_legacy(f)), 4,
         "keeps its data in another file"),
    Case("external link", lambda p: keras(p, extra=external_link), 4, "external link"),
    Case("soft link", lambda p: keras(p, extra=soft_link), 4, "SoftLink"),
    Case("virtual dataset", lambda p: keras(p, extra=virtual), 4, "virtual"),
    Case("declared (20000, 20000) dataset", lambda p: keras(p, extra=huge_declared), 4,
         "shape (20000, 20000), expected (11, 5)"),
    Case("config declares 400M weights", lambda p: keras(p, cfg=with_layer(1, input_dim=20000, output_dim=20000)), 4,
         "declares 400,320,090 weights"),
    Case("output_dim over the limit", lambda p: keras(p, cfg=with_layer(1, output_dim=10**12)), 4,
         "config.layers[1].config.output_dim must be a whole number from 1 to 65,536"),
    Case("config declares 16M x 4096 embedding", lambda p: keras(p, cfg=with_layer(1, input_dim=2**24, output_dim=4096)),
         4, "weights (at most"),
    Case("integer weights", lambda p: keras(p, extra=int_weights), 4, "not floating point"),
    Case("functional self-loop", lambda p: keras(p, cfg=self_loop()), 4, "feeds itself"),
    Case("functional two-layer loop", lambda p: keras(p, cfg=two_step_loop()), 4, "loop in the layer graph"),
    Case("config is a list", lambda p: keras(p, cfg=None, config_bytes="[1, 2]"), 4, "must be a JSON object"),
    Case("config nested 100,000 deep", lambda p: keras(p, config_bytes="[" * 100_000 + "]" * 100_000), 4,
         "nested more than 64"),
    Case("config with a 5,000-digit number", lambda p: keras(p, config_bytes='{"a": ' + "9" * 5000 + "}"), 4,
         "4,300"),
    Case("missing units", lambda p: keras(p, cfg=without(2, "units")), 4, "config.layers[2].config.units must be given"),
    Case("units as a string", lambda p: keras(p, cfg=with_layer(2, units="4")), 4,
         "config.layers[2].config.units must be a whole number"),
    Case("layers not a list", lambda p: keras(p, config_bytes='{"class_name": "Sequential", "config": {"layers": 7}}'),
         4, "config.layers must be a list"),
    Case("legacy config is a list", lambda p: legacy(p, extra=lambda f: f.attrs.modify("model_config", "[]")), 4,
         "must be a JSON object"),
    Case("encrypted member", lambda p: patched(p, "config.json", flag_bits=1), 4, "encrypted"),
    Case("3 GB declared config", lambda p: patched(p, "config.json", file_size=3 * 2**30), 4, "declares"),
    Case("bzip2 member", bzip2_member, 4, "compression method 12"),
    Case("100 zip members", lambda p: keras(p, members=many_members()), 4, "entries"),
    Case("vocabulary /dev/zero", vocab_case(special="/dev/zero"), 3, "not a regular file"),
    Case("vocabulary FIFO", vocab_case(special="fifo"), 3, "not a regular file"),
    Case("vocabulary of 300 MB", vocab_case(special="sparse"), 3, "at most"),
    Case("broken Tokenizer JSON", vocab_case(json.dumps(TOKENIZER)), 3, "word_index is not usable JSON"),
    Case("Tokenizer config a list", vocab_case('{"class_name": "Tokenizer", "config": []}'), 3, "not an object"),
    Case("Tokenizer num_words a string", vocab_case(json.dumps(
        {"class_name": "Tokenizer", "config": {"word_index": {"the": 1}, "num_words": "9"}})), 3, "num_words"),
    Case("vocabulary nested deep", vocab_case("[" * 5000 + "]" * 5000), 3, "nested more than"),
    Case("vocabulary with a 5,000-digit id", vocab_case('{"the": ' + "1" * 5000 + "}"), 3, "4,300"),
    Case("-o a symlink's target (the source)", output_is("symlink-source"), 2, "is the source model"),
    Case("-o a symlink to the source", output_is("source-via-symlink"), 2, "is the source model"),
    Case("-o the vocabulary", output_is("vocab"), 2, "is the vocabulary"),
]


def external_storage_legacy(f):
    group = f["model_weights/embedding"]
    del group["embedding/w0"]
    group.create_dataset("embedding/w0", shape=(kf.V, kf.E), dtype="f4",
                         external=[(os.environ["SECRET_FILE"], 0, kf.V * kf.E * 4)])


@pytest.fixture
def secrets(tmp_path, monkeypatch):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["secret"] = np.frombuffer(SECRET.encode()[:kf.V * kf.E * 4], np.float32).reshape(kf.V, kf.E)
    monkeypatch.setenv("SECRET_FILE", str(secret))
    monkeypatch.setenv("OTHER_H5", str(other))
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_keras_inputs_are_one_line_and_their_exit_code(secrets, case):
    args = case.make(secrets)
    out = secrets / "out.safetensors"
    if "-o" not in args:
        args += ["-o", str(out)]
    before = {p: open(p, "rb").read() for p in args if os.path.isfile(p) and not p.endswith(".safetensors")}
    result = run(["import", *args], memory_gb=2.0, timeout=60)
    assert_error(result, case.code, case.says)
    assert not out.exists()
    assert not [p for p in os.listdir(secrets) if p.endswith(".tmp")]
    for path, data in before.items():  # no input was replaced
        assert open(path, "rb").read() == data, path
    assert b"root:x" not in result.stdout + result.stderr


def test_the_hand_built_files_import_and_a_hard_link_loop_is_walked_once(tmp_path):
    """The valid models the cases start from import (.keras, legacy .h5, functional), so each refusal
    above is the hostile part's; a group hard-linked into itself is visited once, not for ever."""
    vocab = kf.write_vocab(tmp_path / "v.json")
    for i, (path, fmt) in enumerate([(kf.write_keras(tmp_path / "a.keras"), ".keras"),
                                     (kf.write_legacy_h5(tmp_path / "a.h5"), "legacy .h5"),
                                     (kf.write_keras(tmp_path / "f.keras", cfg=kf.functional_config()), ".keras"),
                                     (kf.write_keras(tmp_path / "l.keras", extra=hard_link_loop), ".keras")]):
        out = tmp_path / f"{i}.safetensors"
        result = run(["import", path, "--vocab", vocab, "-o", out], memory_gb=2.0, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        assert fmt in result.stderr.decode()
        from saliency.modelfile import checkpoint
        mf = checkpoint.load(str(out))
        first = 1 if mf.tokenizer.unk_id is None else 2  # rows after <pad> (and <unk>, where Keras has one)
        np.testing.assert_array_equal(mf.weights["embedding.weight"][first:],
                                      kf.weights()["embedding"][0][1:].astype(np.float32))
