"""Importing real Keras models: probabilities equal model.predict to 1e-5, dx_t passes the numeric check.

The models are built and trained by tests/keras_models.py in a subprocess (keras on its torch
backend), once per session; this process never imports keras.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saliency.modelfile import checkpoint
from saliency.errors import ModelError
from saliency.batching import padded
from saliency.importers import import_any
from saliency.engines.torch_engine import TorchEngine
from saliency.engines.numpy_engine import NumpyEngine

from .gradcheck import check_input_gradient
from .hostile import assert_error, run

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("keras")
    result = subprocess.run([sys.executable, str(HERE / "keras_models.py"), str(out)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cases = json.loads((out / "cases.json").read_text())
    (out / "word_index.json").write_text(json.dumps(cases["vocab"]))
    return out, cases


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def probabilities(mf, texts, engine_class=NumpyEngine):
    engine = engine_class(mf, "float64")
    rows = []
    for text in texts:
        ids = np.array([mf.tokenizer.encode(text)])
        rows.append(softmax(engine.forward(engine.embed(ids), np.array([ids.shape[1]])))[0])
    return np.array(rows)


SUPPORTED = ["lstm-last-softmax", "bilstm-max-sigmoid", "gru-mean-softmax", "bigru-last-linear", "rnn-max-linear1",
             "birnn-relu-last", "stacked-lstm-8-4", "functional-bigru-5-3", "lstm-dense-relu-softmax",
             "gru-max-tanh-linear-sigmoid", "gru-then-simplernn", "lstm-gru-lstm-mean"]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", SUPPORTED)
def test_imported_probabilities_equal_keras_predict(built, name, suffix):
    out, cases = built
    mf = import_any(str(out / f"{name}{suffix}"), str(out / "word_index.json"))
    expected = np.array(cases["supported"][name]["probabilities"])
    for engine_class in (NumpyEngine, TorchEngine):
        np.testing.assert_allclose(probabilities(mf, cases["texts"], engine_class), expected, atol=1e-5, rtol=0)
    assert mf.info["keras_format"] == (".keras" if suffix == ".keras" else "legacy .h5")


@pytest.mark.parametrize("name", SUPPORTED)
def test_dx_passes_the_finite_difference_check(built, name):
    out, cases = built
    mf = import_any(str(out / f"{name}.keras"), str(out / "word_index.json"))
    ids = [mf.tokenizer.encode(t) for t in cases["texts"][:3]]
    batch, lengths = padded(ids, 0)
    for engine in (NumpyEngine(mf, "float64"), TorchEngine(mf, "float64")):
        x = engine.embed(batch)
        check_input_gradient(engine, x, lengths, np.zeros(3, int), np.array([0, 1, 0]))


def test_stacked_layers_of_different_sizes_keep_their_sizes(built):
    out, _ = built
    mf = import_any(str(out / "stacked-lstm-8-4.keras"), str(out / "word_index.json"))
    assert mf.config.hidden_sizes == (8, 4) and mf.config.pooling == "last"
    mf = import_any(str(out / "functional-bigru-5-3.h5"), str(out / "word_index.json"))
    assert mf.config.hidden_sizes == (5, 3) and mf.config.bidirectional and mf.config.pooling == "mean"
    assert mf.info["keras_layers"][0] == "emb (Embedding)"


@pytest.mark.parametrize("form", ["list", "lines", "tokenizer-json"])
def test_every_vocabulary_form_gives_the_same_model(built, tmp_path, form):
    out, cases = built
    by_id = {i: w for w, i in cases["vocab"].items()}
    words = [""] + [by_id[i] for i in range(1, len(by_id) + 1)]
    path = tmp_path / "vocab"
    if form == "list":
        path.write_text(json.dumps(words))
    elif form == "lines":
        path.write_text("\n".join(words) + "\n")
    else:  # the JSON of keras.preprocessing.text.Tokenizer.to_json(), with "bit" (id 10) as its oov_token
        config = {"num_words": None, "lower": True, "char_level": False, "oov_token": "bit",
                  "word_index": json.dumps(cases["vocab"])}
        path.write_text(json.dumps({"class_name": "Tokenizer", "config": config}))
    mf = import_any(str(out / "gru-mean-softmax.keras"), str(path))
    expected = np.array(cases["supported"]["gru-mean-softmax"]["probabilities"])
    if form == "tokenizer-json":  # the oov row stands for any unknown word, as Keras' ids had it
        got = probabilities(mf, [cases["oov_text"]])
        np.testing.assert_allclose(got[0], cases["supported"]["gru-mean-softmax"]["oov"], atol=1e-5)
        assert "bit" not in mf.tokenizer.vocab and "note" not in mf.info
    else:
        np.testing.assert_allclose(probabilities(mf, cases["texts"]), expected, atol=1e-5)
        assert "no out-of-vocabulary entry: unknown tokens are left out" in mf.info["note"]
        # "zzz" is left out, as Keras' Tokenizer leaves it out: what model.predict gives for "the film"
        np.testing.assert_allclose(probabilities(mf, [cases["oov_text"]])[0],
                                   cases["supported"]["gru-mean-softmax"]["dropped"], atol=1e-5)
        assert [t.text for t in mf.tokenizer.tokenize(cases["oov_text"])] == ["the", "film"]
        assert mf.tokenizer.unk_id is None and mf.tokenizer.vocab[0] == "<pad>"


def test_two_commands_import_then_explain(built, tmp_path):
    out, cases = built
    model = tmp_path / "imported.safetensors"
    result = run(["import", out / "bilstm-max-sigmoid.h5", "--vocab", out / "word_index.json",
                  "--labels", "negative,positive", "-o", model], timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert "Keras" in result.stderr.decode() and "legacy .h5" in result.stderr.decode()
    result = run(["explain", "-m", model, cases["texts"][0], "-f", "json"], timeout=120)
    d = json.loads(result.stdout)
    expected = cases["supported"]["bilstm-max-sigmoid"]["probabilities"][0]
    assert abs(d["prediction"]["probabilities"]["positive"] - expected[1]) < 1e-5
    assert [t["text"] for t in d["tokens"]] == cases["texts"][0].split()
    inspect = json.loads(run(["inspect", model, "-f", "json"], timeout=120).stdout)
    assert inspect["info"]["imported_from"] == "keras" and inspect["info"]["source"] == "bilstm-max-sigmoid.h5"
    assert inspect["info"]["keras_version"] == cases["keras_version"]
    text = run(["inspect", model], timeout=120).stdout.decode()
    assert "imported from" in text and "bilstm-max-sigmoid.h5" in text
    layers = inspect["info"]["keras_layers"]  # the text view shows the Keras layers too, in order
    assert len(layers) >= 3 and " -> ".join(layers) in " ".join(text.split())


def test_the_import_never_imports_keras_or_tensorflow(built):
    out, _ = built
    code = ("import sys; from saliency.importers import import_any\n"
            f"for f in ('{out}/stacked-lstm-8-4.keras', '{out}/stacked-lstm-8-4.h5'):\n"
            f"    import_any(f, '{out}/word_index.json')\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'tf_keras')]\n"
            "assert not loaded, loaded\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_refusals_name_the_layer_in_one_line(built, tmp_path):
    out, cases = built
    assert set(cases["refused"]) == {p.stem for p in (out / "refused").glob("*.keras")}
    for name, layer in cases["refused"].items():
        with pytest.raises(ModelError, match=f"'{layer}'"):
            import_any(str(out / "refused" / f"{name}.keras"), str(out / "word_index.json"))
    result = run(["import", out / "refused" / "gru-reset-before.keras", "--vocab", out / "word_index.json",
                  "-o", tmp_path / "m.safetensors"], timeout=120)
    assert_error(result, 4, "layer 'old_gru' (GRU): reset_after=False is not supported")
    assert not (tmp_path / "m.safetensors").exists()


def test_weights_only_files_and_a_missing_vocabulary_are_refused(built, tmp_path):
    out, _ = built
    with pytest.raises(ModelError, match="weights only"):
        import_any(str(out / "refused" / "weights-only.weights.h5"), str(out / "word_index.json"))
    result = run(["import", out / "lstm-last-softmax.keras", "-o", tmp_path / "m.safetensors"], timeout=120)
    assert_error(result, 2, "needs --vocab")


def test_a_text_vectorization_layer_is_refused_with_a_pointer_to_vocab(built, tmp_path):
    """TextVectorization needs TensorFlow to be saved at all, so the layer is added to a real file's config."""
    out, _ = built
    source, target = out / "lstm-last-softmax.keras", tmp_path / "tv.keras"
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(target, "w") as w:
        for item in z.namelist():
            data = z.read(item)
            if item == "config.json":
                config = json.loads(data)
                config["config"]["layers"].insert(1, {"class_name": "TextVectorization",
                                                      "config": {"name": "text_vectorization"}})
                data = json.dumps(config).encode()
            w.writestr(item, data)
    with pytest.raises(ModelError, match="'text_vectorization' .TextVectorization.: .* pass --vocab"):
        import_any(str(target), str(out / "word_index.json"))


