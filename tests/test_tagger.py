"""Sequence taggers: readers of tagged sentences, explaining every position, the CLI's views."""

import csv
import io
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliency.modelfile import checkpoint
from saliency.modelfile.checkpoint import ModelFile
from saliency.cli import app
from saliency.modelfile.config import ModelConfig
from saliency.records.io import read_records
from saliency.engines.torch_engine import RNNModel
from saliency.records.tagged import Words, gold_sentences, looks_tagged
from saliency.tokenize import PAD, UNK, Tokenizer

from .conftest import explainer64

WORDS = ["i", "saw", "her", "duck", "under", "the", "table", ".", "don't", "a", "dog"]
TAGS = ["PRON", "VERB", "NOUN", "ADP", "DET", "PUNCT"]

CONLLU = """# sent_id = s1
# text = I saw her duck.
1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2\tsaw\tsee\tVERB\tVBD\t_\t0\troot\t_\t_
3\ther\tshe\tPRON\tPRP$\t_\t4\tnmod\t_\t_
4\tduck\tduck\tNOUN\tNN\t_\t2\tobj\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_

# sent_id = s2
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
2.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_

# sent_id = s3
1\ttoo few columns
"""


def word_tagger_file(cell="lstm", layers=1, bidirectional=True, seed=0) -> ModelFile:
    torch.manual_seed(seed)
    tokenizer = Tokenizer("word", [PAD, UNK] + WORDS, lowercase=True)
    cfg = ModelConfig(cell, len(tokenizer.vocab), 6, 5, layers, bidirectional, "tagger", "last", len(TAGS))
    model = RNNModel(cfg).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return ModelFile(cfg, tokenizer, TAGS, model.weights(), {}, name="tiny-tagger")


@pytest.fixture(scope="module")
def tagger_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "tagger.safetensors")
    checkpoint.save(word_tagger_file(), path)
    return path


# -- readers ------------------------------------------------------------------------------------
def test_conllu_reads_form_and_upos_of_integer_ids_only(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU)
    records = list(read_records(str(path)))
    assert [r.error for r in records] == [None, None, "a CoNLL-U line has 10 tab-separated columns, found 2"]
    first, second = records[0], records[1]
    assert first.text == "I saw her duck ." and first.text.words == ("I", "saw", "her", "duck", ".")
    assert first.fields == {"sent_id": "s1", "text": "I saw her duck.", "tags": ["PRON", "VERB", "PRON", "NOUN", "PUNCT"]}
    assert second.text.words == ("do", "n't", "go") and second.fields["tags"] == ["AUX", "PART", "VERB"]
    assert [r.line for r in records] == [7, 14, 17] and [r.index for r in records] == [0, 1, 2]
    assert list(gold_sentences(str(path))) == [(list(first.text.words), first.fields["tags"]),
                                               (["do", "n't", "go"], ["AUX", "PART", "VERB"])]


def test_two_column_and_jsonl_token_lists(tmp_path):
    tags = tmp_path / "x.tags"
    tags.write_text("The\tDET\ndog\tNOUN\n\n\nruns\tVERB\nbad line\n")
    records = list(read_records(str(tags)))
    assert records[0].text.words == ("The", "dog") and records[0].fields == {"tags": ["DET", "NOUN"]}
    assert records[1].error.startswith("expected token<TAB>tag, found 1 field(s)")
    lines = [{"tokens": ["I", "don't"], "tags": ["PRON", "VERB"], "id": 7}, {"text": "plain text"},
             {"tokens": ["a", ""]}, {"tokens": ["a"], "tags": ["X", "Y"]}]
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text("".join(json.dumps(o) + "\n" for o in lines))
    got = list(read_records(str(jsonl)))
    assert isinstance(got[0].text, Words) and got[0].text.words == ("I", "don't")
    assert got[0].fields == {"tags": ["PRON", "VERB"], "id": 7}
    assert type(got[1].text) is str and got[1].text == "plain text"
    assert got[2].error.startswith("tokens must be") and got[3].error == "tags must be a list of 1 strings, one per token"
    assert looks_tagged(str(jsonl)) and looks_tagged(str(tags)) and not looks_tagged(str(tmp_path / "x.tsv"))


