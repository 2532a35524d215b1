"""The batch loop as a library: explain_records against the CLI, shards, error isolation, readers."""

import json
import random

import pytest
from typer.testing import CliRunner

import saliency
from saliency import load_model
from saliency.records.batch import explain_records, parse_shard, read_inputs
from saliency.errors import InputError, UsageError
from saliency.records.io import JsonlWriter, read_records
from saliency.cli import app

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=True)  # model_path's model (conftest)

runner = CliRunner()
# Lengths that length-bucketing reorders; a bad JSON line, a missing field and an empty text.
LINES = ['{"text": "dead beef cafe", "id": 1}', '{"text": "a"}', "{broken", '{"text": "hag bed", "n": [1, 2]}',
         '{"other": 3}', '{"text": ""}', '{"text": "ff"}', '{"text": "abc abc abc abc"}', '{"text": "b", "id": 9}',
         '{"text": "fade"}']


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    return str(path)


def cli(model_path, *args, input=None, batch_size=2):
    return runner.invoke(app, ["batch", "-m", model_path, "--batch-size", str(batch_size), *args], input=input)


def library_jsonl(model_path, path, **options):
    explainer = load_model(model_path, batch_size=2)
    results = explain_records(explainer, read_inputs([path]), **options)
    return "".join(JsonlWriter.format(r.record, r.explanation, r.error) for r in results)


def test_library_iterator_equals_the_cli_byte_for_byte(model_path, data):
    # The library's default engine is torch; the CLI's auto would pick numpy for so small a file.
    result = cli(model_path, data, "--method", "integrated-gradients", "--steps", "4", "--engine", "torch")
    assert result.exit_code == 5
    assert result.stdout == library_jsonl(model_path, data, method="integrated-gradients", steps=4)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["record"] for r in rows] == list(range(len(LINES)))
    assert [("error" in r) for r in rows] == [False, False, True, False, True, True, False, False, False, False]


def merged(parts):
    return "".join(sorted(parts, key=lambda line: json.loads(line)["record"]))


