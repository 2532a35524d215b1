"""Ray under faults (issue 27): a killed worker costs no record, an unreachable --address is one
line within 30 s, nothing of Ray's reaches stdout, and --output-dir holds one run's parts only.
Few and bounded: each Ray run is a handful of small windows on the tiny model.
"""

import fcntl
import json
import os
import signal
import time

import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.records.batch import explain_records, read_inputs
from saliency.cli import app
from saliency.records.ray import LOCK_NAME, explain_on_ray, jsonl_line

from .hostile import assert_error, run

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=True)
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "in.jsonl"
    texts = ["dead beef cafe", "a", "hag bed", "abc abc", "fade", "bead", "cab", "ff fe"] * 5
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    return str(path)


def worker_pids():
    """Ray Data's actor processes (their command line names the map worker)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"MapWorker" in f.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds Ray's worker processes in /proc")
def test_a_killed_worker_costs_no_record(local_ray, model_path, data):
    options = dict(method="integrated-gradients", steps=64)
    single = [jsonl_line(r)[0] for r in explain_records(load_model(model_path), read_inputs([data]), window=2,
                                                        **options)]
    out, killed = [], []
    for line in explain_on_ray(model_path, read_inputs([data]), workers=2, window=2, **options):
        out.append(line)
        if not killed:  # the first window is back: kill a worker while the others are under way
            pids = worker_pids()
            assert pids, "no Ray worker process found"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
    assert killed
    assert [o.line for o in out] == single  # every record once, in order, as one process writes them


def test_parts_of_another_run_are_refused_or_replaced_with_overwrite(local_ray, model_path, data, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "part-000000007.jsonl").write_text('{"record": 99}\n')
    refused = runner.invoke(app, ["batch", "--ray", "-m", model_path, data, "--output-dir", str(folder)])
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr == (f"Error: --output-dir {folder} holds 1 part file(s) of another run "
                              "(pass --overwrite to replace them)\n")
    whole = runner.invoke(app, ["batch", "-m", model_path, data])
    replaced = runner.invoke(app, ["batch", "--ray", "-m", model_path, data, "--output-dir", str(folder), "--overwrite"])
    assert replaced.exit_code == whole.exit_code == 0, replaced.stderr
    assert "".join(p.read_text() for p in sorted(folder.glob("part-*"))) == whole.stdout


def test_two_runs_cannot_share_an_output_dir(model_path, data, tmp_path):
    folder = tmp_path / "busy"
    folder.mkdir()
    with open(folder / LOCK_NAME, "a") as held:  # another run holds the folder
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run(["batch", "--ray", "-m", model_path, data, "--output-dir", folder], timeout=120)
    assert_error(result, 2, "another run is writing there")
    assert list(folder.glob("part-*")) == [] and result.stdout == b""


def test_an_unreachable_address_is_one_line_within_30_seconds(model_path, data):
    started = time.monotonic()
    result = run(["batch", "--ray", "--address", "127.0.0.1:1", "-m", model_path, data], timeout=60)
    assert time.monotonic() - started < 30
    assert_error(result, 2, "--address 127.0.0.1:1: no Ray cluster answers there")
    assert result.stdout == b""