def test_given_words_are_never_re_tokenized():
    ex = explainer64(word_tagger_file())
    sentence = Words(["I", "don't", "duck"])  # the tokenizer alone would split don't into do + n't
    (exp,) = ex.explain([sentence], method="gradient")
    assert [t.text for t in exp.tokens] == ["I", "don't", "duck"]
    assert [exp.text[t.start:t.end] for t in exp.tokens] == ["I", "don't", "duck"]
    assert [t.id for t in exp.tokens] == [2, WORDS.index("don't") + 2, 5]
    (plain,) = ex.explain(["I don't duck"], method="gradient")
    assert [t.text for t in plain.tokens] == ["I", "do", "n't", "duck"]


# -- explaining ---------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_every_position_is_explained_with_its_predicted_tag(engine):
    mf = word_tagger_file()
    ex = explainer64(mf, engine)
    (exp,) = ex.explain(["I saw her duck under the table ."], method="gradient")
    x = ex.engine.embed(np.array([[t.id for t in exp.tokens]]))
    logits = np.asarray(ex.engine.forward(x, np.array([8])))[0]  # (T, C)
    predicted = [TAGS[k] for k in logits.argmax(-1)]
    d = exp.to_dict()
    assert d["prediction"]["tags"] == predicted
    assert [r["position"] for r in d["rows"]] == list(range(8))
    assert [r["target"] for r in d["rows"]] == predicted
    np.testing.assert_allclose([r["value"] for r in d["rows"]], logits.max(-1), rtol=0, atol=1e-12)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    got = np.array([[p[t] for t in TAGS] for p in d["prediction"]["probabilities"]])
    np.testing.assert_allclose(got, probs, rtol=0, atol=1e-12)
    assert d["target"]["position"] == 7 and d["rows"][-1]["scores"] == [t["score"] for t in d["tokens"]]


def test_one_position_a_named_tag_and_a_contrast():
    ex = explainer64(word_tagger_file())
    text = "I saw her duck"
    (all_rows,) = ex.explain([text], method="grad-input", target="VERB")
    (one,) = ex.explain([text], method="grad-input", target="VERB", position=3)
    assert one.rows is None and one.target["position"] == 3 and one.target["label"] == "VERB"
    assert [r["target"] for r in all_rows.rows] == ["VERB"] * 4
    np.testing.assert_allclose([t.score for t in one.tokens], all_rows.rows[3]["scores"], rtol=0, atol=1e-12)
    (vs,) = ex.explain([text], method="grad-input", target="VERB", contrast="NOUN", position=-1)
    (noun,) = ex.explain([text], method="grad-input", target="NOUN", position=3)
    assert vs.target["value"] == pytest.approx(one.target["value"] - noun.target["value"], abs=1e-12)
    np.testing.assert_allclose([t.score for t in vs.tokens],
                               np.subtract([t.score for t in one.tokens], [t.score for t in noun.tokens]), atol=1e-12)
    with pytest.raises(Exception, match="outside the text"):
        ex.explain([text], method="gradient", position=4)


def test_batched_equals_single_and_numpy_equals_torch():
    mf = word_tagger_file("gru", 2, True)
    texts = ["I saw her duck under the table .", "a dog", "the dog saw a duck", "duck"]
    batched = explainer64(mf, "torch").explain(texts, method="gradient")
    numpy_batched = explainer64(mf, "numpy").explain(texts, method="gradient")
    for text, b, n in zip(texts, batched, numpy_batched):
        (single,) = explainer64(mf, "torch", batch_size=1).explain([text], method="gradient")
        for x, y, z in zip(single.rows, b.rows, n.rows):
            np.testing.assert_allclose(x["scores"], y["scores"], rtol=0, atol=1e-10)
            np.testing.assert_allclose(x["scores"], z["scores"], rtol=0, atol=1e-10)
        assert single.prediction["tags"] == b.prediction["tags"] == n.prediction["tags"]


def test_unidirectional_tagger_never_looks_right():
    ex = explainer64(word_tagger_file(bidirectional=False))
    (exp,) = ex.explain(["I saw her duck under the table"], method="gradient")
    for row in exp.rows:
        assert all(s == 0.0 for s in row["scores"][row["position"] + 1:])
        assert all(s > 0.0 for s in row["scores"][: row["position"] + 1])


