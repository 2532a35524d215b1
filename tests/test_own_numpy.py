"""numpy char-RNNs explained exactly as their authors' code runs them.

The authors' forwards are written out here, a few lines each, from the Coursera course
(rnn_cell_forward, lstm_cell_forward, the x<1> = 0 of "Dinosaurus Island") and Karpathy's
min-char-rnn; the imported model must give their probabilities to 1e-10 in float64, on both
engines and in LRP's recorded re-run, and its dx must match finite differences.
"""

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from saliency.attribution.recorded import network_of
from saliency.importers.numpy_layouts import COURSE_VOCAB
from saliency.cli import app
from saliency.errors import InputError, ModelError, UsageError
from saliency.importers import import_char_rnn
from saliency.engines.torch_engine import TorchEngine
from saliency.engines.numpy_engine import NumpyEngine
from saliency.pipeline import Explainer

from .gradcheck import check_input_gradient

runner = CliRunner()
IX = {c: i for i, c in enumerate(COURSE_VOCAB)}


def softmax(z):
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def one_hot(c):
    x = np.zeros((len(COURSE_VOCAB), 1))
    x[IX[c]] = 1
    return x


def course_rnn_params(n_a=10, seed=0):
    rng = np.random.default_rng(seed)
    n_x = len(COURSE_VOCAB)
    return {"Wax": rng.normal(0, 0.6, (n_a, n_x)), "Waa": rng.normal(0, 0.6, (n_a, n_a)),
            "Wya": rng.normal(0, 0.6, (n_x, n_a)), "ba": rng.normal(0, 0.3, (n_a, 1)),
            "by": rng.normal(0, 0.3, (n_x, 1))}


def course_lstm_params(n_a=7, seed=1):
    rng = np.random.default_rng(seed)
    n_x = len(COURSE_VOCAB)
    p = {f"W{g}": rng.normal(0, 0.5, (n_a, n_a + n_x)) for g in "fico"}
    p.update({f"b{g}": rng.normal(0, 0.3, (n_a, 1)) for g in "fico"})
    p.update({"Wy": rng.normal(0, 0.6, (n_x, n_a)), "by": rng.normal(0, 0.3, (n_x, 1))})
    return p


def course_rnn_forward(p, text, zero_start):
    """The course's rnn_cell_forward over the text; with zero_start, x<1> = 0 first (its sampling
    and training loop). y_t after each character of the text."""
    a = np.zeros((p["Waa"].shape[0], 1))
    xs = ([np.zeros((len(COURSE_VOCAB), 1))] if zero_start else []) + [one_hot(c) for c in text]
    ys = []
    for x in xs:
        a = np.tanh(p["Wax"] @ x + p["Waa"] @ a + p["ba"])  # rnn_cell_forward
        ys.append(softmax(p["Wya"] @ a + p["by"])[:, 0])
    return np.array(ys[1:] if zero_start else ys)


def course_lstm_forward(p, text, zero_start):
    """The course's lstm_cell_forward: gates over concat = [a_prev; xt]."""
    n_a = p["Wy"].shape[1]
    a, c = np.zeros((n_a, 1)), np.zeros((n_a, 1))
    xs = ([np.zeros((len(COURSE_VOCAB), 1))] if zero_start else []) + [one_hot(ch) for ch in text]
    ys = []
    for xt in xs:
        concat = np.concatenate([a, xt])
        ft = sigmoid(p["Wf"] @ concat + p["bf"])
        it = sigmoid(p["Wi"] @ concat + p["bi"])
        cct = np.tanh(p["Wc"] @ concat + p["bc"])
        c = ft * c + it * cct
        ot = sigmoid(p["Wo"] @ concat + p["bo"])
        a = ot * np.tanh(c)
        ys.append(softmax(p["Wy"] @ a + p["by"])[:, 0])
    return np.array(ys[1:] if zero_start else ys)


