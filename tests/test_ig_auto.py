"""Integrated gradients with steps="auto" (issue 12): each text is refined by tripling its midpoint
count until its relative completeness gap is under the tolerance, reusing every gradient."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency import load_model
from saliency.attribution.integrated_gradients import AUTO_CAP, AUTO_START, refined_nodes
from saliency.cli import app
from saliency.errors import UsageError

from .conftest import TEXTS, explainer64, tiny_model_file

IG = "integrated-gradients"


class Counter:
    """An engine wrapper that counts the path points it is asked for gradients at."""

    def __init__(self, engine):
        self.engine, self.config, self.rows = engine, engine.config, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def gradient(self, x, *args):
        self.rows += x.shape[0]
        return self.engine.gradient(x, *args)


def scores(result):
    return np.array([t.score for t in result.tokens])


def test_the_new_nodes_with_the_old_are_the_midpoints_of_three_times_as_many():
    for steps in (1, 16, 48):
        old = (np.arange(steps) + 0.5) / steps
        both = np.sort(np.r_[old, refined_nodes(steps)])
        np.testing.assert_allclose(both, (np.arange(3 * steps) + 0.5) / (3 * steps), rtol=0, atol=1e-15)


@pytest.mark.parametrize("arch", [dict(cell="lstm"), dict(cell="gru", bidirectional=True, layers=2),
                                  dict(cell="rnn", head="lm")], ids=lambda a: "-".join(map(str, a.values())))
@pytest.mark.parametrize("tolerance", [1e-2, 1e-3])
def test_every_text_ends_under_tolerance_or_at_the_cap(arch, tolerance):
    explainer = explainer64(tiny_model_file(**arch))
    results = explainer.explain(TEXTS, IG, steps="auto", tolerance=tolerance)
    used = [r.completeness["steps"] for r in results]
    assert all(r.completeness["relative"] <= tolerance or r.completeness["steps"] == AUTO_CAP for r in results)
    assert set(used) <= {AUTO_START * 3 ** k for k in range(5)}
    assert results[0].params == {"steps": "auto", "baseline": "zero", "tolerance": tolerance}


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_each_text_equals_a_plain_midpoint_run_at_its_own_final_count(engine):
    # The reused sums are right: the result is the midpoint rule at the count the text stopped at.
    explainer = explainer64(tiny_model_file("lstm", 1, False), engine)
    auto = explainer.explain(TEXTS, IG, steps="auto", tolerance=1e-3)
    assert len({r.completeness["steps"] for r in auto}) >= 3  # measured: 16, 48, 144 and 432
    for text, r in zip(TEXTS, auto):
        plain = explainer.explain([text], IG, steps=r.completeness["steps"])[0]
        np.testing.assert_allclose(scores(r), scores(plain), rtol=0, atol=1e-10)
        assert r.completeness["delta"] == pytest.approx(plain.completeness["delta"], abs=1e-10)
        assert "steps" not in plain.completeness and "tolerance" not in plain.params


def test_batched_equals_one_by_one():
    explainer = explainer64(tiny_model_file("gru", 1, True), batch_size=64)
    together = explainer.explain(TEXTS, IG, steps="auto", tolerance=1e-3, baseline="unk")
    for text, r in zip(TEXTS, together):
        alone = explainer.explain([text], IG, steps="auto", tolerance=1e-3, baseline="unk")[0]
        assert alone.completeness["steps"] == r.completeness["steps"]
        np.testing.assert_allclose(scores(r), scores(alone), rtol=0, atol=1e-12)


def test_each_node_is_evaluated_once_and_fewer_than_fixed_steps_need():
    explainer = explainer64(tiny_model_file("lstm", 1, False), "numpy")
    explainer.engine = counter = Counter(explainer.engine)
    auto = explainer.explain(TEXTS, IG, steps="auto", tolerance=1e-3)
    used = sum(r.completeness["steps"] for r in auto)
    assert counter.rows == used  # refining evaluates only the new nodes
    worst = max(r.completeness["relative"] for r in auto)
    # Every fixed count that costs no more gradients leaves some text with a larger gap.
    budget = used // len(TEXTS)
    assert budget < max(r.completeness["steps"] for r in auto)  # measured: 156 against 432
    for steps in range(16, budget + 1, 10):
        fixed = explainer.explain(TEXTS, IG, steps=steps)
        assert max(r.completeness["relative"] for r in fixed) > worst, steps


def test_the_cost_estimate_grows_as_the_tolerance_shrinks():
    from saliency.attribution import make_method

    costs = [make_method(IG, steps="auto", tolerance=t).cost(20) for t in (0.5, 0.05, 0.01, 1e-4)]
    assert costs[0] == AUTO_START + 2 and costs[-1] == AUTO_CAP + 2
    assert costs[0] < costs[1] < costs[2] < costs[3]


def test_progress_runs_forward_round_after_round():
    seen = []
    explainer = explainer64(tiny_model_file("lstm", 1, False), "numpy")
    auto = explainer.explain(["dead beef", "abc"], IG, steps="auto", tolerance=1e-3,
                             progress=lambda done, total: seen.append((done, total)))
    assert all(a[0] < b[0] and a[1] <= b[1] for a, b in zip(seen, seen[1:]))
    assert seen[-1][0] == seen[-1][1] == sum(r.completeness["steps"] for r in auto)


@pytest.mark.parametrize("options, message", [
    (dict(steps="many"), "whole number or 'auto'"),
    (dict(steps="auto", rule="gauss-legendre"), "--rule gauss-legendre"),
    (dict(steps="auto", tolerance=0.0), "--tolerance"),
    (dict(steps="auto", tolerance=1.0), "--tolerance"),
    (dict(steps="auto", tolerance=-0.1), "--tolerance"),
    (dict(steps="auto", tolerance=float("nan")), "--tolerance"),
    (dict(steps="auto", tolerance=float("inf")), "--tolerance"),
    (dict(steps="auto", tolerance="0.01"), "--tolerance"),
    (dict(steps="auto", tolerance=True), "--tolerance"),
])
def test_bad_steps_or_tolerance_are_usage_errors(options, message):
    explainer = explainer64(tiny_model_file())
    with pytest.raises(UsageError, match=message):
        explainer.explain(["abc"], IG, **options)


def test_cli_steps_auto_gives_each_text_its_count(model_path, tmp_path):
    runner = CliRunner()
    args = ["-m", model_path, "--method", IG, "--steps", "auto", "--tolerance", "0.001"]
    one = runner.invoke(app, ["explain", "dead beef cafe", "-f", "json", *args])
    assert one.exit_code == 0, one.output
    d = json.loads(one.stdout)
    assert d["params"] == {"steps": "auto", "baseline": "zero", "tolerance": 0.001}
    assert d["completeness"]["steps"] in (16, 48, 144, 432, 1296) and d["completeness"]["relative"] <= 0.001
    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(TEXTS) + "\n")
    batch = runner.invoke(app, ["batch", str(lines), "-f", "jsonl", *args])
    records = [json.loads(line) for line in batch.stdout.splitlines()]
    assert batch.exit_code == 0 and len(records) == len(TEXTS)
    # the same text alone or in a batch (explain runs the numpy engine, batch torch: float32 both)
    assert records[3]["completeness"]["steps"] == d["completeness"]["steps"]
    assert records[3]["completeness"]["delta"] == pytest.approx(d["completeness"]["delta"], rel=1e-3)
    assert all(r["completeness"]["relative"] <= 0.001 or r["completeness"]["steps"] == 1296 for r in records)
    fixed = json.loads(runner.invoke(app, ["explain", "abc", "-f", "json", "-m", model_path, "--method", IG]).stdout)
    assert "steps" not in fixed["completeness"] and fixed["params"] == {"steps": 50, "baseline": "zero"}


@pytest.mark.parametrize("args, fragment", [
    (["--steps", "lots"], "'lots' is not a whole number or 'auto'"),
    (["--steps", "2.5"], "whole number or 'auto'"),
    (["--steps", "auto", "--tolerance", "2"], "--tolerance must be a number between 0 and 1"),
    (["--steps", "auto", "--tolerance", "nan"], "--tolerance"),
    (["--steps", "auto", "--rule", "gauss-legendre"], "--rule gauss-legendre"),
])
def test_cli_refuses_bad_steps_and_tolerance(model_path, args, fragment):
    result = CliRunner().invoke(app, ["explain", "abc", "-m", model_path, "--method", IG, *args])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and fragment in result.stderr.splitlines()[0], result.stderr
    assert "Traceback" not in result.stderr


def test_default_model_reaches_one_percent_per_text():
    sst2 = load_model("sst2-lstm", engine="numpy")
    texts = ["the acting is wooden but the score is gorgeous", "a dull , lifeless and boring mess .",
             "an excellent film with brilliant performances ."]
    for r in sst2.explain(texts, IG, steps="auto", tolerance=0.01):
        assert r.completeness["relative"] <= 0.01 or r.completeness["steps"] == AUTO_CAP, r.completeness


def test_people_see_the_count_and_a_warning_says_what_to_change(model_path):
    text = CliRunner().invoke(app, ["explain", "dead beef cafe", "-m", model_path, "--method", IG, "--steps", "auto",
                                    "--tolerance", "0.001"])
    assert text.exit_code == 0 and "1,296 path points)" in text.stdout  # measured: this text needs the cap
    r = explainer64(tiny_model_file()).explain(["abc"], IG, steps="auto")[0]
    advice = {}
    for steps in (None, 48, AUTO_CAP):
        r.completeness = {"delta": 0.1, "reference": 0.0, "relative": 0.1}
        if steps:
            r.completeness["steps"] = steps
        advice[steps] = r.completeness_warning()
    assert advice[None].endswith("raise --steps") and advice[48].endswith("lower --tolerance")
    assert advice[AUTO_CAP].endswith("give --steps above 1,296")
