"""docs/lrp.md stays true: its ```sh commands run as written and exit 0, and its sample outputs
are what the tool prints (the convention of tests/test_readme_commands.py)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_readme_commands import fenced_blocks, workdir  # noqa: F401 (workdir: the README's example files)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "lrp.md").read_text()
COMMANDS = [re.sub(r"\s+#\s.*$", "", line).strip() for info, body in fenced_blocks(DOC) if info == "sh"
            for line in body.splitlines() if line.strip()]
SAMPLES = [(chunk.split("\n", 1)[0], [line for line in chunk.rstrip("\n").split("\n")[1:] if line])
           for info, body in fenced_blocks(DOC) if info == "" for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]]


def shell(command, cwd=None):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_doc_has_commands_and_samples():
    assert len(COMMANDS) >= 8 and len(SAMPLES) >= 2


@pytest.mark.parametrize("command", COMMANDS)
def test_doc_command_runs_as_written(command, workdir):  # noqa: F811
    if "| jq" in command and not shutil.which("jq"):
        command = command.split("| jq")[0] + "> /dev/null"
    result = shell(command, workdir)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    redirect = re.search(r">\s*(\S+)$", command)
    if redirect is None:
        assert result.stdout.strip()
    else:
        assert (workdir / redirect.group(1)).read_text().strip()


@pytest.mark.parametrize("command, expected", SAMPLES)
def test_doc_sample_output_is_what_the_tool_prints(command, expected):
    result = shell(command)
    assert result.returncode == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines() if line.strip()] == expected, result.stdout