# -- CLI ----------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_explain_text_fits_80_columns(tagger_path):
    result = runner.invoke(app, ["explain", "-m", tagger_path, "--method", "gradient",
                                 "I saw her duck under the table . underneath"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tagged I/") and "the/" in result.stdout
    start = next(i for i, line in enumerate(lines) if line.startswith("word "))
    assert lines[start].split()[:5] == ["word", "tag", "p", "what", "drove"]
    body = lines[start + 1:start + 10]
    assert [line.split()[0] for line in body] == "I saw her duck under the table . underneath".split()
    assert "duck(0) " in body[3] and "underneath(0) " in body[8]
    assert max(len(line) for line in lines) <= 80


def test_cli_explain_json_and_position(tagger_path):
    result = runner.invoke(app, ["explain", "-m", tagger_path, "--method", "gradient", "-f", "json",
                                 "--position", "1", "--target", "NOUN", "I saw her"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["target"]["label"] == "NOUN" and d["target"]["position"] == 1 and "rows" not in d
    assert len(d["prediction"]["tags"]) == 3 and len(d["prediction"]["probabilities"]) == 3
    bad = runner.invoke(app, ["explain", "-m", tagger_path, "--method", "gradient", "--target", "all", "I saw"])
    assert bad.exit_code == 2 and "Error: --target all applies to classifiers" in bad.stderr


def test_cli_batch_conllu_jsonl_and_csv(tagger_path, tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU)
    result = runner.invoke(app, ["batch", str(path), "-m", tagger_path, "--method", "gradient", "-f", "jsonl",
                                 "--quiet"])
    assert result.exit_code == 5  # the third sentence is malformed: its own error line
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(o["prediction"]["tags"]) for o in lines[:2]] == [5, 3]
    assert lines[0]["text"] == "I saw her duck ." and lines[0]["fields"]["tags"][3] == "NOUN"
    assert lines[2]["error"].startswith("a CoNLL-U line has 10")
    table = runner.invoke(app, ["batch", str(path), "-m", tagger_path, "--method", "gradient", "-f", "csv",
                                "--quiet"])
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert len(rows) == 5 * 5 + 3 * 3  # one per (position, token)
    first = lines[0]
    assert [r["word"] for r in rows[:6]] == ["I"] * 5 + ["saw"]
    assert [float(r["score"]) for r in rows[5:10]] == first["rows"][1]["scores"]
    assert rows[5]["tag"] == first["prediction"]["tags"][1] and rows[5]["target"] == first["rows"][1]["target"]


# -- Python API: a user's own tagger module -----------------------------------------------------
class UserTagger(torch.nn.Module):
    """The PyTorch tutorial's LSTMTagger, batch-first: (B, T) ids -> (B, T, C) tag scores."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(len(WORDS) + 2, 6)
        self.lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.out = torch.nn.Linear(10, len(TAGS))

    def forward(self, ids):
        return self.out(self.lstm(self.emb(ids))[0])


def test_api_explains_a_users_tagger_module_at_every_position():
    import saliency

    torch.manual_seed(0)
    module = UserTagger().double()
    vocab = {w: i + 2 for i, w in enumerate(WORDS)}

    def tokenizer(text):
        return [(w, vocab.get(w.lower(), 1)) for w in text.split()]

    text = "I saw her duck under the table"
    exp = saliency.explain(module, text, "gradient", tokenizer=tokenizer, labels=TAGS, head="tagger")
    ids = torch.tensor([[vocab[w.lower()] for w in text.split()]])
    x = module.emb(ids).detach().requires_grad_(True)
    logits = module.out(module.lstm(x)[0])[0]  # (T, C)
    assert exp.prediction["tags"] == [TAGS[k] for k in logits.argmax(-1).tolist()]
    assert [r["target"] for r in exp.rows] == exp.prediction["tags"]
    for p, row in enumerate(exp.rows):
        (grad,) = torch.autograd.grad(logits[p].max(), x, retain_graph=True)
        np.testing.assert_allclose(row["scores"], grad[0].norm(dim=-1).numpy(), rtol=0, atol=1e-12)
        assert row["value"] == pytest.approx(float(logits[p].max().detach()), abs=1e-12)
    with pytest.raises(Exception, match="head must be"):
        saliency.explain(module, text, "gradient", tokenizer=tokenizer, head="tags")


# -- train, evaluate, decay ---------------------------------------------------------------------
def tagged_corpus(path, copies=6):
    sentences = [("the dog saw a duck .", "DET NOUN VERB DET NOUN PUNCT"),
                 ("i saw her duck", "PRON VERB PRON VERB"), ("her dog saw the table", "PRON NOUN VERB DET NOUN")]
    path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(s.split(), tags.split())) + "\n"
                            for _ in range(copies) for s, tags in sentences))


def test_train_detects_tagged_data_and_measures_accuracy(tmp_path):
    data = tmp_path / "train.tags"
    tagged_corpus(data)
    out = tmp_path / "pos.safetensors"
    result = runner.invoke(app, ["train", str(data), "--valid", str(data), "--test", str(data), "--bidirectional",
                                 "--hidden", "8", "--embedding", "8", "--epochs", "12", "--lr", "0.05",
                                 "--dropout", "0", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    mf = checkpoint.load(str(out))
    assert mf.config.head == "tagger" and mf.config.bidirectional and mf.info["task"] == "tag"
    assert mf.labels == ["DET", "NOUN", "PRON", "PUNCT", "VERB"] and mf.tokenizer.level == "word"
    test = mf.info["figures"]["test"]
    assert test["n"] == 6 * 15 and test["accuracy"] == 1.0 and test["per_tag_f1"]["VERB"] == 1.0
    (exp,) = explainer64(mf).explain([Words("i saw her duck".split())], method="gradient")
    assert exp.prediction["tags"] == ["PRON", "VERB", "PRON", "VERB"]


def test_tag_metrics_known_values():
    from saliency.train_tagger import IGNORE, tag_metrics

    m = tag_metrics([[0, 1, 1], [2, 0]], [[0, 1, 0], [2, IGNORE]], ["A", "B", "C"])
    assert m["n"] == 4 and m["accuracy"] == 0.75
    assert m["per_tag_f1"] == {"A": round(2 / 3, 4), "B": round(2 / 3, 4), "C": 1.0}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-4)


def test_perturbed_keeps_the_explained_word_and_finds_its_new_index():
    from saliency.evaluation.evaluate_tagger import perturbed
    from saliency.evaluation.metrics import perturb

    ids, scores = [10, 11, 12, 13, 14], [0.9, 0.1, 5.0, 0.8, 0.2]  # position 2 has the top score
    (removed, at), (kept, kept_at) = perturbed(ids, scores, 2, 50, "delete", 1, perturb)
    assert removed == [11, 12, 14] and at == 1 and removed[at] == 12  # 10 and 13 (top 2 of 4 others) gone
    assert kept == [10, 12, 13] and kept[kept_at] == 12
    (removed, at), (kept, kept_at) = perturbed(ids, scores, 2, 50, "unk", 1, perturb)
    assert removed == [1, 11, 12, 1, 14] and kept == [10, 1, 12, 13, 1] and at == kept_at == 2


def test_evaluate_reports_tagging_accuracy_against_gold(tmp_path, tagger_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU)
    result = runner.invoke(app, ["evaluate", str(path), "-m", tagger_path, "--methods", "gradient", "-f", "json",
                                 "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    ex = explainer64(word_tagger_file())
    records = [r for r in read_records(str(path)) if not r.error]
    predicted = [e.prediction["tags"] for e in ex.explain([r.text for r in records], method="gradient")]
    gold = [r.fields["tags"] for r in records]
    right = sum(p == g for ps, gs in zip(predicted, gold) for p, g in zip(ps, gs))
    assert summary["tagging"] == {"accuracy": right / 8, "tokens": 8, "sentences": 2}
    assert summary["records"] == 8 and summary["sentences"] == 2  # every position of both sentences
    assert set(summary["methods"]) == {"gradient", "random"}


def test_decay_of_a_unidirectional_tagger_has_nothing_on_the_right(tmp_path):
    from saliency.evaluation.decay_tagger import tagger_decay

    records = list(read_records(str(_sentences(tmp_path))))
    uni = tagger_decay(explainer64(word_tagger_file(bidirectional=False)), records)
    assert uni["context"]["right"] == 0.0 and all(r["mean"] == 0.0 for r in uni["rows"] if r["from"] > 0)
    assert all(r["mean"] > 0.0 for r in uni["rows"] if r["to"] <= 0)
    assert uni["positions"] == 4 + 7 and sum(r["share"] for r in uni["rows"]) == pytest.approx(1.0)
    bi = tagger_decay(explainer64(word_tagger_file()), records)
    assert bi["context"]["right"] > 0.05 and [r["distance"] for r in bi["rows"]][:2] == ["-7..-4", "-3..-2"]
    assert sum(r["tokens"] for r in bi["rows"]) == 4 * 4 + 7 * 7


def _sentences(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("I saw her duck\nthe dog saw a duck under the\n")
    return path


def test_words_survive_pickling_and_ray_packing():
    import pickle

    from saliency.records.io import Record
    from saliency.records.ray import pack, unpack

    words = Words(["New", "York-based", "n't"])
    again = pickle.loads(pickle.dumps(words))
    assert again == "New York-based n't" and again.words == words.words
    _, (record, plain) = unpack(pack(3, [Record(0, words, {"tags": ["PROPN", "ADJ", "PART"]}), Record(1, "a b")]))
    assert isinstance(record.text, Words) and record.text.words == words.words and record.fields["tags"][2] == "PART"
    assert type(plain.text) is str and plain.text == "a b"


@pytest.mark.parametrize("args", [["flip", "I saw her"], ["reduce", "I saw her"]])
def test_flip_and_reduce_refuse_a_tagger_in_one_line(tagger_path, args):
    result = runner.invoke(app, [args[0], "-m", tagger_path, args[1]])
    assert result.exit_code == 2
    assert result.stderr == "Error: flip, reduce and prototype are for classifiers and language models, not taggers\n"


def test_batch_flip_refuses_a_tagger_before_any_output(tagger_path, tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU)
    result = runner.invoke(app, ["batch", str(path), "-m", tagger_path, "--flip", "-f", "jsonl", "--quiet"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: --flip is for classifiers and language models, not taggers\n"


def test_a_character_tagger_tags_each_character_with_its_words_tag(tmp_path):
    data = tmp_path / "train.jsonl"
    rows = [{"tokens": ["a", "dog", "barks"], "tags": ["DET", "NOUN", "VERB"]},
            {"tokens": ["the", "dog"], "tags": ["DET", "NOUN"]}] * 4
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "char.safetensors"
    result = runner.invoke(app, ["train", str(data), "--valid", str(data), "--level", "char", "--bidirectional",
                                 "--hidden", "8", "--embedding", "4", "--epochs", "2", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    mf = checkpoint.load(str(out))
    assert mf.config.head == "tagger" and mf.tokenizer.level == "char"
    assert mf.info["figures"]["valid"]["n"] == 4 * (1 + 3 + 5 + 3 + 3)  # characters of words; spaces not scored
    (exp,) = explainer64(mf).explain([Words(["a", "dog"])], method="gradient")
    assert [t.text for t in exp.tokens] == list("a dog") and len(exp.prediction["tags"]) == 5


def test_occlusion_by_deletion_is_refused_for_a_tagger():
    ex = explainer64(word_tagger_file())
    with pytest.raises(Exception, match="not supported for language models or taggers"):
        ex.explain(["I saw her"], method="occlusion", occlude="delete")
    (exp,) = ex.explain(["I saw her"], method="occlusion", occlude="unk")
    assert len(exp.rows) == 3


def test_two_column_tags_from_stdin(tagger_path):
    result = runner.invoke(app, ["batch", "-", "--input-format", "tags", "-m", tagger_path, "--method", "gradient",
                                 "-f", "jsonl", "--quiet"], input="I\tPRON\nsaw\tVERB\n\nduck\tNOUN\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["text"] for o in lines] == ["I saw", "duck"] and lines[1]["fields"] == {"tags": ["NOUN"]}
    assert [o["source"] for o in lines] == ["<stdin>", "<stdin>"]
