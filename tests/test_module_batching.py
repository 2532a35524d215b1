"""A user's module run several texts per call: the same numbers as one text per call (1e-5 in
float32, 1e-10 in float64), in the caller's order whatever the lengths, and the module's
weights frozen only while it runs."""

import numpy as np
import pytest
import torch
from torch import nn

from saliency.engines.user_module import ModuleEngine, module_explainer
from saliency.errors import UsageError


class Packing(nn.Module):
    """As bench/module_batch.py's small module: packs by the true lengths, so padding is invisible."""

    def __init__(self, vocab=40, dim=6, hidden=9):
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(vocab, dim), nn.LSTM(dim, hidden, batch_first=True), \
            nn.Linear(hidden, 3)
        self.seen = []  # per call: whether each weight required a gradient while the module ran

    def forward(self, ids, lengths):
        self.seen.append({p.requires_grad for p in self.parameters()})
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.out(h[-1])


class NextWord(nn.Module):
    """A one-directional language model: an output per position, none depending on later ones."""

    def __init__(self, vocab=40, dim=5, hidden=7):
        super().__init__()
        self.emb, self.gru, self.out = nn.Embedding(vocab, dim), nn.GRU(dim, hidden, batch_first=True), \
            nn.Linear(hidden, vocab)

    def forward(self, ids):
        return self.out(self.gru(self.emb(ids))[0])


def word_ids(text):
    return [(w, (sum(map(ord, w)) % 38) + 2) for w in text.split()]


# lengths 6, 1, 4, 2, 6, 3, 5, 1, 2, 4: the tool sorts them into batches and must give them back in this order
TEXTS = ["a long and winding road home", "no", "one two three four", "five six", "the cat sat on a mat",
         "yes it is", "x y z w v", "ok", "all well", "dogs bark at night"]


def lengths_call(module, ids, lengths):
    return module(ids, lengths)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_padded_batches_equal_one_text_a_call_in_the_callers_order(dtype, tolerance):
    torch.manual_seed(11)
    model = Packing().to(dtype)
    batched = module_explainer(model, word_ids, ["a", "b", "c"], call=lengths_call)
    alone = module_explainer(model, word_ids, ["a", "b", "c"], call=lengths_call, batched=False)
    many = batched.explain(TEXTS, method="grad-input")
    assert batched.engine.batched == "padded"
    for text, a, b in zip(TEXTS, many, alone.explain(TEXTS, method="grad-input")):
        assert a.text == b.text == text and [t.text for t in a.tokens] == text.split()
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=tolerance)
        assert a.target["value"] == pytest.approx(b.target["value"], abs=tolerance)
        with torch.no_grad():  # and each is the module's own output for that text alone
            ids = torch.tensor([[i for _, i in word_ids(text)]])
            p = model(ids, torch.tensor([ids.shape[1]])).softmax(-1)[0].double()
        assert a.prediction["probabilities"]["b"] == pytest.approx(float(p[1]), abs=tolerance)


