"""Streaming: records are read as they come and answered as they come, with bounded read-ahead.

No timing thresholds. Where a broken implementation would wait for more input forever, the
writer gives up after GUARD seconds and the test sees that it had to: only a broken build ever
waits that long, so a busy machine cannot fail these tests.
"""

import json
import os
import random
import subprocess
import sys
import threading

import pytest

from saliency.modelfile import checkpoint
from saliency.records.io import read_records, windows

from .conftest import tiny_model_file

GUARD = 20  # seconds; a deadlock guard, never reached by a streaming implementation


def test_reader_gives_a_record_before_its_input_ends(tmp_path):
    fifo = str(tmp_path / "in.txt")
    os.mkfifo(fifo)
    more, ended = threading.Event(), threading.Event()

    def write():
        with open(fifo, "w") as f:
            f.write("first\n")
            f.flush()
            more.wait(GUARD)  # a reader that wants the whole file first is stuck until here
            ended.set()  # before the file closes: the reader cannot see its end any sooner
            f.write("second\n")

    threading.Thread(target=write, daemon=True).start()
    reader = read_records(fifo)
    assert next(reader).text == "first"
    assert not ended.is_set()  # it came while the writer still held the file open
    more.set()
    assert [r.text for r in reader] == ["second"]


def test_windows_hand_on_what_has_arrived_without_waiting_to_fill():
    gate, gave_up = threading.Event(), []

    def slow():
        yield "first"
        gave_up.append(not gate.wait(GUARD))  # the second line comes only once the first is answered
        yield "second"

    stream = windows(slow(), 512)
    assert next(stream) == ["first"]
    gate.set()
    assert next(stream) == ["second"] and gave_up == [False]


def test_windows_fill_from_a_ready_input_and_read_ahead_is_bounded():
    size, n = 4, 4000
    state = {"pulled": 0, "consumed": 0, "most_ahead": 0, "wanted": n}
    ready = threading.Event()

    def source():
        for i in range(n):
            state["pulled"] += 1
            state["most_ahead"] = max(state["most_ahead"], state["pulled"] - state["consumed"])
            if state["pulled"] >= state["wanted"]:
                ready.set()
            yield i

    stream = windows(source(), size)
    seen = next(stream)
    state["consumed"] = len(seen)
    state["wanted"] = len(seen) + size + 1  # a whole window read ahead, and one more
    assert state["pulled"] >= state["wanted"] or ready.wait(GUARD)
    window = next(stream)
    assert window == list(range(len(seen), len(seen) + size))  # input already there fills a whole window
    seen += window
    state["consumed"] = len(seen)
    for window in stream:
        assert 1 <= len(window) <= size
        seen += window
        state["consumed"] = len(seen)
    assert seen == list(range(n))
    # Read ahead: the window being filled, 4 more waiting, the one just handed over, one in hand.
    assert state["most_ahead"] <= 6 * size + 1, state


def test_batch_answers_each_piped_line_while_the_pipe_stays_open(tmp_path):
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, True), path)
    proc = subprocess.Popen([sys.executable, "-m", "saliency.cli", "batch", "-", "-m", path, "--engine", "numpy",
                             "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    guard_fired = []

    def guard():  # a command that waits for the end of its input gets it here, and fails below
        guard_fired.append(True)
        proc.stdin.close()

    timer = threading.Timer(GUARD * 3, guard)  # more: the first answer includes Python's start-up
    timer.start()
    try:
        answers = []
        for line in ("bad cafe", "dead beef"):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answers.append(json.loads(proc.stdout.readline()))
            assert not guard_fired, "no answer until the input ended"
        timer.cancel()
        proc.stdin.close()
        rest, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(GUARD)
    finally:
        timer.cancel()
        proc.kill()
    assert proc.returncode == 0, err
    assert rest == ""
    assert [(a["record"], a["text"]) for a in answers] == [(0, "bad cafe"), (1, "dead beef")]


def test_batch_over_two_files_and_past_one_window(tmp_path):
    from typer.testing import CliRunner

    from saliency import load_model
    from saliency.cli import app

    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, True), path)
    rng = random.Random(0)
    texts = ["".join(rng.choice("abcdefgh ") for _ in range(rng.randint(1, 12))).strip() or "a" for _ in range(600)]
    first, second = tmp_path / "a.txt", tmp_path / "b.jsonl"
    first.write_text("".join(t + "\n" for t in texts[:350]))  # 600 records: more than one window of 512
    second.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts[350:])))
    result = CliRunner().invoke(app, ["batch", str(first), str(second), "-m", path, "--engine", "numpy"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # Every record once, in input order; record numbers count within each file.
    assert [(r["source"], r["record"], r["text"]) for r in rows] == \
        [(str(first), i, t) for i, t in enumerate(texts[:350])] + [(str(second), i, t) for i, t in enumerate(texts[350:])]
    assert [r["fields"] for r in rows[350:]] == [{"id": i} for i in range(250)]
    # And each has the scores the library gives the same text in one call.
    alone = load_model(path, engine="numpy").explain(texts)
    for row, single in zip(rows, alone):
        assert [t["score"] for t in row["tokens"]] == pytest.approx([t.score for t in single.tokens], rel=1e-5,
                                                                     abs=1e-7)
