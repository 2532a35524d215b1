"""saliency.save_model: a user's standard PyTorch RNN becomes a model file that gives the
module's probabilities and dx_t; what cannot be mapped, or does not agree, is refused in one line."""

import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from saliency import explain, load_model, save_model
from saliency.cli import app
from saliency.errors import ModelError
from saliency.tokenize import Tokenizer

runner = CliRunner()
V, E, H, C = 12, 5, 6, 3
VOCAB = [f"w{k}" for k in range(V)]
TEXTS = ["w3 w1 w4", "w1", "w5 w9 w2 w6 w5 w3 w11", "w0 w0 w7 w10"]


class UserRNN(nn.Module):
    """A classifier or language model as people write them: batch-first, dropout, a Linear head."""

    def __init__(self, cell, layers, bidirectional, pooling, one_hot=False, head="classifier"):
        super().__init__()
        self.pooling, self.head = pooling, head
        self.emb = None if one_hot else nn.Embedding(V, E)
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(V if one_hot else E, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(H * (2 if bidirectional else 1), V if head == "lm" else C)

    def forward(self, x):
        x = self.emb(x) if self.emb is not None else x
        out, h = self.rnn(x)
        if self.head == "lm":
            return self.out(self.drop(out))
        if self.pooling == "last":
            h = h[0] if isinstance(h, tuple) else h  # LSTM: (h_n, c_n)
            features = torch.cat([h[-2], h[-1]], dim=-1) if self.rnn.bidirectional else h[-1]
        elif self.pooling == "max":
            features = out.max(dim=1).values
        else:
            features = out.mean(dim=1)
        return self.out(self.drop(features))


CASES = [dict(cell=c, layers=l, bidirectional=b, pooling=p, one_hot=o)
         for c, l, b, p, o in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("last", "max", "mean"),
                                               (False, True))
         if not (o and (l == 2 or p == "mean"))]  # one-hot: a few, not every combination
CASES += [dict(cell=c, layers=l, bidirectional=False, pooling="last", head="lm") for c in ("rnn", "lstm", "gru")
          for l in (1, 2)]


def case_id(c):
    return "-".join(str(v) for v in c.values())


def word_ids(text):
    return [(w, VOCAB.index(w)) for w in text.split()]


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_round_trip_gives_the_modules_probabilities_and_dx(case, tmp_path):
    torch.manual_seed(len(case_id(case)))
    module = UserRNN(**case).double()
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(2.0)  # gradients of a useful size
    head = case.get("head", "classifier")
    path = str(tmp_path / "m.safetensors")
    model_file = save_model(module, path, VOCAB, level="word", pooling=case["pooling"], head=head,
                            labels=None if head == "lm" else ["a", "b", "c"])
    assert model_file.info["probe_max_difference"] < 1e-12
    extra = {"position": 1, "target": "w4"} if head == "lm" else {}
    inputs = {"inputs": "one-hot"} if case.get("one_hot") else {}
    theirs = explain(module, TEXTS[:1] + TEXTS[2:], "grad-input", tokenizer=Tokenizer("word", VOCAB),
                     labels=VOCAB if head == "lm" else ["a", "b", "c"], head=head, **inputs, **extra)
    for engine in ("torch", "numpy"):
        mine = load_model(path, engine=engine, dtype="float64").explain(TEXTS[:1] + TEXTS[2:], method="grad-input",
                                                                        **extra)
        for a, b in zip(theirs, mine):
            assert a.prediction["label"] == b.prediction["label"]
            assert a.prediction["probability"] == pytest.approx(b.prediction["probability"], abs=1e-12)
            np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-10)