def min_char_rnn_forward(p, ixes):
    """min-char-rnn's lossFun forward: hs[t] = tanh(Wxh xs[t] + Whh hs[t-1] + bh); ps = softmax(Why hs + by)."""
    vocab_size = p["Wxh"].shape[1]
    hs, ps = {-1: np.zeros((p["Whh"].shape[0], 1))}, []
    for t, ix in enumerate(ixes):
        xs = np.zeros((vocab_size, 1))
        xs[ix] = 1
        hs[t] = np.tanh(np.dot(p["Wxh"], xs) + np.dot(p["Whh"], hs[t - 1]) + p["bh"])
        ys = np.dot(p["Why"], hs[t]) + p["by"]
        ps.append((np.exp(ys) / np.sum(np.exp(ys)))[:, 0])
    return np.array(ps)


def engine_probabilities(engine, model_file, text):
    ids = np.array([model_file.tokenizer.encode(text)])
    logits = np.asarray(engine.forward(engine.embed(ids), np.array([len(text)])))[0]
    return softmax(logits.T).T


CASES = [("course-rnn", course_rnn_params, course_rnn_forward),
         ("course-lstm", course_lstm_params, course_lstm_forward)]


@pytest.mark.parametrize("zero_start", [False, True], ids=["plain", "zero-start"])
@pytest.mark.parametrize("name,params,forward", CASES, ids=[c[0] for c in CASES])
def test_the_course_forward_exactly_on_both_engines_and_in_lrp(name, params, forward, zero_start):
    p = params()
    model_file = import_char_rnn(p, zero_start=zero_start)
    assert model_file.config.zero_start is zero_start and model_file.tokenizer.vocab == COURSE_VOCAB
    text = "tyrannosaurus\nrex"
    want = forward(p, text, zero_start)
    for engine in (NumpyEngine(model_file, "float64"), TorchEngine(model_file, "float64")):
        got = engine_probabilities(engine, model_file, text)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        x = engine.embed(np.array([model_file.tokenizer.encode(text)]))
        recorded = network_of(engine).logits(np.asarray(x), np.array([len(text)]))[0]
        np.testing.assert_allclose(softmax(recorded.T).T, want, rtol=0, atol=1e-12)
    # float32, the default: within 1e-5 of the author's float64
    got32 = engine_probabilities(NumpyEngine(model_file, "float32"), model_file, text)
    assert np.abs(got32 - want).max() < 1e-5


@pytest.mark.parametrize("cell", ["course-rnn", "course-lstm"])
def test_zero_start_dx_matches_finite_differences_and_the_engines_agree(cell):
    p = course_rnn_params() if cell == "course-rnn" else course_lstm_params()
    model_file = import_char_rnn(p, zero_start=True)
    engines = [NumpyEngine(model_file, "float64"), TorchEngine(model_file, "float64")]
    ids = np.array([model_file.tokenizer.encode("stegosaurus"), model_file.tokenizer.encode("rex") + [0] * 8])
    lengths, positions, classes = np.array([11, 3]), np.array([6, 2]), np.array([IX["s"], IX["\n"]])
    x = engines[0].embed(ids)
    dxs = [engine.gradient(x, lengths, positions, classes)[2] for engine in engines]
    np.testing.assert_allclose(dxs[0], dxs[1], rtol=0, atol=1e-10)
    for engine in engines:
        check_input_gradient(engine, x, lengths, positions, classes)
        check_input_gradient(engine, x, lengths, positions, classes, "logprob")


def test_dx_with_zero_start_equals_the_course_backward():
    """rnn_backward with a<0> the state after x<1> = 0: d logit_s(position) / d x_t."""
    p = course_rnn_params()
    text, position, target = "diplodocus", 6, IX["s"]
    a = [np.tanh(p["Waa"] @ np.zeros((10, 1)) + p["ba"])]  # after the zero step
    for c in text:
        a.append(np.tanh(p["Wax"] @ one_hot(c) + p["Waa"] @ a[-1] + p["ba"]))
    da_next = p["Wya"][target][:, None]
    want = np.zeros((len(text), len(COURSE_VOCAB)))
    for t in reversed(range(position + 1)):
        dtanh = (1 - a[t + 1] ** 2) * da_next
        want[t] = (p["Wax"].T @ dtanh)[:, 0]
        da_next = p["Waa"].T @ dtanh
    model_file = import_char_rnn(p, zero_start=True)
    for engine in (NumpyEngine(model_file, "float64"), TorchEngine(model_file, "float64")):
        ids = np.array([model_file.tokenizer.encode(text)])
        _, _, dx = engine.gradient(engine.embed(ids), np.array([len(text)]), np.array([position]),
                                   np.array([target]))
        np.testing.assert_allclose(dx[0], want, rtol=0, atol=1e-12)