def test_labels_must_match_the_outputs(built):
    out, _ = built
    with pytest.raises(ModelError, match="2 names for 3 outputs"):
        import_any(str(out / "lstm-last-softmax.keras"), str(out / "word_index.json"), labels=["a", "b"])
    mf = import_any(str(out / "rnn-max-linear1.keras"), str(out / "word_index.json"), labels=["no", "yes"])
    assert mf.labels == ["no", "yes"] and mf.weights["head.weight"].shape[0] == 2
    path = str(Path(out) / "saved.safetensors")
    checkpoint.save(mf, path)
    assert checkpoint.load(path).info["imported_from"] == "keras"


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_one_hot_character_lstm_imports_with_the_authors_numbering(built, suffix):
    """keras.io's character LSTM (Input((None, V)) straight into the LSTM): id k is char_indices' k."""
    out, cases = built
    mf = import_any(str(out / f"one-hot-lstm{suffix}"), str(out / "chars.json"))
    chars = json.loads((out / "chars.json").read_text())
    assert mf.config.embedding_dim == 0 and mf.tokenizer.vocab == chars and mf.tokenizer.level == "char"
    assert mf.labels == chars  # a next-character model: its outputs are the characters
    expected = np.array(cases["supported"]["one-hot-lstm"]["probabilities"])
    for engine_class in (NumpyEngine, TorchEngine):
        np.testing.assert_allclose(probabilities(mf, cases["texts"], engine_class), expected, atol=1e-5, rtol=0)
    engine = NumpyEngine(mf, "float64")
    ids = np.array([mf.tokenizer.encode("the film")])
    check_input_gradient(engine, engine.embed(ids), np.array([8]), np.zeros(1, int), np.array([2]))


