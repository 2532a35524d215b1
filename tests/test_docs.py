"""README stays true: every command and exit code is documented, and every command has help."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from saliency import errors
from saliency.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(get_command(app).commands)


def test_the_commands_are_the_ones_we_ship():
    assert COMMANDS == ["batch", "explain", "flip", "import", "inspect", "models", "prototype", "reduce", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme_and_has_help(command):
    assert f"saliency {command}" in README
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_every_exit_code_is_in_the_readme_table():
    codes = {cls.exit_code for cls in (errors.UsageError, errors.InputError, errors.ModelError)}
    codes |= {errors.EXIT_RECORDS_FAILED, errors.EXIT_INTERRUPTED, errors.EXIT_BROKEN_PIPE, 0}
    table = set(int(c) for c in re.findall(r"^\| (\d+) \|", README, re.M))
    assert codes <= table


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if "pytest" in line).strip()
    assert command in README


def test_inspect_reports_a_shipped_model():
    import json

    result = CliRunner().invoke(app, ["inspect", "names-gru", "--format", "json"])
    report = json.loads(result.stdout)
    assert report["config"]["cell"] == "gru" and len(report["labels"]) == 18
    assert len(report["sha256"]) == 64 and report["parameters"] > 10_000
    assert report["info"]["figures"]["test"]["accuracy"] > 0.8
    bad = CliRunner().invoke(app, ["inspect", "nope"])
    assert bad.exit_code == 4 and "unknown model 'nope'" in bad.stderr