@pytest.fixture(scope="module")
def long_data(tmp_path_factory):
    """1,100 records (three blocks of 512), random lengths, a bad line and an empty text among them."""
    rng = random.Random(0)
    lines = [json.dumps({"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6))), "id": i})
             for i in range(1100)]
    lines[600] = "{broken"
    path = tmp_path_factory.mktemp("data") / "long.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


WORDS = ["dead", "beef", "cafe", "a", "hag", "bed", "ff", "abc", "fade", "b"]


@pytest.mark.parametrize("n", [1, 3])
def test_shards_merged_equal_the_unsharded_run_byte_for_byte(model_path, long_data, n):
    whole = cli(model_path, long_data, batch_size=64)
    assert whole.exit_code == 5 and len(whole.stdout.splitlines()) == 1100
    parts = []
    for k in range(1, n + 1):
        result = cli(model_path, long_data, "--shard", f"{k}/{n}", batch_size=64)
        assert result.exit_code in (0, 5), result.output
        lines = result.stdout.splitlines(keepends=True)
        assert lines and all((json.loads(line)["record"] // 512) % n == k - 1 for line in lines)
        parts += lines
    assert merged(parts) == whole.stdout


@pytest.mark.parametrize("n", [2, 4, 11])
def test_library_shards_with_small_windows(model_path, data, n):
    explainer = load_model(model_path, batch_size=2)

    def run(shard):
        results = explain_records(explainer, read_inputs([data]), shard=shard, window=2)
        return [JsonlWriter.format(r.record, r.explanation, r.error) for r in results]

    parts = [run(f"{k}/{n}") for k in range(1, n + 1)]
    assert [len(p) for p in parts] == [sum((i // 2) % n == k for i in range(len(LINES))) for k in range(n)]
    assert merged(sum(parts, [])) == "".join(run(None))


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1/0", "x", "1/", "/3", "-1/2", "1/2/3", "1.5/2"])
def test_bad_shard_values_are_usage_errors(model_path, data, bad):
    result = cli(model_path, data, "--shard", bad)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"--shard {bad!r}" in result.stderr and not result.stdout


def test_parse_shard():
    assert parse_shard("2/5") == (2, 5) and parse_shard((1, 1)) == (1, 1)
    with pytest.raises(UsageError):
        parse_shard("5/2")


def test_public_api_takes_dicts_and_strings(model_path):
    explainer = load_model(model_path)
    items = [{"review": "dead beef", "id": 4}, {"id": 5}, "hag", ""]
    results = list(saliency.explain_records(explainer, items, text_field="review"))
    assert [r.record.index for r in results] == [0, 1, 2, 3]
    assert results[0].record.fields == {"id": 4} and results[0].explanation.text == "dead beef"
    assert results[1].error == "no field 'review'" and results[1].explanation is None
    assert results[2].explanation.text == "hag"
    assert results[3].error == "empty text"
    single = explainer.explain(["dead beef"])[0]
    # float32: the batch of two and the batch of one round differently (matmuls of other sizes)
    assert [t.score for t in results[0].explanation.tokens] == pytest.approx([t.score for t in single.tokens],
                                                                            rel=1e-5, abs=1e-6)


def test_an_option_that_fits_no_record_stops_the_run(model_path):
    with pytest.raises(UsageError, match="unknown target label"):
        list(explain_records(load_model(model_path), ["abc", "def"], target="nope"))


class Exploding:
    """An explainer that fails like a huge text out of memory (or any bug) for texts holding 'x'."""

    def __init__(self, inner, error):
        self.inner, self.engine, self.error, self.calls = inner, inner.engine, error, []

    def explain(self, texts, **options):
        self.calls.append(len(texts))
        if any("x" in t for t in texts):
            raise self.error
        return self.inner.explain(texts, **options)


@pytest.mark.parametrize("error", [RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to\n"
                                                "allocate 9 GB"), MemoryError(), UnicodeEncodeError(
                                                    "utf-8", "\ud800", 0, 1, "surrogates not allowed")])
def test_one_failing_record_fails_alone_and_the_window_goes_on(model_path, error):
    explainer = Exploding(load_model(model_path), error)
    texts = ["abc", "fed", "axe", "bead", "cab"]
    results = list(explain_records(explainer, texts, window=8))
    assert [r.error is None for r in results] == [True, True, False, True, True]
    assert explainer.calls == [5, 1, 1, 1, 1, 1]  # the window, then each record alone
    message = results[2].error
    assert "\n" not in message and message.startswith(("RuntimeError: DefaultCPU", "MemoryError", "not valid Unicode"))
    assert [r.explanation.text for r in results if r.explanation] == ["abc", "fed", "bead", "cab"]


def test_whole_input_without_the_text_field_is_one_input_error(model_path, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"review": "abc", "id": 1}\n{"review": "def"}\n')
    result = cli(model_path, str(path))
    assert result.exit_code == 3 and not result.stdout
    assert result.stderr.count("\n") == 1 and "--text-field" in result.stderr and "review, id" in result.stderr
    assert cli(model_path, str(path), "--text-field", "review").exit_code == 0
    with pytest.raises(InputError, match="no record has the field 'text or sentence'"):
        list(explain_records(load_model(model_path), read_records(str(path))))


def test_a_record_without_the_field_among_others_fails_alone(model_path, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"review": "abc"}\n{"text": "def"}\n')
    result = cli(model_path, str(path))
    assert result.exit_code == 5
    first = json.loads(result.stdout.splitlines()[0])
    assert first["record"] == 0 and "--text-field" in first["error"] and first["fields"] == {"review": "abc"}


@pytest.mark.parametrize("suffix, content", [
    ("txt", "abc\nhag\n"), ("csv", "text,id\nabc,1\nhag,2\n"), ("tsv", "text\tid\nabc\t1\nhag\t2\n"),
    ("jsonl", '{"text": "abc", "id": "1"}\n{"text": "hag", "id": "2"}\n')])
def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path, suffix, content):
    path = tmp_path / f"in.{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    records = list(read_records(str(path)))
    assert [r.text for r in records] == ["abc", "hag"] and not any(r.error for r in records)
    if suffix != "txt":
        assert records[0].fields == {"id": "1"}


def test_stdin_with_a_byte_order_mark(model_path):
    for args in (["batch", "-m", model_path], ["explain", "-m", model_path, "-f", "json"]):
        result = runner.invoke(app, args, input=b"\xef\xbb\xbfabc\n")
        assert result.exit_code == 0 and json.loads(result.stdout)["text"] == "abc"


def test_the_documented_merge_command_gives_the_unsharded_bytes(model_path, long_data, tmp_path):
    import shutil
    import subprocess

    from .test_readme_commands import doc_commands

    [merge] = [c for _, c in doc_commands() if c.startswith("cat part-*.jsonl |")]
    whole = cli(model_path, long_data, batch_size=64)
    for k in range(1, 4):
        part = cli(model_path, long_data, "--shard", f"{k}/4", batch_size=64)
        (tmp_path / f"part-{k}.jsonl").write_text(part.stdout)
    empty = cli(model_path, long_data, "--shard", "4/4", batch_size=64)  # 1,100 records: 3 windows
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "shard 4/4 holds no records" in empty.stderr
    assert shutil.which("sort")
    subprocess.run(["bash", "-o", "pipefail", "-c", merge], cwd=tmp_path, check=True)
    assert (tmp_path / "merged.jsonl").read_text() == whole.stdout