def test_every_position_of_a_language_model_in_padded_batches():
    torch.manual_seed(12)
    model = NextWord().double()
    names = [str(i) for i in range(40)]
    batched = module_explainer(model, word_ids, names, head="lm")
    alone = module_explainer(model, word_ids, names, head="lm", batched=False)
    many = batched.explain(TEXTS, method="gradient", position="all")
    assert batched.engine.batched == "padded"  # later padding never reaches earlier positions
    for a, b in zip(many, alone.explain(TEXTS, method="gradient", position="all")):
        assert len(a.rows) == len(a.tokens) == len(b.rows)
        for row_a, row_b in zip(a.rows, b.rows):
            assert row_a["target"] == row_b["target"] and row_a["value"] == pytest.approx(row_b["value"], abs=1e-10)
            np.testing.assert_allclose(row_a["scores"], row_b["scores"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("batched", ["padded", "length"])
def test_the_engine_puts_each_row_back_in_its_place(batched):
    """Rows of mixed lengths in one call of the engine: each row as alone, zero past its end."""
    torch.manual_seed(13)
    model = Packing().double()
    engine = ModuleEngine(model, call=lengths_call, batched=batched)
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0], [8, 9, 10, 11, 12], [13, 14, 0, 0, 0]])
    lengths = np.array([3, 2, 5, 2])
    x = engine.embed(ids)
    x[ids == 0] = 7.0  # whatever fills the padding must not matter
    logits, values, dx = engine.gradient(x, lengths, np.zeros(4, int), np.array([0, 1, 2, -1]))
    assert np.all(dx[np.arange(5)[None, :] >= lengths[:, None]] == 0)
    for b in range(4):
        one_logits, one_value, one_dx = engine.gradient(x[b:b + 1, : lengths[b]], lengths[b:b + 1], np.zeros(1, int),
                                                        np.array([[0, 1, 2, -1][b]]))
        np.testing.assert_allclose(logits[b], one_logits[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(dx[b, : lengths[b]], one_dx[0], rtol=0, atol=1e-12)
        assert values[b] == pytest.approx(one_value[0], abs=1e-12)
    np.testing.assert_allclose(engine.forward(x, lengths), logits, rtol=0, atol=1e-12)


def test_weights_are_frozen_only_while_the_module_runs():
    torch.manual_seed(14)
    model = Packing()
    model.out.bias.requires_grad_(False)  # the user's own choice, kept
    explainer = module_explainer(model, word_ids, ["a", "b", "c"], call=lengths_call)
    model.seen.clear()
    explainer.explain(TEXTS[:4], method="grad-input")
    assert model.seen and all(seen == {False} for seen in model.seen)
    assert [p.requires_grad for p in model.parameters()] == [True] * (len(list(model.parameters())) - 1) + [False]
    assert all(p.grad is None for p in model.parameters())

    def failing(module, ids, lengths):
        raise RuntimeError("out of memory")

    engine = ModuleEngine(model, call=failing, batched=False)
    with pytest.raises(UsageError, match="out of memory"):
        engine.gradient(engine.embed(np.array([[3, 4]])), np.array([2]), np.zeros(1, int), np.array([0]))
    assert model.emb.weight.requires_grad and model.lstm.weight_hh_l0.requires_grad
    assert not model.out.bias.requires_grad


def test_per_position_outputs_are_placed_whole_and_zero_past_each_end():
    torch.manual_seed(15)
    engine = ModuleEngine(NextWord().double(), head="lm", batched="padded")
    ids = np.array([[3, 4, 5, 0], [6, 7, 8, 9], [10, 0, 0, 0]])
    lengths = np.array([3, 4, 1])
    logits = engine.forward(engine.embed(ids), lengths)
    assert logits.shape == (3, 4, 40) and np.all(logits[np.arange(4)[None, :] >= lengths[:, None]] == 0)
    for b in range(3):
        alone = engine.forward(engine.embed(ids[b:b + 1, : lengths[b]]), lengths[b:b + 1])
        np.testing.assert_allclose(logits[b, : lengths[b]], alone[0], rtol=0, atol=1e-12)


def test_texts_of_one_length_get_a_call_of_their_own_and_the_rest_share_a_padded_one():
    torch.manual_seed(16)
    model = Packing()
    shapes = []
    explainer = module_explainer(model, word_ids, ["a", "b", "c"],
                                 call=lambda m, ids, lengths: shapes.append(tuple(ids.shape)) or m(ids, lengths))
    alone = module_explainer(model, word_ids, ["a", "b", "c"], call=lengths_call, batched=False)
    texts = [f"w{k} x{k} y{k}" for k in range(9)] + TEXTS  # nine of 3 words, then the mixed ten (one of 3)
    shapes.clear()
    many = explainer.explain(texts, method="grad-input")
    assert explainer.engine.batched == "padded"
    assert sorted(shapes[3:]) == [(9, 6), (10, 3)]  # after the check's 3 calls: the ten of 3 words, the rest padded
    for a, b in zip(many, alone.explain(texts, method="grad-input")):
        assert a.text == b.text
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-5)


def test_a_module_that_changes_its_input_in_place_leaves_the_batch_alone():
    class Scaling(nn.Module):  # one-hot in, scaled in place (as some modules normalise their input)
        def __init__(self):
            super().__init__()
            self.rnn, self.out = nn.GRU(5, 4, batch_first=True), nn.Linear(4, 2)

        def forward(self, x):
            x.mul_(2.0)
            return self.out(self.rnn(x)[0][:, -1])

    torch.manual_seed(17)
    engine = ModuleEngine(Scaling().double(), inputs="one-hot", vocab_size=5, batched="length")
    x = engine.embed(np.array([[1, 2, 3], [4, 0, 1]]))
    before = x.copy()
    first = engine.forward(x, np.array([3, 3]))
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(engine.forward(x, np.array([3, 3])), first, rtol=0, atol=0)
