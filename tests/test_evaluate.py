"""saliency evaluate: metric functions against hand-computed values, the AOPC loop on a tiny model,
and measured faithfulness and the randomisation check on the shipped SST-2 model."""

import json
import math
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliency.records import io
from saliency.cli import app
from saliency.evaluation.evaluate import EvalSettings, Item, evaluate, faithfulness, read_limited
from saliency.evaluation.metrics import (average_precision, kendall_tau, perturb, rankdata, rationale_labels, spearman,
                              token_f1, top_count)
from saliency.engines.torch_engine import RNNModel
from saliency.pipeline import Explainer
from saliency.evaluation.randomize import cascade, flagged, randomization_check, stages
from saliency.modelfile.registry import load_model_file
from saliency.tokenize import Token

from .conftest import explainer64, tiny_model_file

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=False)  # model_path's model (conftest)

DATA = os.path.join(os.path.dirname(__file__), "data")
SST2_DEV = os.path.join(DATA, "sst2-dev-200.tsv")
runner = CliRunner()


# -- metric functions, by hand ----------------------------------------------------------------

def test_ranks_and_rank_correlations_match_hand_computed_values():
    assert rankdata([3, 1, 2, 2]).tolist() == [4, 1, 2.5, 2.5]
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(1 - 6 * 2 / (4 * 15))  # 0.8
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx((5 - 1) / 6)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(2 * 3))  # tau-b with a tie
    assert math.isnan(spearman([1.0], [2.0])) and math.isnan(kendall_tau([1, 1], [1, 2]))


def test_precision_recall_and_token_f1_match_hand_computed_values():
    scores, labels = [0.9, 0.1, 0.5, 0.3], [1, 0, 0, 1]
    # ranked: 0 (hit), 2, 3 (hit), 1 -> precision 1/1 and 2/3 at the hits
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3) / 2)
    assert token_f1(scores, labels) == pytest.approx(0.5)  # top 2 = {0, 2}: one of two
    assert token_f1([0.1, 0.9], [0, 1]) == 1.0 and math.isnan(average_precision(scores, [0, 0, 0, 0]))


def test_top_counts_and_removal():
    assert [top_count(20, p) for p in (1, 5, 10, 20, 50)] == [1, 1, 2, 4, 10]
    assert top_count(3, 50) == 2
    ids = [5, 6, 7, 8]
    assert perturb(ids, [1, 3], "delete", 1, keep=False) == [5, 7]
    assert perturb(ids, [1, 3], "delete", 1, keep=True) == [6, 8]
    assert perturb(ids, [1, 3], "unk", 1, keep=False) == [5, 1, 7, 1]
    assert perturb(ids, [1, 3], "unk", 1, keep=True) == [1, 6, 1, 8]


def test_rationales_as_words_or_spans():
    tokens = [Token("A", 0, 1, 2, False), Token("great", 2, 7, 3, False), Token("film", 8, 12, 4, False)]
    assert rationale_labels(tokens, ["Great"]).tolist() == [False, True, False]
    assert rationale_labels(tokens, [[3, 4], [11, 20]]).tolist() == [False, True, True]
    with pytest.raises(ValueError):
        rationale_labels(tokens, "great")


# -- the AOPC loop on a tiny model, against forward passes done here --------------------------

def probability(model_file, ids, cls):
    model = RNNModel.from_weights(model_file.config, model_file.weights, torch.float64)
    with torch.no_grad():
        ids_t = torch.tensor([ids])
        logits = model(model.embed(ids_t), torch.tensor([len(ids)]))
    return torch.softmax(logits, -1)[0, cls].item()


