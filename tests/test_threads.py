"""Batches side by side: one single-threaded worker per core, results as the sequential loop's."""

import os
import threading

import numpy as np
import pytest
import torch

from saliency.engines import threads
from saliency.engines.threads import side_by_side

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


def test_side_by_side_is_the_callers_context_not_a_flag_on_the_engine(two_cores):
    # A thread of the user's own, started while batches run side by side, is not in their scope.
    explainer = explainer64(tiny_model_file(), batch_size=4)
    engine, original, seen = explainer.engine, explainer.engine.gradient, []

    def spy(*args, **kwargs):
        other = []
        thread = threading.Thread(target=lambda: other.append(engine.side_by_side))
        thread.start()
        thread.join()
        seen.append((engine.side_by_side, other[0]))
        return original(*args, **kwargs)

    engine.gradient = spy
    explainer.explain(MANY[:8])
    assert seen == [(True, False)] * 2
    assert not {"side_by_side", "_side_by_side_runs"} & set(vars(engine)) and engine.side_by_side is False


@pytest.mark.parametrize("engine", ["torch", "numpy"])
@pytest.mark.parametrize("method", ["gradient", "integrated-gradients", "smoothgrad", "occlusion"])
def test_side_by_side_equals_one_batch_at_a_time(two_cores, monkeypatch, engine, method):
    model_file = tiny_model_file(cell="gru", layers=2, bidirectional=True)
    together = explainer64(model_file, engine, batch_size=3).explain(MANY, method, steps=8, samples=3)
    monkeypatch.setattr(threads, "cores", lambda: 1)  # the sequential loop
    alone = explainer64(model_file, engine, batch_size=3).explain(MANY, method, steps=8, samples=3)
    for a, b in zip(together, alone):
        assert a.target == b.target and a.prediction == b.prediction
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-12)