def test_min_char_rnn_forward_exactly():
    rng = np.random.default_rng(3)
    chars = list("hello world")  # min-char-rnn: chars = list(set(data)), in the author's order
    V, H = len(set(chars)), 9
    vocab = sorted(set(chars))
    p = {"Wxh": rng.normal(0, 0.5, (H, V)), "Whh": rng.normal(0, 0.5, (H, H)), "Why": rng.normal(0, 0.5, (V, H)),
         "bh": rng.normal(0, 0.2, (H, 1)), "by": rng.normal(0, 0.2, (V, 1))}
    model_file = import_char_rnn(p, vocab)
    text = "hello world"
    want = min_char_rnn_forward(p, [vocab.index(c) for c in text])
    for engine in (NumpyEngine(model_file, "float64"), TorchEngine(model_file, "float64")):
        np.testing.assert_allclose(engine_probabilities(engine, model_file, text), want, rtol=0, atol=1e-12)


def test_the_course_names_b_and_ba_both_import_and_a_wrong_layout_lists_every_accepted_one():
    p = course_rnn_params()
    with_b = dict(p, b=p["ba"])
    del with_b["ba"]
    a, b = import_char_rnn(p), import_char_rnn(with_b)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    with pytest.raises(ModelError) as e:
        import_char_rnn({"Wax": p["Wax"], "by": p["by"]})
    assert "{Wax, Waa, Wya, ba, by}" in str(e.value) and "{Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy, by}" in str(e.value)
    lstm = course_lstm_params()
    lstm["Wf"] = lstm["Wf"][:, :-1]
    with pytest.raises(ModelError, match=r"gate f \(Wf\) weights have shape \(7, 33\), expected \(7, 34\)"):
        import_char_rnn(lstm)


def explainer_of(p, **kw):
    return Explainer.from_model_file(import_char_rnn(p, **kw), engine="numpy", dtype="float64")


def test_numeric_targets_are_the_authors_output_indices():
    explainer = explainer_of(course_rnn_params())
    assert explainer.output_index("19") == 19 and explainer.output_names[19] == "s"
    assert explainer.output_names[0] == "\n"
    [result] = explainer.explain(["stegosauru"], method="gradient", target="19")
    assert result.target["label"] == "s" and result.target["index"] == 19
    [newline] = explainer.explain(["rex"], method="gradient", target=0)
    assert newline.target["label"] == "\n" and newline.target["index"] == 0


def test_no_unknown_token_means_methods_that_need_one_say_so():
    explainer = explainer_of(course_rnn_params())
    with pytest.raises(UsageError, match=r"no <unk> token \(its source had none\): use --occlude zero$"):
        explainer.explain(["rex"], method="occlusion", occlude="unk")
    with pytest.raises(UsageError, match=r"no <pad> token .*--occlude zero"):
        explainer.explain(["rex"], method="occlusion", occlude="pad")
    with pytest.raises(UsageError, match=r"no <unk> token .*use --baseline zero"):
        explainer.explain(["rex"], method="integrated-gradients", baseline="unk")
    # zero: the token's one-hot vector becomes zeros; the score is F(x) minus F of that input.
    [zeroed] = explainer.explain(["rex"], method="occlusion", occlude="zero", target="19")
    engine, ids = explainer.engine, np.array([explainer.tokenizer.encode("rex")])
    x = engine.embed(ids)
    full = engine.forward(x, np.array([3]))[0, 2, 19]
    x[0, 1] = 0
    assert zeroed.tokens[1].score == pytest.approx(full - engine.forward(x, np.array([3]))[0, 2, 19], abs=1e-12)
    with pytest.raises(InputError, match=r"'7' at offset 1 is not in the model's vocabulary, which has no unknown"):
        explainer.explain(["r7x"], method="gradient")


