"""The documentation stays true: every command and exit code is documented (README.md or docs/),
every command has help, and README stays a front door (at most 300 lines, pointing to docs/)."""

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from saliency import errors
from saliency.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = README + "".join(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))
COMMANDS = sorted(get_command(app).commands)


def test_the_commands_are_the_ones_we_ship():
    assert COMMANDS == ["batch", "decay", "evaluate", "explain", "flip", "import", "inspect", "models", "prototype", "reduce", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented_and_has_help(command):
    assert f"saliency {command}" in DOCS
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_every_exit_code_is_in_the_readme_table_with_its_meaning():
    table = {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+?) \|$", DOCS, re.M)}
    # Each code the program returns is in the table, on the row that says what it means.
    meanings = {0: "success", errors.UsageError.exit_code: "usage", errors.InputError.exit_code: "bad input",
                errors.ModelError.exit_code: "model", errors.EXIT_RECORDS_FAILED: "records failed",
                errors.EXIT_INTERRUPTED: "interrupted", errors.EXIT_BROKEN_PIPE: "reader of stdout went away",
                errors.EXIT_RUN_FAILED: "run failed", errors.EXIT_TERMINATED: "terminated"}
    for code, meaning in meanings.items():
        assert meaning in table.get(code, ""), (code, table.get(code))
    # and the table holds no code that nothing returns
    returned = {v for k, v in vars(errors).items() if k.startswith("EXIT_")} | {0}
    returned |= {cls.exit_code for cls in vars(errors).values()
                 if isinstance(cls, type) and issubclass(cls, errors.SaliencyError) and cls is not errors.SaliencyError}
    assert set(table) == returned


def test_the_readme_is_a_front_door_that_points_to_every_doc():
    assert len(README.splitlines()) <= 300
    for path in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{path.name}" in README, path.name


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