def test_comprehensiveness_and_sufficiency_are_aopc_of_probability_drops():
    mf = tiny_model_file("gru", 1, False, seed=3)
    ex = explainer64(mf)
    a, b, c = ex.tokenizer.encode("abc")
    item = Item("abc", [a, b, c], 2, {"m": np.array([0.1, 0.9, 0.5])})
    comp, suff = faithfulness(ex.engine, [item], ["m"], "delete", 0, 1)
    # n = 3: the top 1%, 5%, 10%, 20% is token 1 (b); the top 50% is tokens 1 and 2 (b, c)
    p = probability(mf, [a, b, c], 2)
    want_comp = p - (4 * probability(mf, [a, c], 2) + probability(mf, [a], 2)) / 5
    want_suff = p - (4 * probability(mf, [b], 2) + probability(mf, [b, c], 2)) / 5
    assert comp[0, 0] == pytest.approx(want_comp, abs=1e-12)
    assert suff[0, 0] == pytest.approx(want_suff, abs=1e-12)
    comp, suff = faithfulness(ex.engine, [item], ["m"], "unk", 0, 1)
    want_comp = p - (4 * probability(mf, [a, 1, c], 2) + probability(mf, [a, 1, 1], 2)) / 5
    assert comp[0, 0] == pytest.approx(want_comp, abs=1e-12)


def records(texts, **fields):
    return [io.Record(i, t, {k: v[i] for k, v in fields.items()}, source="test") for i, t in enumerate(texts)]


def test_evaluate_schema_loo_and_plausibility_on_a_tiny_model():
    ex = explainer64(tiny_model_file("lstm", 1, True))
    texts = ["abc", "hag bed", "dead beef cafe", "fab ace", "bad cab"]
    grads = ex.explain(texts, "gradient")
    # A rationale of each text's top gradient token: the gradient's F1 and AUPRC must be exactly 1.
    top = [[[g.tokens[g.top(1)[0]].start, g.tokens[g.top(1)[0]].end]] for g in grads]
    settings = EvalSettings(("gradient", "occlusion"), removal="unk", rationale_field="why",
                            method_options={"occlude": "unk"})
    summary = evaluate(ex, records(texts, why=top), settings).summary
    assert set(summary) == {"records", "methods", "agreement", "randomization"}
    assert summary["records"] == 5 and summary["randomization"] == {}
    assert list(summary["methods"]) == ["gradient", "occlusion", "random"]
    for row in summary["methods"].values():
        assert set(row) == {"comprehensiveness", "sufficiency", "loo_tau", "plausibility"}
    # occlusion by <unk> is the leave-one-out reference itself when removal is unk
    assert summary["methods"]["occlusion"]["loo_tau"] == pytest.approx(1.0)
    assert summary["methods"]["gradient"]["plausibility"] == {"token_f1": 1.0, "auprc": 1.0}
    assert summary["methods"]["random"]["plausibility"]["token_f1"] < 1.0
    assert list(summary["agreement"]) == ["gradient|occlusion"]


def test_randomisation_cascades_from_the_head_down():
    mf = tiny_model_file("lstm", 2, True)
    names = [s for s, _ in stages(mf.config)]
    assert names == ["head", "layer 1", "layer 0", "embedding"]
    changed = []
    for stage, randomised in cascade(mf, seed=1):
        changed.append({k for k in mf.weights if not np.array_equal(mf.weights[k], randomised.weights[k])})
    assert changed[0] == {"head.weight", "head.bias"}
    assert all(a < b for a, b in zip(changed, changed[1:]))  # each stage keeps the ones before
    assert changed[-1] == set(mf.weights)
    assert flagged({"a": [{"stage": "head", "spearman": 0.9}], "b": [{"stage": "head", "spearman": 0.1}]}) == ["a"]


# -- measured on the shipped SST-2 model, 200 dev sentences, fixed seed -----------------------

@pytest.fixture(scope="module")
def sst2_dev():
    records, skipped = read_limited(SST2_DEV)
    assert len(records) == 200 and not skipped
    return records


