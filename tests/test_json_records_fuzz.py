"""Batch answers every record whatever its JSON holds (issue 27): nesting 500 or 100,000 deep,
5,000-digit numbers, any value in any field. The readers give one record per line, numbered from
0, with a text or an error; through the console script every record is one output line.
"""

import contextlib
import json
import sys
import tempfile
import types
from io import BytesIO

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saliency.records import io

from .hostile import run, stderr_lines

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=False)

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
hostile = st.sampled_from([
    '{"text": "abc", "x": ' + "[" * 500 + "]" * 500 + "}",
    '{"text": "abc", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"text": "abc", "n": ' + "9" * 5000 + "}",
    '{"text": ' + "9" * 5000 + "}",
    '{"text": "abc", "f": 1e999999}',
    '{"text": "abc", "s": "\\ud800"}',
    "[" * 70 + "]" * 70,
    '{"text": "abc"',
])
lines = st.one_of(
    st.builds(lambda text, fields: json.dumps({"text": text, **fields}), st.text(max_size=12),
              st.dictionaries(st.text(max_size=5).filter(lambda k: k != "text"), values, max_size=3)),
    st.builds(json.dumps, values),
    hostile,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(lines, min_size=1, max_size=6))
def test_every_json_line_is_one_record_with_a_text_or_an_error(records):
    data = ("\n".join(records) + "\n").encode("utf-8", "surrogatepass")
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as f:
        f.write(data)
        f.flush()
        read = list(io.read_records(f.name))
    expected = [line for line in records if line.strip(" \t\r\n")]
    assert [r.index for r in read] == list(range(len(expected)))
    assert all(r.error is not None or isinstance(r.text, str) and r.text.strip() for r in read)
    if records[0].lstrip().startswith("{") and records[0].rstrip().endswith("}"):  # stdin, sniffed: the same JSON
        with monkeypatch_stdin(data):
            sniffed = list(io.read_records("-"))
        assert [(r.text, r.error) for r in sniffed] == [(r.text, r.error) for r in read]


@contextlib.contextmanager
def monkeypatch_stdin(data: bytes):
    saved = sys.stdin
    sys.stdin = types.SimpleNamespace(buffer=BytesIO(data))
    try:
        yield
    finally:
        sys.stdin = saved


def test_hostile_records_are_answered_each_and_nothing_is_lost(model_path, tmp_path):
    records = ['{"text": "abc"}', '{"text": "fed", "x": ' + "[" * 500 + "]" * 500 + "}",
               '{"text": "bad", "n": ' + "9" * 5000 + "}", '{"text": "cab", "deep": ' + "[" * 100_000 + "]" * 100_000
               + "}", '{"text": "dead"}']
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(records) + "\n")
    for source, stdin in ((path, None), ("-", path.read_text())):  # a file, and stdin (sniffed)
        result = run(["batch", "-m", model_path, "--method", "gradient", source], input=stdin, memory_gb=2.0,
                     timeout=120)
        rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert result.returncode == 5 and [r["record"] for r in rows] == [0, 1, 2, 3, 4]
        assert [r.get("error", "")[:14] for r in rows] == ["", "malformed JSON", "malformed JSON", "malformed JSON", ""]
        assert "nested more than 64" in rows[1]["error"] and "4,300" in rows[2]["error"]
        assert stderr_lines(result)[-1] == "Error: 3 of 5 records failed"
        assert "Traceback" not in result.stderr.decode()


def test_stdin_whose_first_line_holds_a_huge_number_is_still_read_as_json(model_path):
    stdin = '{"text": "abc", "n": ' + "9" * 5000 + '}\n{"text": "fed"}\n'
    result = run(["batch", "-m", model_path, "--method", "gradient", "-"], input=stdin, timeout=120)
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["record"] for r in rows] == [0, 1] and "error" in rows[0] and rows[1]["text"] == "fed"
