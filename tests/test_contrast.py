"""--contrast (F = logit(target) - logit(other)) and --target all, checked against single targets
and finite differences; the Python API's option and error handling."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency import InputError, UsageError, explain
from saliency.modelfile import checkpoint
from saliency.cli import app

from .conftest import ARCHITECTURES, arch_id, explainer64, tiny_model_file
from .gradcheck import check_input_gradient
from .test_gradients import padded_inputs

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["dead beef", "abc", "hag bed"]


def scores(result):
    return np.array([t.score for t in result.tokens])


@pytest.mark.parametrize("method, options", [
    ("grad-input", {}),
    ("integrated-gradients", {"steps": 20}),
    ("occlusion", {}),
])
@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_contrast_of_a_linear_method_is_the_difference_of_the_two_targets(method, options, engine):
    explainer = explainer64(tiny_model_file("lstm", 2, True), engine=engine)
    contrast = explainer.explain(TEXTS, method, target="neg", contrast="other", **options)
    neg = explainer.explain(TEXTS, method, target="neg", **options)
    other = explainer.explain(TEXTS, method, target="other", **options)
    for c, a, b in zip(contrast, neg, other):
        np.testing.assert_allclose(scores(c), scores(a) - scores(b), rtol=1e-9, atol=1e-12)
        assert c.target["value"] == pytest.approx(a.target["value"] - b.target["value"], rel=1e-12)
        assert c.target["contrast"] == {"label": "other", "index": 2}


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_the_contrast_gradient_is_the_difference_of_the_two_gradients(engine):
    explainer = explainer64(tiny_model_file("gru", 1, False), engine=engine)
    c = explainer.explain(["dead beef"], "gradient", target=0, contrast=1, vectors=True)[0]
    a = explainer.explain(["dead beef"], "gradient", target=0, vectors=True)[0]
    b = explainer.explain(["dead beef"], "gradient", target=1, vectors=True)[0]
    np.testing.assert_allclose(np.array(c.vectors), np.array(a.vectors) - np.array(b.vectors), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scores(c), np.linalg.norm(np.array(c.vectors), axis=-1), rtol=1e-12)
    # With log-probabilities the normaliser cancels: the same difference.
    lp = explainer.explain(["dead beef"], "gradient", target=0, contrast=1, objective="logprob", vectors=True)[0]
    np.testing.assert_allclose(lp.vectors, c.vectors, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_contrast_objective_matches_central_differences(arch):
    from saliency.engines.torch_engine import TorchEngine

    mf = tiny_model_file(**arch)
    engine = TorchEngine(mf, "float64")
    check_input_gradient(engine, *padded_inputs(mf, engine), objective_name="vs:1")


def test_the_numpy_engine_differentiates_the_contrast_as_torch_does():
    from saliency.engines.torch_engine import TorchEngine
    from saliency.engines.numpy_engine import NumpyEngine

    mf = tiny_model_file("lstm", 2, True, "lm")
    torch_engine, numpy_engine = TorchEngine(mf, "float64"), NumpyEngine(mf, "float64")
    inputs = padded_inputs(mf, torch_engine)
    _, v1, g1 = torch_engine.gradient(*inputs, "vs:3")
    _, v2, g2 = numpy_engine.gradient(*inputs, "vs:3")
    np.testing.assert_allclose(v1, v2, rtol=1e-10)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-12)


def test_target_all_gives_one_row_per_class_equal_to_each_single_target():
    explainer = explainer64(tiny_model_file("gru", 1, True))
    result = explainer.explain(["dead beef"], "grad-input", target="all", top=2)[0]
    assert [(r["target"], r["index"]) for r in result.rows] == [("neg", 0), ("pos", 1), ("other", 2)]
    for row in result.rows:
        single = explainer.explain(["dead beef"], "grad-input", target=row["index"])[0]
        np.testing.assert_allclose(row["scores"], scores(single), rtol=1e-12)
        assert row["value"] == pytest.approx(single.target["value"], rel=1e-12)
    assert result.target["label"] == result.prediction["label"]  # the row shown is the prediction's
    d = result.to_dict()
    assert [r["top"] for r in d["rows"]] == [result.top(2, r["scores"]) for r in result.rows]


def test_target_all_and_contrast_on_the_command_line(tmp_path):
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("lstm", 1, True), path)
    result = CliRunner().invoke(app, ["explain", "bad cafe", "-m", path, "--target", "all", "-f", "json"])
    assert [r["target"] for r in json.loads(result.stdout)["rows"]] == ["neg", "pos", "other"]
    text = CliRunner().invoke(app, ["explain", "bad cafe", "-m", path, "--target", "all", "--top", "1"],
                              env={"COLUMNS": "80"})
    lines = text.stdout.splitlines()
    assert lines[0].startswith("prediction ") and "target every class (logit)" in text.stdout
    first = lines.index("class: the input marked by its effect on that output") + 1
    assert [line.split()[0] for line in lines[first:first + 3]] == ["neg", "pos", "other"]
    assert all(line.count("[") == 1 for line in lines[first:first + 3])
    one = CliRunner().invoke(app, ["explain", "bad cafe", "-m", path, "--target", "pos", "--contrast", "neg"],
                             env={"COLUMNS": "80"})
    assert "target pos vs neg (logit difference " in one.stdout
    bad = CliRunner().invoke(app, ["explain", "bad cafe", "-m", path, "--contrast", "maybe"])
    assert bad.exit_code == 2 and "unknown target label 'maybe'" in bad.stderr


def test_target_all_is_for_classifiers():
    with pytest.raises(UsageError, match="classifiers"):
        explainer64(tiny_model_file("gru", 1, False, "lm")).explain(["abc"], target="all")


# -- the Python API ------------------------------------------------------------------------------

def test_an_unknown_option_is_refused_by_name():
    explainer = explainer64(tiny_model_file("gru", 1, False))
    with pytest.raises(UsageError, match=r"unknown option step \(method options: .*steps"):
        explainer.explain(["abc"], method="integrated-gradients", step=10)
    with pytest.raises(UsageError, match="unknown options colour, step"):
        explain(explainer, "abc", step=10, colour="red")
    # another method's parameter is ignored: one set of options serves every method
    assert explainer.explain(["abc"], "gradient", steps=10)[0].params == {"reduce": "l2"}


def test_errors_raise_by_default_and_return_on_request():
    explainer = explainer64(tiny_model_file("gru", 1, False))
    with pytest.raises(InputError, match="empty text"):
        explainer.explain(["abc", "  ", "bad"])
    results = explainer.explain(["abc", "  ", "bad"], errors="return")
    assert isinstance(results[1], InputError) and [results[0].text, results[2].text] == ["abc", "bad"]
    with pytest.raises(UsageError, match="errors must be"):
        explainer.explain(["abc"], errors="ignore")


def test_the_torch_module_is_public():
    import torch

    mf = tiny_model_file("gru", 1, False)
    explainer = explainer64(mf)
    assert isinstance(explainer.torch_module, torch.nn.Module)
    assert explainer.torch_module is explainer.engine.model
    with pytest.raises(UsageError, match="numpy engine has no torch module"):
        explainer64(mf, engine="numpy").torch_module


def test_a_checkout_finds_its_models_when_python_imports_it_from_the_root():
    # As after a plain `pip install .`: from the repository root, `import saliency` is ./saliency,
    # whatever is installed. Drop the editable install's finder to see exactly that.
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
            "import saliency, saliency.cli; from saliency.modelfile.registry import shipped_models; "
            "print(saliency.__file__, sorted(shipped_models()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == str(ROOT / "saliency" / "__init__.py")
    assert "['names-gru', 'shakespeare-lstm', 'shakespeare-rnn', 'sst2-lstm', 'ud-pos']" in out.stdout


# -- the command line: errors said early and in terms of what to do ------------------------------

def run_cli(*args, env=None):
    code = ("import sys; import saliency.cli as c; sys.argv = ['saliency'] + sys.argv[1:]\n"
            "try:\n    c.main()\nexcept SystemExit as e:\n"
            "    print('exit', e.code, 'torch' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_a_missing_batch_file_is_said_before_torch_loads(tmp_path):
    out = run_cli("batch", str(tmp_path / "missing.txt"))
    assert out.stdout.decode().split() == ["exit", "3", "False"]
    assert out.stderr.decode() == f"Error: cannot read {tmp_path / 'missing.txt'}: No such file or directory\n"


def test_a_numpy_file_given_as_a_model_points_to_import(tmp_path):
    result = CliRunner().invoke(app, ["explain", "abc", "-m", str(tmp_path / "course.npz")])
    assert result.exit_code == 4
    assert result.stderr == (f"Error: {tmp_path / 'course.npz'} is a numpy file, not a model file: convert it "
                             f"with `saliency import {tmp_path / 'course.npz'} -o model.safetensors`\n")


@pytest.mark.parametrize("locale", ["C.UTF-8", "C", "POSIX"])
def test_text_that_is_not_utf8_is_bad_input_in_one_line(locale):
    env = {"LC_ALL": locale, "LANG": locale, "PYTHONUTF8": "", "COLUMNS": "80"}
    out = run_cli("explain", b"caf\xe9 bad", "-f", "json", env=env)
    assert out.stdout.decode().split() == ["exit", "3", "False"]
    assert out.stderr.decode() == "Error: TEXT is not valid UTF-8 (character 3)\n"


def test_commands_built_on_explain_go_on_past_a_text_that_fails(tmp_path):
    # explain raises by default now; evaluate (leave-one-out of a one-token text) and decay ask
    # for errors="return" and carry on, and decay's JSON holds plain numbers.
    data = tmp_path / "e.txt"
    data.write_text("a\nthe movie was great\n")
    result = CliRunner().invoke(app, ["evaluate", str(data), "--methods", "gradient", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == 2
    decay = CliRunner().invoke(app, ["decay", "-m", "names-gru", str(data), "-f", "json"])
    assert decay.exit_code == 0, decay.output
    assert [row["from"] for row in json.loads(decay.stdout)["rows"]][:2] == [0, 1]
