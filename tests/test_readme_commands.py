"""Every command in the ```sh blocks of README.md and of every docs/*.md (a file added there is
run too) runs as written and exits 0, and the sample outputs (plain ``` blocks of `$ command`
and what it prints) are what the tool prints: the documentation cannot drift."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

# Commands that cannot run here, and why. Everything else in a ```sh block runs.
SKIPPED = {
    "python3 -m pytest -q": "the test suite itself",
    "bash models/train.sh": "re-trains the shipped models from ../shared/data (hours)",
    "saliency train DATA -o model.safetensors": "DATA is a placeholder for the user's training data",
    "saliency import imdb_lstm.keras --vocab word_index.json --labels negative,positive -o imdb.safetensors":
        "the user's Keras model (tests/test_keras_import.py builds real ones)",
    "saliency explain -m imdb.safetensors \"a gorgeous and witty movie\"": "explains the Keras model imported above",
    "saliency batch reviews.txt --ray --address auto --output-dir scored/": "needs a running Ray cluster "
    "(tests/test_ray.py covers --output-dir on a local one)",
}
INSTALL = re.compile(r"^python3 -m pip install [^&]*&& ")  # the install step before a command: done already


def fenced_blocks(text):
    """[(info string, body)] of the ``` blocks, read fence by fence (a regex would pair a block's
    closing fence with the next block's opening one)."""
    blocks, info, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, body = line[3:].strip(), []
            else:
                blocks.append((info, "\n".join(body) + "\n"))
                info = None
        elif info is not None:
            body.append(line)
    return blocks


def doc_commands():
    """(file name, command) of every line of every ```sh block, README first, then docs/ by name."""
    commands = []
    for path in DOCS:
        for block in [body for info, body in fenced_blocks(path.read_text()) if info == "sh"]:
            for line in block.splitlines():
                command = re.sub(r"\s+#\s.*$", "", line).strip()  # a comment after the command
                command = INSTALL.sub("", command)
                if command:
                    commands.append((path.name, command))
    return commands


DOC_COMMANDS = doc_commands()
COMMANDS = list(dict.fromkeys(command for _, command in DOC_COMMANDS))  # each once, where first written


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The files the README's examples name, small, in a fresh directory."""
    d = tmp_path_factory.mktemp("readme")
    (d / "lines.txt").write_text("a gorgeous , witty movie\nthe plot is thin\n")
    (d / "reviews.txt").write_text("a gorgeous , witty movie\nthe plot is thin\n")
    (d / "dev.tsv").write_text("sentence\tlabel\na gorgeous , witty movie\t1\nthe plot is thin\t0\n"
                               "the acting is wooden but the score is gorgeous\t1\n")  # the model says negative
    (d / "data.jsonl").write_text('{"review": "a gorgeous , witty movie"}\n{"review": "the plot is thin"}\n')
    (d / "reviews.jsonl").write_text('{"text": "a gorgeous , witty movie", "sentiment": "positive"}\n'
                                     '{"text": "the plot is thin", "sentiment": "positive"}\n')
    course_rnn(d / "course_rnn.npz")
    course_lstm(d / "course_lstm.npz")
    (d / "rationales.jsonl").write_text('{"text": "a gorgeous , witty movie", "evidence": ["gorgeous", "witty"]}\n'
                                        '{"text": "the plot is thin", "evidence": ["thin"]}\n')
    (d / "passages.txt").write_text("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind\n")
    shutil.copy(ROOT / "models" / "names-gru.safetensors", d / "model.safetensors")
    return d


def course_rnn(path):
    """A small numpy char-RNN in the course layout (Wax, Waa, Wya, b, by over newline and a-z)."""
    import numpy as np

    rng = np.random.default_rng(0)
    n_a, n_x = 8, 27
    np.savez(path, Wax=rng.normal(size=(n_a, n_x)), Waa=rng.normal(size=(n_a, n_a)) * 0.3,
             Wya=rng.normal(size=(n_x, n_a)), b=np.zeros((n_a, 1)), by=np.zeros((n_x, 1)))


