"""Batches side by side: one single-threaded worker per core, results as the sequential loop's."""

import threading

import numpy as np
import pytest
import torch

from saliency import threads
from saliency.threads import side_by_side

from .conftest import TEXTS, explainer64, tiny_model_file

MANY = [t * k for k in range(1, 8) for t in TEXTS]  # 35 texts of many lengths: several batches


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)


def test_results_come_back_in_order_from_worker_threads(two_cores):
    names = set()

    def work(item):
        names.add(threading.current_thread().name)
        return item * item

    assert list(side_by_side(work, range(20))) == [i * i for i in range(20)]
    assert names and all(n.startswith("saliency") for n in names)


def test_one_item_runs_in_the_callers_thread(two_cores):
    seen = []
    assert list(side_by_side(lambda i: seen.append(threading.current_thread()) or i, [7])) == [7]
    assert seen == [threading.current_thread()]


def test_an_error_is_raised_at_its_item_after_the_earlier_results(two_cores):
    def work(i):
        if i == 3:
            raise ValueError("item 3")
        return i

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for result in side_by_side(work, range(6)):
            got.append(result)
    assert got == [0, 1, 2]


def test_torch_threads_and_the_flag_are_put_back(two_cores):
    explainer = explainer64(tiny_model_file(), batch_size=4)
    before = torch.get_num_threads()
    inside = []
    original = explainer.engine.gradient

    def spy(*args, **kwargs):
        inside.append((torch.get_num_threads(), explainer.engine.side_by_side))
        return original(*args, **kwargs)

    explainer.engine.gradient = spy
    explainer.explain(MANY)
    assert len(inside) == -(-len(MANY) // 4)  # one call per batch of 4
    assert set(inside) == {(1, True)}
    assert torch.get_num_threads() == before and explainer.engine.side_by_side is False


@pytest.mark.parametrize("engine", ["torch", "numpy"])
@pytest.mark.parametrize("method", ["gradient", "integrated-gradients"])
def test_side_by_side_equals_one_batch_at_a_time(two_cores, monkeypatch, engine, method):
    model_file = tiny_model_file(cell="gru", layers=2, bidirectional=True)
    together = explainer64(model_file, engine, batch_size=3).explain(MANY, method, steps=8)
    monkeypatch.setattr(threads, "cores", lambda: 1)  # the sequential loop
    alone = explainer64(model_file, engine, batch_size=3).explain(MANY, method, steps=8)
    for a, b in zip(together, alone):
        assert a.target == b.target and a.prediction == b.prediction
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-12)
