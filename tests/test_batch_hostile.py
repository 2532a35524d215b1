"""batch and explain under hostile input and broken output streams, through the installed script.

Every record is answered (one JSONL line each, in order) whatever it holds; a stream that cannot
be written ends the run with one stderr line and a documented code; the terminal progress bar
advances under the records it prints.
"""

import json
import os
import pty
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from saliency.cli import app

from .hostile import SCRIPT, run, stderr_lines

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=True)  # model_path's model (conftest)

runner = CliRunner()


def no_traceback(result):
    assert "Traceback" not in result.stderr.decode("utf-8", "replace")


def test_lone_surrogates_in_text_or_fields_fail_only_their_record(model_path):
    lines = ['{"text": "abc"}', '{"text": "bad \\ud800 x"}', '{"text": "fed", "note": "x\\udfff"}',
             '{"text": "cafe", "tags": ["\\ud83d"]}', '{"text": "bead", "id": 4}']
    result = run(["batch", "-m", model_path, "-"], input="\n".join(lines) + "\n")
    no_traceback(result)
    assert result.returncode == 5
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["record"] for r in rows] == [0, 1, 2, 3, 4]
    assert [("error" in r) for r in rows] == [False, True, True, True, False]
    assert "lone surrogate" in rows[1]["error"] and "lone surrogate" in rows[2]["error"]
    assert rows[2]["fields"] == {"note": "x\ufffd"} and rows[4]["fields"] == {"id": 4}
    assert stderr_lines(result)[-1] == "Error: 3 of 5 records failed"


def test_invalid_json_values_in_fields_never_reach_the_output(model_path):
    result = run(["batch", "-m", model_path, "-"], input='{"text": "abc", "v": NaN}\n{"text": "fed", "v": 1}\n')
    no_traceback(result)
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert "NaN" not in result.stdout.decode() and rows[0]["fields"] == {"v": "nan"} and "error" in rows[0]
    assert rows[1]["fields"] == {"v": 1} and result.returncode == 5


def shell(command, script_args, stdin_path=None):
    """`bash -c command` with $S the console script and $M the model, memory capped like hostile.run."""
    env = {**os.environ, "S": str(SCRIPT), "COLUMNS": "80", **script_args}
    env.pop("SALIENCY_DEBUG", None)
    return subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=120,
                          stdin=open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL)


@pytest.mark.parametrize("command", ['"$S" explain -m "$M" abc', '"$S" explain -m "$M" -f json abc',
                                     '"$S" batch -m "$M" "$IN"', '"$S" batch -m "$M" -f csv "$IN"'])
@pytest.mark.parametrize("redirect, code, message", [
    (">/dev/full", 6, "Error: cannot write the output: No space left on device"),
    (">&-", 6, "Error: stdout is closed; redirect it to a file or /dev/null")])
def test_an_unwritable_stdout_is_one_line_and_exit_6(model_path, tmp_path, command, redirect, code, message):
    path = tmp_path / "in.txt"
    path.write_text("abc\nfed\n")
    result = shell(f"{command} {redirect}", {"M": model_path, "IN": str(path)})
    no_traceback(result)
    assert (result.returncode, stderr_lines(result)) == (code, [message])


@pytest.mark.parametrize("command", ['"$S" explain -m "$M" -f text - < "$IN" | head -1',
                                     '"$S" explain -m "$M" -f json - < "$IN" | head -1',
                                     '"$S" batch -m "$M" "$IN" | head -1',
                                     '"$S" batch -m "$M" -f text "$IN" | head -1'])
def test_a_reader_that_goes_away_gives_exit_141_and_silence(model_path, tmp_path, command):
    path = tmp_path / "in.txt"
    path.write_text("abc fed\n" * 3000)
    result = shell(command + '; exit "${PIPESTATUS[0]}"', {"M": model_path, "IN": str(path)})
    assert result.returncode == 141 and result.stderr == b""
    assert len(result.stdout.splitlines()) == 1


def test_text_records_print_above_a_progress_bar_that_advances(model_path, tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("abc\nhag bed\ndead\n")
    out = on_terminal([str(SCRIPT), "batch", "-m", model_path, str(path)])
    text = out.decode("utf-8", "replace")
    starts = [text.index(f"record {i} ({path})") for i in range(3)]
    assert starts == sorted(starts)
    # after each record the bar is redrawn below it with the new count
    for i in range(3):
        assert f"{i + 1}/3" in text[starts[i]:], text
    assert "0/3" not in text[starts[2]:]


def on_terminal(argv):
    """Run argv with stdout and stderr on one 80-column pseudo-terminal; everything it wrote."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, out[-2000:]
    return out


# -- fuzz: any record stream gives one output line per record, in order ----------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
texts = st.text(alphabet=st.characters(codec=None), max_size=40)  # any code point, lone surrogates too
records = st.one_of(
    st.builds(lambda t, extra: {"text": t, **extra}, texts, st.dictionaries(st.sampled_from(["id", "x"]), json_values)),
    json_values,
    st.builds(lambda t: {"sentence": t}, texts),
)


def encode(value, ascii_only):
    line = json.dumps(value, ensure_ascii=ascii_only)
    return line.encode("utf-8", "surrogatepass")  # raw surrogates are bytes no UTF-8 decoder accepts


garbage = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"") or b"x")
lines = st.lists(st.one_of(st.builds(encode, records, st.booleans()), garbage), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=lines)
def test_any_record_stream_gives_one_line_per_record_in_order(model_path, lines):
    first = [lines[0].removeprefix(b"\xef\xbb\xbf")]  # a byte-order mark is dropped
    records_in = [line for line in first + lines[1:] if line.strip(b" \t")]  # blank lines are no records
    result = runner.invoke(app, ["batch", "-m", model_path, "--input-format", "jsonl", "-"],
                           input=b"\n".join(lines) + b"\n")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 3:  # no record has a text field: nothing written, one line saying so
        assert result.stdout == "" and "--text-field" in result.stderr
        assert not any(b'"text"' in line or b'"sentence"' in line for line in records_in)
        return
    assert result.exit_code in (0, 5)
    out = [json.loads(line) for line in result.stdout.split("\n")[:-1]]  # not splitlines: U+2028 is no line end
    assert [r["record"] for r in out] == list(range(len(records_in)))
    assert result.exit_code == (5 if any("error" in r for r in out) else 0)
