"""docs/robustness.md's ```sh blocks run as written, exit 0 and print something (as README's do)."""

import os
import subprocess
import sys

import pytest

from .test_readme_commands import ROOT, fenced_blocks

DOC = (ROOT / "docs" / "robustness.md").read_text()
COMMANDS = [line.strip() for info, body in fenced_blocks(DOC) if info == "sh" for line in body.splitlines()
            if line.strip()]


def test_the_page_has_commands_and_the_readme_points_to_it():
    assert len(COMMANDS) >= 2
    assert "docs/robustness.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("command", COMMANDS)
def test_robustness_page_command_runs_as_written(command, tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], "COLUMNS": "80"}
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip()
