"""A model write stopped by SIGTERM or Ctrl-C leaves the old file, no temp file, and says so."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from saliency.modelfile import checkpoint

from .conftest import tiny_model_file


def stopping_writer(signum):
    """A save_file that writes half a file, then receives `signum` (as a user's kill or Ctrl-C)."""
    def save_file(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)
        os.kill(os.getpid(), signum)
    return save_file


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path, monkeypatch, signum, code):
    import safetensors.numpy

    path = tmp_path / "m.safetensors"
    checkpoint.save(tiny_model_file("gru"), str(path))
    old = path.read_bytes()
    monkeypatch.setattr(safetensors.numpy, "save_file", stopping_writer(signum))
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(checkpoint.Interrupted) as stopped:
        checkpoint.save(tiny_model_file("lstm"), str(path))
    assert stopped.value.exit_code == code and str(stopped.value) == f"{path} was not changed"
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert signal.getsignal(signal.SIGTERM) is handler  # restored after the write


def test_the_command_says_the_file_was_kept_and_exits_143(tmp_path):
    """`saliency import` through the CLI's error handling, with the write stopped by SIGTERM."""
    from .keras_files import write_keras, write_vocab

    model, vocab, out = write_keras(tmp_path / "k.keras"), write_vocab(tmp_path / "v.json"), tmp_path / "o.safetensors"
    out.write_bytes(b"old")
    code = ("import os, signal, sys, safetensors.numpy\n"
            "def stop(t, p, metadata=None):\n    open(p, 'wb').write(b'x' * 9999); os.kill(os.getpid(), signal.SIGTERM)\n"
            "safetensors.numpy.save_file = stop\n"
            "from cli import main\n"
            f"sys.argv = ['saliency', 'import', '{model}', '--vocab', '{vocab}', '-o', '{out}']\nmain()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("SALIENCY_DEBUG", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 143, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"interrupted: {out} was not changed"
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == sorted(["k.keras", "k.keras.weights.h5", "v.json", "o.safetensors"])
