"""Absurd method options are refused before any work, in one line, naming the limit (issue 10, 7).

The subprocess cases run the installed console script under an address-space cap (tests/hostile.py),
so a count that slipped through would fail here by memory rather than by timeout.
"""

import json
import math

import numpy as np

import pytest

from saliency.errors import UsageError
from saliency.engines.threads import free_cores

from .conftest import explainer64, tiny_model_file
from .hostile import assert_error, run


@pytest.mark.parametrize("options, message", [
    (dict(method="integrated-gradients", steps=10**23), "between 1 and 100,000"),
    (dict(method="integrated-gradients", steps=1.5), "whole number"),
    (dict(method="integrated-gradients", steps=True), "whole number"),
    (dict(method="smoothgrad", samples=10**6), "between 1 and 100,000"),
    (dict(method="smoothgrad", noise=math.inf), "--noise"),
    (dict(method="smoothgrad", noise=math.nan), "--noise"),
    (dict(method="smoothgrad", noise="0.1"), "--noise must be a number"),
    (dict(method="smoothgrad", seed=-7), "--seed"),
    (dict(method="smoothgrad", seed=2**64), "--seed"),
])
def test_absurd_counts_and_values_are_usage_errors(options, message):
    explainer = explainer64(tiny_model_file("gru", 1, False))
    with pytest.raises(UsageError, match=message):
        explainer.explain(["abc"], **options)


@pytest.mark.parametrize("args, contains", [
    (["--method", "smoothgrad", "--seed", "-7"], "--seed"),
    (["--method", "integrated-gradients", "--steps", str(10**23)], "100,000"),
    (["--method", "integrated-gradients", "--steps", "1000000000"], "100,000"),
    (["--method", "smoothgrad", "--samples", "1000000"], "100,000"),
    (["--method", "smoothgrad", "--noise", "inf", "-f", "json"], "--noise"),
    (["--method", "smoothgrad", "--noise", "nan", "-f", "json"], "--noise"),
])
def test_cli_refuses_absurd_options_in_one_line(args, contains):
    result = run(["explain", "a fine film", *args], memory_gb=2.0, timeout=60)
    assert_error(result, 2, contains)
    assert result.stdout == b""


def test_free_cores_stays_within_one_and_the_limit():
    assert free_cores(1) == 1
    assert 1 <= free_cores(64) <= 64


def test_our_own_busy_threads_are_not_counted_as_neighbours():
    # torch's OpenMP threads spin after each op; counted as "others", they made the engine drop
    # to one thread on a quiet machine (0.73x the hand-written loop instead of 1.2x).
    import threading

    from saliency.engines.threads import own_running

    stop = threading.Event()

    def spin():  # a C loop that releases the GIL, as a spinning OpenMP worker does
        a = np.random.default_rng(0).standard_normal((300, 300))
        while not stop.is_set():
            a @ a

    workers = [threading.Thread(target=spin) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        seen = max(own_running() for _ in range(2000))
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert seen >= 2


def test_a_text_over_the_token_limit_is_refused_before_it_is_run(monkeypatch):
    from saliency.pipeline import Explainer

    explainer = explainer64(tiny_model_file("gru", 1, False))
    monkeypatch.setattr(Explainer, "max_tokens", 5)
    with pytest.raises(UsageError.__mro__[1]) as caught:  # SaliencyError
        explainer.explain(["ab ab ab"], errors="raise")
    assert caught.value.exit_code == 3 and "over the limit of 5" in str(caught.value)
    [ok] = explainer.explain(["ab"])
    assert len(ok.tokens) <= 5


def test_a_million_character_line_is_one_error_line_in_bounded_memory():
    line = "a" * 1_000_000 + "\n"
    result = run(["explain", "-m", "names-gru", "-f", "json", "-"], input=line, memory_gb=2.0, timeout=120)
    err = result.stderr.decode()  # every stdin line failed: the exit is that error's code
    assert result.returncode == 3 and "Traceback" not in err and "over the limit of 20,000" in err
    result = run(["batch", "-q", "-m", "names-gru", "-"], input="Nakamura\n" + line + "Smith\n", memory_gb=2.0,
                 timeout=120)
    records = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert result.returncode == 5 and [r["record"] for r in records] == [0, 1, 2]
    assert "over the limit" in records[1]["error"] and records[0]["prediction"] and records[2]["prediction"]
