"""Shared fixtures: seeded tiny models of every architecture, built in the test (files only in temp folders)."""

import itertools

import numpy as np
import pytest
import torch

from saliency.modelfile import checkpoint
from saliency.modelfile.checkpoint import ModelFile
from saliency.modelfile.config import ModelConfig
from saliency.engines.torch_engine import RNNModel
from saliency.pipeline import Explainer
from saliency.tokenize import PAD, UNK, Tokenizer

# The test models are tiny: a second thread's hand-off costs far more than their arithmetic
# (measured: a float64 2-layer GRU's backward, 0.18 s CPU on 2 threads, 0.01 s on one).
torch.set_num_threads(1)

CHARS = list("abcdefgh ")
LABELS = ["neg", "pos", "other"]
TEXTS = ["abc", "hag bed", "a", "dead beef cafe", "ff"]


def tiny_model_file(cell="lstm", layers=1, bidirectional=False, head="classifier", pooling="max",
                    embedding_dim=5, hidden=4, seed=0, nonlinearity="tanh") -> ModelFile:
    torch.manual_seed(seed)
    tokenizer = Tokenizer("char", [PAD, UNK] + CHARS, lowercase=True)
    cfg = ModelConfig(cell, len(tokenizer.vocab), embedding_dim, hidden, layers, bidirectional, head, pooling,
                      len(LABELS), nonlinearity=nonlinearity)
    model = RNNModel(cfg).double()
    with torch.no_grad():  # larger weights than the default init, so gradients are not tiny
        for p in model.parameters():
            p.mul_(2.0)
    labels = [] if head == "lm" else LABELS
    return ModelFile(cfg, tokenizer, labels, model.weights(), {}, name=f"tiny-{cell}")


ARCHITECTURES = [
    dict(cell=c, layers=l, bidirectional=b, head=h)
    for c, l, b, h in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("classifier", "lm", "tagger"))
]


def arch_id(a):
    return f"{a['cell']}-{a['layers']}L-{'bi' if a['bidirectional'] else 'uni'}-{a['head']}"


@pytest.fixture(autouse=True)
def seeded():
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(params=ARCHITECTURES, ids=arch_id)
def any_model_file(request):
    return tiny_model_file(**request.param)


# model_path's model unless the test module sets TINY_MODEL (tiny_model_file's keywords): the CLI
# tests whose expected output comes from one particular model say which there.
TINY_MODEL = dict(cell="lstm", layers=1, bidirectional=True)


def saved_model_file(tmp_path_factory, name="tiny", **arch) -> str:
    """tiny_model_file(**arch) saved to a fresh temp folder as NAME.safetensors: its path."""
    path = str(tmp_path_factory.mktemp("models") / f"{name}.safetensors")
    checkpoint.save(tiny_model_file(**arch), path)
    return path


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of two CPUs for one test module (ray: a test dependency, imported only here)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_path(request, tmp_path_factory):
    """A tiny classifier's file, one per test module: TINY_MODEL's, or the module's own TINY_MODEL."""
    return saved_model_file(tmp_path_factory, **getattr(request.module, "TINY_MODEL", TINY_MODEL))


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    """A tiny language model's file (a GRU), one per test module."""
    return saved_model_file(tmp_path_factory, "tiny-lm", cell="gru", layers=1, bidirectional=False, head="lm")


def explainer64(model_file, engine="torch", batch_size=64):
    return Explainer.from_model_file(model_file, engine=engine, dtype="float64", batch_size=batch_size)
