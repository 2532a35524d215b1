"""The Ray Data path on a real local Ray (num_cpus=2): exactly the unsharded output, errors included."""

import sys

import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.records.batch import explain_records, read_inputs
from saliency.cli import app
from saliency.records.ray import explain_on_ray, jsonl_line

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=True)  # model_path's model (conftest)

runner = CliRunner()
# Reordered by length inside windows; a bad line, a missing field, an empty text, lone surrogates.
LINES = ['{"text": "dead beef cafe", "id": 1}', '{"text": "a"}', "{broken", '{"text": "hag bed", "n": [1, 2]}',
         '{"other": 3}', '{"text": ""}', '{"text": "ff", "note": "x\\udfff"}', '{"text": "bad \\ud800"}',
         '{"text": "abc abc abc abc"}', '{"text": "b", "id": 9}', '{"text": "fade"}']


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "in.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    return str(path)


def test_ray_lines_equal_the_single_process_run_across_windows(local_ray, model_path, data):
    options = dict(method="integrated-gradients", steps=4)
    single = [jsonl_line(r)[0]
              for r in explain_records(load_model(model_path), read_inputs([data]), window=3, **options)]
    out = list(explain_on_ray(model_path, read_inputs([data]), workers=2, window=3, **options))
    assert [o.line for o in out] == single
    assert [o.record for o in out] == list(range(len(LINES)))
    assert [o.error is not None for o in out] == [False, False, True, False, True, True, True, True, False, False,
                                                 False]


def test_cli_on_ray_equals_the_unsharded_cli_run(local_ray, model_path, data, tmp_path):
    whole = runner.invoke(app, ["batch", "-m", model_path, data])
    on_ray = runner.invoke(app, ["batch", "--ray", "--num-workers", "2", "-m", model_path, data])
    assert whole.exit_code == on_ray.exit_code == 5
    assert on_ray.stdout == whole.stdout and on_ray.stderr == whole.stderr
    parts = runner.invoke(app, ["batch", "--ray", "-m", model_path, data, "--output-dir", str(tmp_path / "out")])
    assert parts.exit_code == 5 and parts.stdout == "" and parts.stderr == whole.stderr
    files = sorted((tmp_path / "out").glob("part-*"))  # beside them only the run's lock file, .saliency-batch.lock
    assert [f.name for f in files] == ["part-000000000.jsonl"]
    assert "".join(f.read_text() for f in files) == whole.stdout


def test_a_worker_usage_error_is_one_line(local_ray, model_path, data):
    result = runner.invoke(app, ["batch", "--ray", "-m", model_path, data, "--target", "nope"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: unknown target label 'nope' (the model has: neg, pos, other)\n"


def test_without_ray_the_flag_says_how_to_install_it(model_path, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is not installed
    result = runner.invoke(app, ["batch", "--ray", "-m", model_path, data])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: --ray needs Ray, which is not installed: pip install 'saliency[ray]'\n"


@pytest.mark.parametrize("args, message", [
    (["--output-dir", "x"], "--output-dir and --address go with --ray"),
    (["--ray", "-f", "csv"], "--ray writes JSONL, not --format csv"),
    (["--ray", "--shard", "1/2"], "--ray takes no --shard"),
    (["--ray", "--num-workers", "0"], "--num-workers")])
def test_ray_option_mistakes_are_usage_errors(model_path, data, args, message):
    result = runner.invoke(app, ["batch", "-m", model_path, data, *args])
    assert result.exit_code == 2 and message in result.stderr.splitlines()[0] and result.stdout == ""
