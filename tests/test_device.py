"""--device: a clear error without CUDA; with CUDA, the same scores as the CPU (cuDNN off for backward)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliency.cli import app

from .conftest import explainer64, tiny_model_file

runner = CliRunner()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_usage_error():
    result = runner.invoke(app, ["explain", "a fine film", "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device is available" in result.stderr


def test_auto_device_falls_back_to_the_cpu_here_or_uses_cuda():
    result = runner.invoke(app, ["explain", "a fine film", "--device", "auto", "-f", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["text"] == "a fine film"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["gradient", "integrated-gradients", "smoothgrad", "occlusion"])
def test_cuda_scores_equal_cpu_scores(method):
    from saliency.pipeline import Explainer

    mf = tiny_model_file("lstm", 2, True)
    cpu = explainer64(mf)
    gpu = Explainer.from_model_file(mf, engine="torch", device="cuda", dtype="float64")
    for a, b in zip(cpu.explain(["dead beef", "abc"], method), gpu.explain(["dead beef", "abc"], method)):
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=1e-7, atol=1e-10)
