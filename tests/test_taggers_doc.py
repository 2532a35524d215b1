"""docs/taggers.md: every command in its ```sh blocks runs as written (shipped models only) and exits 0."""

import os
import subprocess
import sys
from pathlib import Path

from .test_readme_commands import fenced_blocks

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "taggers.md").read_text()


def commands():
    out = []
    for body in [body for info, body in fenced_blocks(DOC) if info == "sh"]:
        out += [line.strip() for line in body.splitlines() if line.strip()]
    return out


def test_the_doc_has_commands():
    assert len(commands()) >= 8 and all("-m ud-pos" in c for c in commands() if c.startswith("saliency"))


def test_doc_commands_run_in_order(tmp_path):
    """In one folder, in order: a later command reads what an earlier one wrote."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    for command in commands():
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr, command
        if ">" not in command:
            assert result.stdout.strip(), command
            assert max(len(line) for line in result.stdout.splitlines()) <= 80, command
    assert (tmp_path / "tagged.jsonl").read_text().count("\n") == 1