def test_float32_module_agrees_to_1e_5_and_the_cli_explains_the_file(tmp_path):
    torch.manual_seed(0)
    module = UserRNN("lstm", 1, False, "max")
    path = str(tmp_path / "m.safetensors")
    save_model(module, path, VOCAB, labels=["neg", "mid", "pos"], pooling="max")
    d = json.loads(runner.invoke(app, ["explain", "w3 w1 w4", "-m", path, "-f", "json", "--method",
                                       "grad-input"]).stdout)
    with torch.no_grad():
        probs = module.eval()(torch.tensor([[3, 1, 4]])).softmax(-1)[0]  # eval: no dropout
    assert d["prediction"]["label"] == ["neg", "mid", "pos"][int(probs.argmax())]
    assert abs(d["prediction"]["probability"] - float(probs.max())) < 1e-5
    shown = runner.invoke(app, ["inspect", path, "-f", "json"])
    assert json.loads(shown.stdout)["tokenizer"]["first"][:2] == ["w0", "w1"]  # the module's own ids


def test_wrong_pooling_is_refused_with_the_largest_difference(tmp_path):
    torch.manual_seed(1)
    module = UserRNN("gru", 1, False, "mean")
    path = tmp_path / "m.safetensors"
    with pytest.raises(ModelError, match=r"^the converted model differs from the module by [0-9.e-]+ .*not written. "
                                         r"Check pooling= \(last\)"):
        save_model(module, str(path), VOCAB, pooling="last")
    assert not path.exists()


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True)
        self.attn = nn.MultiheadAttention(H, 1, batch_first=True)
        self.out = nn.Linear(H, C)

    def forward(self, ids):
        out, _ = self.lstm(self.emb(ids))
        return self.out(self.attn(out, out, out)[0].mean(1))


class CustomCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.w = nn.Parameter(torch.zeros(E, H))
        self.out = nn.Linear(H, C)

    def forward(self, ids):
        return self.out(torch.tanh(self.emb(ids) @ self.w).sum(1))


class TwoRecurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.rnn1, self.rnn2 = nn.Embedding(V, E), nn.GRU(E, H, batch_first=True), nn.GRU(H, H)
        self.out = nn.Linear(H, C)


class MLPHead(nn.Module):
    """Dense(8, relu) then Dense(5, tanh) before the output; the tanh written in forward (F.tanh)."""

    def __init__(self):
        super().__init__()
        self.emb, self.rnn = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(nn.Linear(2 * H, 8), nn.ReLU(), nn.Dropout(0.1))
        self.hidden2, self.out = nn.Linear(8, 5), nn.Linear(5, C)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.out(torch.tanh(self.hidden2(self.mlp(out.mean(1)))))


def test_an_mlp_head_maps_with_its_activations(tmp_path):
    torch.manual_seed(6)
    module = MLPHead().double()
    path = str(tmp_path / "mlp.safetensors")
    with pytest.raises(ModelError, match="differs from the module by"):  # the tanh is in code: not seen
        save_model(module, path, VOCAB, pooling="mean")
    model_file = save_model(module, path, VOCAB, pooling="mean", head_activations=["relu", "tanh"])
    assert model_file.config.head_hidden == ((8, "relu"), (5, "tanh"))
    theirs = explain(module, TEXTS, "grad-input", tokenizer=Tokenizer("word", VOCAB))
    for engine in ("torch", "numpy"):
        mine = load_model(path, engine=engine, dtype="float64").explain(TEXTS, method="grad-input")
        for a, b in zip(theirs, mine):
            assert a.target["value"] == pytest.approx(b.target["value"], abs=1e-12)
            np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-10)
    with pytest.raises(Exception, match="lrp has no rule here for a classifier's hidden head layers"):
        load_model(path).explain(TEXTS[:1], method="lrp")


@pytest.mark.parametrize("module,message", [
    (Attention(), r"cannot map layer 'attn' \(MultiheadAttention\)"),
    (CustomCell(), r"cannot map layer 'the module itself' \(CustomCell\)"),
    (TwoRecurrent(), r"2 recurrent modules \(rnn1, rnn2\): save_model maps exactly one"),
])
def test_what_cannot_be_mapped_is_refused_by_name(module, message, tmp_path):
    with pytest.raises(ModelError, match=message):
        save_model(module, str(tmp_path / "m.safetensors"), VOCAB)