# -- --engine auto for batch: numpy below the measured break-even, torch above ------------------
def test_auto_weighs_the_work_of_the_input(tmp_path):
    from saliency.attribution import make_method
    from saliency.engines.choose import TORCH_FROM_WORK, engine_for_input

    gradient, ig = make_method("gradient"), make_method("integrated-gradients", steps=50)
    words = 5 * TORCH_FROM_WORK  # bytes of word-level text worth TORCH_FROM_WORK token-gradients
    assert engine_for_input("cpu", "word", words - 5, gradient) == "numpy"
    assert engine_for_input("cpu", "word", words, gradient) == "torch"
    assert engine_for_input("cpu", "word", -(-words // 52), ig) == "torch"  # 52 evaluations a text
    assert engine_for_input("cpu", "word", words // 52 - 5, ig) == "numpy"
    assert engine_for_input("cpu", "char", TORCH_FROM_WORK, gradient) == "torch"
    assert engine_for_input("cpu", "word", None, ig) == "numpy"  # a live pipe: answer lines as they come
    assert engine_for_input("cuda", "word", 10, gradient) == "torch"


def test_input_size_counts_regular_files_only(tmp_path):
    from saliency.engines.choose import input_size

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x" * 100)
    b.write_text("y" * 23)
    assert input_size([str(a), str(b)]) == 123
    read, write = os.pipe()
    try:
        assert input_size(["-"], stdin_fd=read) is None
        with open(a) as f:
            assert input_size([str(b), "-"], stdin_fd=f.fileno()) == 123  # stdin redirected from a file
    finally:
        os.close(read)
        os.close(write)
    assert input_size([str(tmp_path / "missing")]) is None


def test_a_worker_that_explains_again_runs_its_batches_itself(two_cores):
    # Nested side by side would wait on the very workers it occupies: deadlock.
    explainer = explainer64(tiny_model_file(), batch_size=2)
    inner = list(side_by_side(lambda text: explainer.explain(MANY[:6])[0].prediction, ["a", "b", "c"]))
    assert inner == [explainer.explain(MANY[:6])[0].prediction] * 3


def test_the_numpy_engine_cuts_blas_threads_to_the_free_cores(two_cores, monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    explainer = explainer64(tiny_model_file(), "numpy")
    seen = []
    forward = explainer.engine.gradient.__wrapped__  # the method inside fitted_blas

    def spy(self, *args, **kwargs):
        seen.append(blas_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(explainer.engine), "gradient", threads.fitted_blas(spy))
    with threadpool_limits(2, user_api="blas"):
        monkeypatch.setattr(threads, "free_cores", lambda limit: 1)  # a busy machine
        explainer.explain(["abc"])
        monkeypatch.setattr(threads, "free_cores", lambda limit: limit)  # a quiet one
        explainer.explain(["abc"])
        assert seen == [{1}, {2}] and blas_threads() == {2}


def test_overlapping_scopes_from_two_threads_put_the_settings_back():
    # Two explain calls at once (two user threads): A in, B in, A out, B out. Each restoring
    # what it saw would leave torch and BLAS on the one thread B saw, for good.
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    engine = explainer64(tiny_model_file()).engine
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(2, user_api="blas"):
            a, b = threads.single_threaded(torch), threads.single_threaded(torch)
            c, d = threads.blas_single_threaded(), threads.blas_single_threaded()
            for scope in (a, c, b, d):
                scope.__enter__()
            assert torch.get_num_threads() == 1 and blas_threads() == {1}
            a.__exit__(None, None, None)
            c.__exit__(None, None, None)
            # B's workers still run: still one thread each, and the engine still knows it
            assert torch.get_num_threads() == 1 and blas_threads() == {1} and engine.side_by_side is True
            b.__exit__(None, None, None)
            d.__exit__(None, None, None)
            assert torch.get_num_threads() == 2 and engine.side_by_side is False
            assert blas_threads() == {2}
    finally:
        torch.set_num_threads(before)


def test_two_threads_explaining_at_once_get_the_sequential_results(two_cores):
    explainer = explainer64(tiny_model_file(), batch_size=2)
    alone = [[t.score for t in e.tokens] for e in explainer.explain(MANY, "integrated-gradients", steps=8)]
    before = torch.get_num_threads()
    got = [None, None]

    def run(i):
        got[i] = [[t.score for t in e.tokens] for e in explainer.explain(MANY, "integrated-gradients", steps=8)]

    workers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert got == [alone, alone]
    assert torch.get_num_threads() == before and explainer.engine.side_by_side is False


def test_blas_threads_are_never_raised_above_the_users_own_limit(monkeypatch):
    # OPENBLAS_NUM_THREADS=1 (or threadpool_limits(1)) on a 4-core machine with one core busy:
    # cutting to the 3 free cores would raise BLAS to 3 threads.
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setattr(threads, "free_cores", lambda limit: min(limit, 3))
    explainer = explainer64(tiny_model_file(), "numpy")
    seen = []
    gradient = explainer.engine.gradient.__wrapped__

    def spy(self, *args, **kwargs):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return gradient(self, *args, **kwargs)

    monkeypatch.setattr(type(explainer.engine), "gradient", threads.fitted_blas(spy))
    with threadpool_limits(1, user_api="blas"):
        explainer.explain(["abc"])
    assert seen == [{1}]


def test_a_forked_child_explains_side_by_side_too(two_cores):
    # The parent's pool is made; a fork's child has none of its threads: work given to it never ran.
    import multiprocessing

    explainer = explainer64(tiny_model_file(), "numpy", batch_size=2)
    parent = [e.prediction for e in explainer.explain(MANY)]
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_predictions, (explainer,)).get(timeout=60)
    assert child == parent


def _predictions(explainer):
    return [e.prediction for e in explainer.explain(MANY)]


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_running_batch_stops_at_its_next_engine_call_once_the_caller_has_gone(two_cores, engine):
    # Ctrl-C (or an error) in one batch: the batch beside it used to run to its end first
    # (50 s with --steps 2000 before `saliency batch` could exit).
    import time

    explainer = explainer64(tiny_model_file(), engine)
    x = explainer.engine.embed(np.array([[2, 3, 4]]))
    started, calls = threading.Event(), []

    def work(item):
        if item == 0:
            started.wait(10)
            raise KeyboardInterrupt
        started.set()
        for _ in range(20_000):  # about 20 s: far longer than the error takes to arrive
            explainer.engine.forward(x, np.array([3]))
            calls.append(1)
            time.sleep(0.001)
        return "ran to its end"

    with pytest.raises(KeyboardInterrupt):
        list(side_by_side(work, [0, 1]))
    assert len(calls) < 20_000
    assert explainer.engine.forward(x, np.array([3])).shape == (1, 3)  # the caller's own calls still run


def test_a_remote_ray_cluster_may_hold_the_only_copy_of_the_model(tmp_path):
    from saliency.cli.batch import batch_engine
    from saliency.errors import ModelError

    data = tmp_path / "in.txt"
    data.write_text("a gorgeous film\n")
    options = dict(method="gradient", target=None)
    missing = str(tmp_path / "on-the-cluster.safetensors")
    assert batch_engine(missing, "auto", "cpu", [str(data)], options, remote=True) == (None, "numpy")
    assert batch_engine(missing, "torch", "cpu", [str(data)], options, remote=True) == (None, "torch")
    with pytest.raises(ModelError):  # here, a missing model is still said before any work
        batch_engine(missing, "auto", "cpu", [str(data)], options)


SENTENCES = [" ".join(["a", "film", "of", "rare", "and", "quiet", "grace", "but", "dull", "pacing"][: 2 + k % 9] * (1 + k % 3))
             for k in range(24)]


def test_a_lone_batch_runs_in_two_halves_of_about_equal_tokens(two_cores):
    from saliency.pipeline import Row, in_halves_if_alone

    rows = [Row(i, [None] * n, 0, -1) for i, n in enumerate([1, 2, 2, 3, 5, 8, 9])]  # 30 tokens, shortest first
    first, second = in_halves_if_alone([rows])
    assert first + second == rows and sum(len(r.tokens) for r in first) == 13  # 13 | 17: the cut nearest half
    assert in_halves_if_alone([rows[:1]]) == [rows[:1]]  # one row: nothing to cut
    assert in_halves_if_alone([rows[:3], rows[3:]]) == [rows[:3], rows[3:]]  # batches already side by side


def test_a_lone_batch_on_one_core_stays_whole(monkeypatch):
    from saliency.pipeline import Row, in_halves_if_alone

    monkeypatch.setattr(threads, "cores", lambda: 1)
    rows = [Row(i, [None] * 3, 0, -1) for i in range(4)]
    assert in_halves_if_alone([rows]) == [rows]


def scores_on_1_and_2_threads(monkeypatch, explain):
    """explain(explainer) -> Explanations, with torch on 1 thread and then 2, on a quiet machine (the
    threads asked for are the threads used): each run's scores."""
    from saliency import load_model

    monkeypatch.setattr(threads, "others_running", lambda: 0)
    explainer = load_model(engine="torch")  # the shipped model, float32, as it runs
    saved, scores = torch.get_num_threads(), []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            scores.append([[t.score for t in e.tokens] for e in explain(explainer)])
    finally:
        torch.set_num_threads(saved)
    return scores


def test_a_lone_batchs_scores_do_not_follow_the_thread_count(two_cores, monkeypatch):
    """One batch run whole on torch's threads: 1 and 2 threads split the backward's matmuls
    (K = 4H) differently and the last digits moved with the machine's load. In two halves side by
    side, each on one thread, they cannot."""
    one, two = scores_on_1_and_2_threads(monkeypatch, lambda explainer: explainer.explain(SENTENCES, "gradient"))
    assert one == two


@pytest.mark.parametrize("method,options", [("gradient", {}), ("integrated-gradients", {"steps": 20}),
                                            ("smoothgrad", {"samples": 8, "seed": 0})])
def test_one_texts_scores_do_not_follow_the_thread_count(two_cores, monkeypatch, method, options):
    """One text runs on the caller's thread: a single row on 1 thread, a method's many rows (path
    points, noisy copies) in two halves on the workers, so 1 or 2 torch threads (the count a
    machine's load picks) give the same digits. They differed for every one of 30 dev texts."""
    one, two = scores_on_1_and_2_threads(monkeypatch, lambda explainer: [
        explainer.explain([text], method, **options)[0] for text in SENTENCES[5:9]])
    assert one == two