def course_lstm(path):
    """The course LSTM layout: Wf, Wi, Wc, Wo (n_a, n_a + n_x) and their biases, Wy, by."""
    import numpy as np

    rng = np.random.default_rng(1)
    n_a, n_x = 8, 27
    gates = {f"W{g}": rng.normal(size=(n_a, n_a + n_x)) * 0.5 for g in "fico"}
    biases = {f"b{g}": np.zeros((n_a, 1)) for g in "fico"}
    np.savez(path, **gates, **biases, Wy=rng.normal(size=(n_x, n_a)), by=np.zeros((n_x, 1)))


def test_the_docs_have_commands_and_the_skip_list_is_current():
    assert len(COMMANDS) > 20
    assert {name for name, _ in DOC_COMMANDS} >= {"README.md", "methods.md", "formats.md", "scaling.md"}
    assert set(SKIPPED) <= set(COMMANDS), set(SKIPPED) - set(COMMANDS)
    assert len(sample_outputs()) >= 3  # the sample outputs are found, so their test runs


@pytest.mark.parametrize("command", COMMANDS)
def test_doc_command_runs_as_written(command, workdir):
    if command in SKIPPED:
        pytest.skip(SKIPPED[command])
    bin_dir = os.path.dirname(sys.executable)  # this environment's `saliency` console script
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    if "| jq" in command and not shutil.which("jq"):
        command = command.split("| jq")[0] + "> /dev/null"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    redirect = re.search(r">\s*(\S+)$", command) or re.search(r" -o (\S+)$", command)  # stdout, or a file written
    if redirect is None:
        assert result.stdout.strip(), "a documented example that prints nothing"
    elif redirect.group(1) != "/dev/null":
        assert (workdir / redirect.group(1)).read_bytes().strip(), f"{command}: wrote nothing"


def sample_outputs():
    """($ command, [expected lines]) from the plain ``` blocks of README and docs/; '...' elides lines."""
    samples = []
    for block in [body for path in DOCS for info, body in fenced_blocks(path.read_text()) if info == ""]:
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *lines = chunk.rstrip("\n").split("\n")
            samples.append((command, [line for line in lines if line]))
    return samples


@pytest.mark.parametrize("command, expected", sample_outputs())
def test_doc_sample_output_is_what_the_tool_prints(command, expected):
    if "| jq" in command and not shutil.which("jq"):
        pytest.skip("jq is not installed here")  # the sample's numbers come through jq's rounding
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)  # from the repository root, as the README says
    assert result.returncode == 0, result.stderr
    printed = [line.rstrip() for line in result.stdout.splitlines() if line.strip()]
    assert elided_match(expected, printed), result.stdout


def elided_match(expected, printed) -> bool:
    """The expected lines are the printed ones, where each '...' line stands for any lines: the
    first run of lines starts the output, the last ends it, those between come in order."""
    runs, run = [], []
    for line in expected:
        if line == "...":
            runs.append(run)
            run = []
        else:
            run.append(line)
    runs.append(run)
    if len(runs) == 1:
        return printed == expected
    head, *middle, tail = runs
    if printed[:len(head)] != head or printed[len(printed) - len(tail):] != tail:
        return False
    at, end = len(head), len(printed) - len(tail)
    for run in middle:
        at = next((i for i in range(at, end - len(run) + 1) if printed[i:i + len(run)] == run), None)
        if at is None:
            return False
        at += len(run)
    return True


def test_an_elided_sample_matches_only_its_lines_in_order():
    printed = ["a", "b", "c", "d", "e"]
    assert elided_match(["a", "...", "c", "...", "e"], printed)
    assert elided_match(["a", "b", "...", "e"], printed)
    assert not elided_match(["a", "...", "d", "...", "c", "e"], printed)
    assert not elided_match(["a", "...", "x", "...", "e"], printed)
    assert not elided_match(["a", "b"], printed)