def test_occlusion_and_gradient_beat_the_random_floor_on_sst2(sst2_dev):
    mf = load_model_file("sst2-lstm")
    ex = Explainer.from_model_file(mf, engine="torch")
    settings = EvalSettings(("gradient", "occlusion"), removal="unk", seed=0, method_options={"occlude": "unk"})
    summary = evaluate(ex, sst2_dev, settings).summary
    m = summary["methods"]
    assert summary["records"] == 200
    assert m["occlusion"]["comprehensiveness"] > m["random"]["comprehensiveness"] + 0.1
    assert m["gradient"]["comprehensiveness"] > m["random"]["comprehensiveness"] + 0.03
    assert m["gradient"]["loo_tau"] > abs(m["random"]["loo_tau"])


def test_full_randomisation_decorrelates_the_gradient_map_on_sst2(sst2_dev):
    mf = load_model_file("sst2-lstm")
    ex = Explainer.from_model_file(mf, engine="torch")
    texts = [r.text for r in sst2_dev[:100]]
    items = [Item(t, [tok.id for tok in g.tokens], g.target["index"], {"gradient": np.array([tok.score for tok in g.tokens])})
             for t, g in zip(texts, ex.explain(texts, "gradient"))]
    rows = randomization_check(mf, ex, items, EvalSettings(("gradient",), seed=0))["gradient"]
    assert [r["stage"] for r in rows] == ["head", "layer 0", "embedding"]
    assert rows[-1]["spearman"] < 0.5


# -- the command -------------------------------------------------------------------------------

def test_evaluate_command_json_text_and_errors(model_path, lm_path, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "why": ["a"]}) for t in ["abc", "bad cab", "", "fade"]) + "\n")
    result = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--methods", "gradient,grad-input",
                                 "--rationale-field", "why", "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 3 and "plausibility" in summary["methods"]["grad-input"]
    assert "record 2 skipped: empty text" in result.stderr  # numbered from 0, as batch numbers them
    result = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--methods", "gradient", "--limit", "2"])
    assert result.exit_code == 0 and "random (floor)" in result.stdout and "over 2 records" in result.stdout
    result = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--methods", "gradient", "--randomize",
                                 "-f", "json", "--seed", "3"])
    stages = [r["stage"] for r in json.loads(result.stdout)["randomization"]["gradient"]]
    assert result.exit_code == 0 and stages == ["head", "layer 0", "embedding"]
    bad = runner.invoke(app, ["evaluate", str(data), "-m", lm_path])
    assert bad.exit_code == 2 and "needs a classifier" in bad.stderr
    bad = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--methods", "gradient,nope"])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "nope" in bad.stderr
    bad = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--removal", "pad"])
    assert bad.exit_code == 2 and "--removal" in bad.stderr
    bad = runner.invoke(app, ["evaluate", str(data), "-m", model_path, "--rationale-field", "nope"])
    assert bad.exit_code == 3 and "no rationale field 'nope'" in bad.stderr


def test_the_table_marks_the_best_method_and_flags_a_map_that_ignores_the_model():
    from io import StringIO

    from rich.console import Console

    from saliency.render import evaluation_view

    summary = {"records": 9, "agreement": {"gradient|occlusion": 0.25}, "methods": {
        "gradient": {"comprehensiveness": 0.3, "sufficiency": 0.1, "loo_tau": 0.2},
        "occlusion": {"comprehensiveness": 0.5, "sufficiency": 0.4, "loo_tau": 0.9},
        "random": {"comprehensiveness": 0.6, "sufficiency": 0.05, "loo_tau": 0.0}},
        "randomization": {"gradient": [{"stage": "head", "spearman": 0.9}, {"stage": "embedding", "spearman": 0.8}],
                          "occlusion": [{"stage": "head", "spearman": 0.2}, {"stage": "embedding", "spearman": 0.1}]}}
    out = StringIO()
    Console(file=out, width=80, no_color=True).print(evaluation_view(summary, flagged(summary["randomization"])))
    text = out.getvalue()
    assert "0.500 *" in text and "0.100 *" in text and "0.900 *" in text  # higher / lower / higher is better
    assert "0.600 *" not in text and "0.050 *" not in text  # the random floor is shown, never "best"
    assert "random (floor)" in text and "0.250" in text
    assert text.count("barely changes") == 1 and all(len(line) <= 80 for line in text.splitlines())
