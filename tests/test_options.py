"""The command line driven by the method registry (issue 23, item 4).

--method's choices are the registry's; every parameter of every method is a flag, made from its
dataclass field, on every command that takes --method, and reaches the method the same way in
each; commands take their options in groups (cli/options.py) and write results through one
helper (cli/output.py).
"""

import inspect
import io
import json
from dataclasses import MISSING, fields

import pytest
from typer.main import get_command

from saliency.attribution import DEFAULT_METHOD, METHODS
from saliency.cli import app, batch, explain, train
from saliency.cli.options import Group, ModelOptions, grouped
from saliency.cli.output import Results

from .test_cli import one_line_error, run
from .test_methods import ROWS

COMMANDS = get_command(app).commands
TAKE_A_METHOD = ["explain", "batch", "reduce"]  # --method; evaluate scores several (--methods)
OWN_SEED = {"evaluate"}  # --seed is evaluate's own (its random floor and randomised weights too)


def options_of(command):
    return {name: p for p in COMMANDS[command].params for name in p.opts}


def parameters():
    """{name: (field, [methods])} over the registry, as the CLI reads it."""
    found = {}
    for name, cls in METHODS.items():
        for f in fields(cls):
            found.setdefault(f.name, (f, []))[1].append(name)
    return found


def test_method_choices_are_the_registry():
    help_text = options_of("explain")["--method"].help
    assert help_text.startswith(" | ".join(METHODS) + " (")
    result = run("explain", "x", "--method", "gradient,magic")
    assert result.exit_code == 2 and f"'magic' is not one of {', '.join(METHODS)}." in result.stderr
    assert options_of("explain")["--method"].default == DEFAULT_METHOD == "grad-input"
    assert options_of("batch")["--method"].default == DEFAULT_METHOD
    assert options_of("reduce")["--method"].default == "gradient"


@pytest.mark.parametrize("command", TAKE_A_METHOD + ["evaluate"])
def test_every_method_parameter_is_a_flag_with_its_fields_default_and_help(command):
    options = options_of(command)
    for name, (f, owners) in parameters().items():
        option = options["--" + name.replace("_", "-")]
        assert option.default == f.default
        if name == "seed" and command in OWN_SEED:
            assert option.help.startswith("Seed of the random floor, smoothgrad's noise")
            continue
        when = f" {f.metadata['when']}" if f.metadata.get("when") else ""
        assert option.help == f"{', '.join(owners)}{when}: {f.metadata['help']}"
        assert option.rich_help_panel == "Method options"
        if f.metadata.get("choices"):
            assert option.metavar == "|".join(f.metadata["choices"])


def test_the_method_flags_are_the_methods_parameters_and_nothing_else():
    method_flags = {p.opts[0] for p in COMMANDS["explain"].params if p.rich_help_panel == "Method options"}
    assert method_flags == {"--method", "--vectors"} | {"--" + n.replace("_", "-") for n in parameters()}


def test_each_parameter_declares_its_help_and_agrees_where_methods_share_it():
    for name, (first, owners) in parameters().items():
        for method in owners:
            f = next(f for f in fields(METHODS[method]) if f.name == name)
            assert f.default is not MISSING and f.metadata.get("help", "").endswith("."), (method, name)
            # one flag serves every method that has the parameter: they must mean the same by it
            assert (f.type, f.default, dict(f.metadata)) == (first.type, first.default, dict(first.metadata))


REFUSALS = [(name, command) for name, row in ROWS.items() if row.refused for command in TAKE_A_METHOD + ["evaluate"]]


@pytest.mark.parametrize("name, command", REFUSALS, ids=[f"{n}-{c}" for n, c in REFUSALS])
def test_a_value_a_method_refuses_is_refused_alike_by_every_command(model_path, tmp_path, name, command):
    option, value, says = ROWS[name].refused
    data = tmp_path / "in.txt"
    data.write_text("bad cafe\n")
    first = {"explain": ["bad cafe"], "batch": [str(data)], "reduce": ["bad cafe"], "evaluate": [str(data)]}[command]
    choose = ["--methods" if command == "evaluate" else "--method", name]
    one_line_error(run(command, *first, "-m", model_path, *choose, f"--{option}", value), 2, says)


def test_evaluate_takes_rule(model_path, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("bad cafe\ndead beef\n")
    common = ["evaluate", str(data), "-m", model_path, "--methods", "integrated-gradients", "-f", "json"]
    one_line_error(run(*common, "--steps", "auto", "--rule", "gauss-legendre"), 2,
                   "--steps auto refines midpoint nodes")
    default, midpoint = (run(*common, "--steps", "3", *more) for more in ([], ["--rule", "midpoint"]))
    assert default.exit_code == 0 and default.stdout == midpoint.stdout
    assert "integrated-gradients" in json.loads(default.stdout)["methods"]


def test_reduce_takes_the_methods_options(model_path):
    plain = run("reduce", "bad cafe dead", "-m", model_path, "--method", "smoothgrad", "-f", "json")
    same = run("reduce", "bad cafe dead", "-m", model_path, "--method", "smoothgrad", "--samples", "25", "-f", "json")
    assert plain.exit_code == 0 and plain.stdout == same.stdout
    one_line_error(run("reduce", "bad cafe", "-m", model_path, "--method", "smoothgrad", "--noise", "-1"), 2,
                   "--noise must be between 0 and 100")


def test_batch_explain_and_train_take_their_options_in_groups():
    # the Python signatures; typer sees each group's options one by one
    assert len(inspect.signature(inspect.unwrap(batch.batch)).parameters) < 12
    assert len(inspect.signature(inspect.unwrap(explain.explain)).parameters) < 8
    assert len(inspect.signature(inspect.unwrap(train.train)).parameters) < 8
    method_flags = len(parameters())  # 11 today: a new method's parameters add theirs
    assert len(COMMANDS["batch"].params) == 26 + method_flags  # FILES and the flat options, as before the groups
    assert len(COMMANDS["explain"].params) == 12 + method_flags
    assert len(COMMANDS["train"].params) == 30  # DATA and 29 options


def test_grouped_hands_the_command_one_object_per_group_and_refuses_a_flag_twice():
    seen = {}

    def command(text: str = "", model: ModelOptions = Group(ModelOptions, "model", "engine", device="cuda")):
        seen.update(text=text, model=model)

    flat = grouped(command)
    assert list(inspect.signature(flat).parameters) == ["text", "model", "engine"]
    flat(text="a", model="m.safetensors", engine="numpy")
    assert seen == {"text": "a", "model": ModelOptions(model="m.safetensors", engine="numpy", device="cuda")}

    def twice(model: ModelOptions = Group(ModelOptions, "model", "engine"), engine: str = "auto"):
        pass

    with pytest.raises(TypeError, match="listed twice"):
        grouped(twice)


def test_results_write_json_whole_and_call_only_what_the_format_needs(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    Results("jsonl").show(view=lambda: pytest.fail("a view made for JSON"), json=lambda: '{"a": 1}')
    assert out.getvalue() == '{"a": 1}\n'
    page = Results("html", "a title")
    page.close(empty_page=False)
    assert out.getvalue() == '{"a": 1}\n'  # nothing shown, no page
    page.show(view=lambda: "shown", json=lambda: pytest.fail("JSON made for a page"))
    page.close()
    assert "<title>a title</title>" in out.getvalue() and "shown" in out.getvalue()