def test_vocabulary_case_rule_and_size_mismatches(tmp_path):
    p = course_rnn_params()
    np.savez(tmp_path / "dinos.npz", **p)
    (tmp_path / "chars.txt").write_text("".join(COURSE_VOCAB))
    out = str(tmp_path / "m.safetensors")
    r = runner.invoke(app, ["import", str(tmp_path / "dinos.npz"), "--vocab", str(tmp_path / "chars.txt"), "-o", out])
    assert r.exit_code == 0, r.output
    d = json.loads(runner.invoke(app, ["explain", "Dinosaur", "-m", out, "-f", "json", "--method", "gradient"]).stdout)
    assert [t["unk"] for t in d["tokens"]] == [False] * 8  # lowercased, as the help says: 'D' is 'd'
    # A vocabulary with upper-case letters keeps case (lowercasing would make them unreachable).
    (tmp_path / "upper.json").write_text(json.dumps(["\n"] + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")))
    upper = import_char_rnn(p, json.loads((tmp_path / "upper.json").read_text()))
    assert upper.tokenizer.lowercase is False
    assert import_char_rnn(p, list("\nabcdefghijklmnopqrstuvwxyz"), lowercase=False).tokenizer.lowercase is False
    # A file ending in a newline: 28 characters for 27, and the message says why.
    (tmp_path / "nl.txt").write_text("".join(COURSE_VOCAB) + "\n")
    r = runner.invoke(app, ["import", str(tmp_path / "dinos.npz"), "--vocab", str(tmp_path / "nl.txt"), "-o", out])
    assert r.exit_code == 3
    assert r.stderr.strip() == ("Error: the vocabulary has 28 characters, the weights 27; the file ends in a newline, "
                                "which counts as a character: remove it (or give a JSON list of the characters)")
    (tmp_path / "header.txt").write_text("chars\n" + "".join(COURSE_VOCAB[1:]) + "\n")
    r = runner.invoke(app, ["import", str(tmp_path / "dinos.npz"), "--vocab", str(tmp_path / "header.txt"), "-o", out])
    assert r.exit_code == 3 and "its first line ('chars') looks like a header" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_zero_start_from_the_command_line_and_inspect_shows_it(tmp_path):
    np.savez(tmp_path / "lstm.npz", **course_lstm_params())
    out = str(tmp_path / "lstm.safetensors")
    r = runner.invoke(app, ["import", str(tmp_path / "lstm.npz"), "--zero-start", "-o", out])
    assert r.exit_code == 0 and "course-lstm layout" in r.stderr and "zero start" in r.stderr
    shown = runner.invoke(app, ["inspect", out])
    assert "zero start" in shown.stdout and "x<1> = 0" in shown.stdout
    report = json.loads(runner.invoke(app, ["inspect", out, "-f", "json"]).stdout)
    assert report["config"]["zero_start"] is True and report["config"]["cell"] == "lstm"
    assert report["tokenizer"]["vocab_size"] == 27  # the author's 27 characters, nothing added
    d = json.loads(runner.invoke(app, ["explain", "rex", "-m", out, "-f", "json", "--method", "gradient",
                                       "--target", "19"]).stdout)
    want = course_lstm_forward(course_lstm_params(), "rex", True)[-1]
    assert d["target"]["label"] == "s"
    assert abs(d["prediction"]["probability"] - want.max()) < 1e-6


def test_zero_start_refused_for_a_bidirectional_model():
    from saliency.modelfile.config import ModelConfig

    with pytest.raises(ModelError, match="zero_start needs a unidirectional model"):
        ModelConfig(bidirectional=True, zero_start=True)
    assert "zero_start" not in ModelConfig().to_dict()  # files without it are written as before
    assert dataclasses.replace(ModelConfig(), zero_start=True).to_dict()["zero_start"] is True


def test_commands_that_start_from_unknown_tokens_ask_for_a_text(tmp_path):
    from saliency import prototype

    explainer = explainer_of(course_rnn_params())
    with pytest.raises(UsageError, match=r"no <unk> token to start from .*give a starting text \(--from\)"):
        prototype(explainer, "s")
    result = prototype(explainer, "s", start="abcd", max_steps=3)
    assert len(result.text) == 4 and set(result.text) <= set(COURSE_VOCAB)
