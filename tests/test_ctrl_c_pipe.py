"""Ctrl-C while stdout is a pipe nobody is reading: the output still ends in whole lines.

A signal that interrupts a blocked write to a pipe leaves it partly done, and CPython's buffered
writer then drops the rest (saliency/records/whole_writes.py). Each test waits until the process is
blocked writing to the full pipe (its wchan is pipe_write), sends SIGINT there, then reads all.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from .hostile import SCRIPT

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=False)
WORDS = "abc def gha bead cafe hag fed dab ace bed dead beef abba cab"
# JSON lines of 4 to 5 KB: each waits in the buffer for a flush, and whether a flush is cut
# depends on how the pipe's pages line up, so several lengths are tried.
LENGTHS = [48, 52, 55, 59]


def blocked_on_pipe(pid) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "pipe_write" in f.read()  # pipe_write, or anon_pipe_write on newer kernels
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/wchan"), reason="needs /proc/PID/wchan (Linux)")
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("command", [["batch", "-", "--method", "gradient", "-f", "jsonl"],
                                     ["explain", "-", "--method", "gradient", "-f", "json"]])
def test_ctrl_c_into_a_full_pipe_leaves_whole_lines(model_path, command, length):
    line = WORDS[:length]
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("SALIENCY_DEBUG", None)
    proc = subprocess.Popen([str(SCRIPT), *command, "-m", model_path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdin.write((line + "\n").encode() * 100)
    proc.stdin.close()
    proc.stdin = None  # written and closed: communicate() has nothing to send
    deadline = time.monotonic() + 60
    while not blocked_on_pipe(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert blocked_on_pipe(proc.pid), "the command never blocked on the pipe"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip() == "interrupted"
    assert out.endswith(b"\n")
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert len(rows) >= 1 and all(len(r["tokens"]) == len(line) for r in rows)


def test_ctrl_c_during_a_write_waits_for_its_end_and_at_any_other_moment_comes_at_once():
    """batch.ctrl_c_after_writes: SIGINT's handler set once for a run of writes."""
    from saliency.records.batch import ctrl_c_after_writes

    before = signal.getsignal(signal.SIGINT)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_after_writes() as writing:
            for k in range(3):
                with writing:
                    if k == 1:
                        os.kill(os.getpid(), signal.SIGINT)
                        time.sleep(0.05)  # Python runs the handler meanwhile: it waits for the write
                    done.append(k)
    assert done == [0, 1]  # the write under way finished; the next never began
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_after_writes() as writing:
            os.kill(os.getpid(), signal.SIGINT)  # between writes (explaining, reading): at once
            time.sleep(0.05)
            done.append("not reached")
    assert done == [0, 1] and signal.getsignal(signal.SIGINT) is before