def test_hidden_dense_layers_become_the_head_and_lrp_says_it_has_no_rule(built):
    out, cases = built
    mf = import_any(str(out / "gru-max-tanh-linear-sigmoid.keras"), str(out / "word_index.json"))
    assert mf.config.head_hidden == ((4, "tanh"), (3, "linear"))
    from saliency.pipeline import Explainer

    with pytest.raises(Exception, match="lrp has no rule here for a classifier's hidden head layers"):
        Explainer.from_model_file(mf, engine="numpy").explain(["the film"], method="lrp")


def test_the_tokenizers_filters_split_words_as_keras_did(built, tmp_path):
    """A Tokenizer.to_json() vocabulary: punctuation is removed as Keras' filters remove it, so the
    model sees the ids Keras gave it; a bare word index cannot say, and the import says so."""
    out, cases = built
    config = {"num_words": None, "lower": True, "char_level": False, "oov_token": None, "split": " ",
              "filters": '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', "word_index": json.dumps(cases["vocab"])}
    (tmp_path / "tokenizer.json").write_text(json.dumps({"class_name": "Tokenizer", "config": config}))
    mf = import_any(str(out / "lstm-last-softmax.keras"), str(tmp_path / "tokenizer.json"))
    expected = np.array(cases["supported"]["lstm-last-softmax"]["punct"])
    for engine_class in (NumpyEngine, TorchEngine):
        np.testing.assert_allclose(probabilities(mf, cases["punct_texts"], engine_class), expected, atol=1e-5, rtol=0)
    tokens = mf.tokenizer.tokenize(cases["punct_texts"][1])
    assert [t.text for t in tokens] == ["a", "dull", "plot", "superb"] and not any(t.unk for t in tokens)
    bare = import_any(str(out / "lstm-last-softmax.keras"), str(out / "word_index.json"))
    assert "cannot say how the Keras Tokenizer split words" in bare.info["note"]
    assert np.abs(probabilities(bare, cases["punct_texts"]) - expected).max() > 1e-3  # punctuation steps
    saved = tmp_path / "m.safetensors"
    checkpoint.save(mf, str(saved))
    assert checkpoint.load(str(saved)).tokenizer.keras_split == {"filters": config["filters"], "split": " "}
