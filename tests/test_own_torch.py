"""PyTorch modules explained as their authors' code runs them: the two PyTorch tutorial models,
written out here as the tutorials give them, one-hot inputs, call= adapters, the author's ids,
and several texts per call."""

import string

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saliency import explain
from saliency.errors import InputError, UsageError
from saliency.tokenize import Tokenizer
from saliency.engines.user_module import module_explainer

ALL_LETTERS = string.ascii_letters + " .,;'"  # the name-classification tutorial's alphabet
CATEGORIES = ["Arabic", "Chinese", "English", "Irish", "Japanese"]


class CharRNN(nn.Module):
    """"NLP From Scratch: Classifying Names with a Character-Level RNN" (current version)."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)
        return output


class ClassicRNN(nn.Module):
    """The same tutorial's earlier model: one step per call, forward(input, hidden)."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def line_to_tensor(line):
    """The tutorial's lineToTensor: (T, 1, n_letters) one-hot."""
    tensor = torch.zeros(len(line), 1, len(ALL_LETTERS))
    for li, letter in enumerate(line):
        tensor[li][0][ALL_LETTERS.find(letter)] = 1
    return tensor


def letters():
    return Tokenizer("char", list(ALL_LETTERS), lowercase=False)  # the tutorial's ids, case kept


NAMES = ["Nakamura", "O'Neil", "Satoshi", "Abbas", "Li", "Smith", "Zhang", "Murphy"]


@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_name_classifier_tutorial_one_hot_seq_first(dtype, tolerance):
    torch.manual_seed(0)
    model = CharRNN(len(ALL_LETTERS), 16, len(CATEGORIES)).to(dtype)
    results = explain(model, NAMES, "gradient", tokenizer=letters(), labels=CATEGORIES, inputs="one-hot",
                      call=lambda m, x: m(x.transpose(0, 1)))  # batch-first in, seq-first for nn.RNN
    for name, result in zip(NAMES, results):
        line = line_to_tensor(name).to(dtype).requires_grad_(True)
        out = model(line)[0]  # the tutorial's own call: log-probabilities
        k = int(out.argmax())
        (grad,) = torch.autograd.grad(out[k], line)
        assert result.prediction["label"] == CATEGORIES[k]
        assert result.target["value"] == pytest.approx(float(out[k].detach()), abs=tolerance)
        dx = grad[:, 0].numpy()  # dx_t w.r.t. the one-hot vectors; gradient scores are |dx_t|
        np.testing.assert_allclose([t.score for t in result.tokens], np.linalg.norm(dx, axis=1),
                                   rtol=0, atol=tolerance)
        assert [t.text for t in result.tokens] == list(name)


def test_classic_name_tutorial_one_step_per_call():
    torch.manual_seed(1)
    model = ClassicRNN(len(ALL_LETTERS), 12, len(CATEGORIES)).double()

    def call(m, x):  # the tutorial's loop, for a batch: (B, T, V) one-hot
        hidden = torch.zeros(x.shape[0], m.hidden_size, dtype=x.dtype)
        for t in range(x.shape[1]):
            output, hidden = m(x[:, t], hidden)
        return output

    results = explain(model, NAMES, "grad-input", tokenizer=letters(), labels=CATEGORIES, inputs="one-hot",
                      call=call)
    for name, result in zip(NAMES, results):
        line = line_to_tensor(name).double().requires_grad_(True)
        hidden = model.initHidden().double()
        for i in range(line.size()[0]):
            output, hidden = model(line[i], hidden)
        k = int(output[0].argmax())
        (grad,) = torch.autograd.grad(output[0, k], line)
        grad_input = (grad * line).sum(-1)[:, 0].detach().numpy()  # grad-input: dx_t . x_t
        np.testing.assert_allclose([t.score for t in result.tokens], grad_input, rtol=0, atol=1e-12)


class LSTMTagger(nn.Module):
    """"Sequence Models and Long Short-Term Memory Networks": (T,) ids in, (T, tags) out."""

    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


TRAINING_DATA = [("a dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
                 ("b read that book".split(), ["NN", "V", "DET", "NN"])]
WORD_TO_IX = {}
for sent, _ in TRAINING_DATA:  # the tutorial's numbering: first seen, first numbered ('a' 0, 'dog' 1, ...)
    for word in sent:
        WORD_TO_IX.setdefault(word, len(WORD_TO_IX))
TAGS = ["DET", "NN", "V"]


def tagger_tokenize(text):
    return [(w, WORD_TO_IX[w]) for w in text.split()]


def test_lstm_tagger_tutorial_takes_t_ids_through_call():
    torch.manual_seed(2)
    model = LSTMTagger(6, 6, len(WORD_TO_IX), len(TAGS)).double()
    text, position = "b ate the book", 2

    def call(m, ids):  # the tutorial's model takes one (T,) sentence: one call per row
        return torch.stack([m(row) for row in ids])

    result = explain(model, text, "gradient", tokenizer=tagger_tokenize, labels=TAGS, head="lm", call=call,
                     position=position, target="DET")
    # The tutorial's forward, from the embeddings on, differentiated by autograd.
    sentence = torch.tensor([WORD_TO_IX[w] for w in text.split()])
    embeds = model.word_embeddings(sentence).detach().requires_grad_(True)
    lstm_out, _ = model.lstm(embeds.view(len(sentence), 1, -1))
    scores = F.log_softmax(model.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)
    (grad,) = torch.autograd.grad(scores[position, 0], embeds)
    assert result.target["value"] == pytest.approx(float(scores[position, 0].detach()), abs=1e-12)
    np.testing.assert_allclose([t.score for t in result.tokens], grad.norm(dim=1).numpy(), rtol=0, atol=1e-12)
    # ids 0 and 1 are the author's words 'a' and 'dog': not unknown, not padding
    [b_first] = explain(model, ["a dog"], "gradient", tokenizer=tagger_tokenize, labels=TAGS, head="lm",
                        call=call, position=1, target="NN")
    assert [t.unk for t in b_first.tokens] == [False, False]
    with pytest.raises(UsageError, match=r"no <unk> token \(its source had none\)"):
        explain(model, text, "occlusion", tokenizer=tagger_tokenize, labels=TAGS, head="lm", call=call,
                position=2, target="DET")
    with pytest.raises(UsageError, match=r"no <unk> token .*--baseline zero"):
        explain(model, text, "integrated-gradients", tokenizer=tagger_tokenize, labels=TAGS, head="lm",
                call=call, position=2, target="DET", baseline="unk")
    # named by the user, they are used
    occluded = explain(model, text, "occlusion", tokenizer=tagger_tokenize, labels=TAGS, head="lm", call=call,
                       position=2, target="DET", unk_id=4)
    assert len(occluded.tokens) == 4


def test_the_tagger_without_call_is_one_line_not_a_torch_error():
    model = LSTMTagger(4, 4, len(WORD_TO_IX), len(TAGS))
    with pytest.raises(UsageError, match=r"^the module failed on \(1, 3\) ids, batch first: input.size\(-1\) must "
                                         r"be equal to input_size.* \(adapt its input and output with call="):
        explain(model, "a dog ate", "gradient", tokenizer=tagger_tokenize, labels=TAGS, head="lm", position=0,
                target="NN")


class Counting(nn.Module):
    """A batch-first embedding + GRU classifier that counts its calls."""

    def __init__(self, vocab=50, dim=8, hidden=10):
        super().__init__()
        self.emb, self.gru, self.out = nn.Embedding(vocab, dim), nn.GRU(dim, hidden, batch_first=True), \
            nn.Linear(hidden, 3)
        self.calls = 0

    def forward(self, ids):
        self.calls += 1
        states, _ = self.gru(self.emb(ids))
        return self.out(states[:, -1])


def word_ids(text):
    return [(w, (sum(map(ord, w)) % 48) + 2) for w in text.split()]


TEXTS = ["the cat sat", "on a mat", "dogs bark", "a long and winding road home", "no", "yes it is",
         "one two three four", "five six", "x y z w", "all is well"]


def test_batched_calls_equal_one_at_a_time_and_take_one_call_per_length():
    torch.manual_seed(3)
    model = Counting().double()
    batched = module_explainer(model, word_ids, ["a", "b", "c"])
    alone = module_explainer(model, word_ids, ["a", "b", "c"], batched=False)
    model.calls = 0
    many = batched.explain(TEXTS, method="integrated-gradients", steps=8)
    calls_batched = model.calls
    model.calls = 0
    one = alone.explain(TEXTS, method="integrated-gradients", steps=8)
    calls_alone = model.calls
    assert batched.engine.batched == "length"  # found out on the first batch: padding would change its last state
    for a, b in zip(many, one):
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-12)
    lengths = {len(t.split()) for t in TEXTS}
    per_text = calls_alone // len(TEXTS)  # evaluations per text, each one call when texts run alone
    assert calls_alone == per_text * len(TEXTS)
    # the check (3 calls padded, which fails, 3 by length), then per evaluation one call per length at
    # most (IG also stacks its steps): 21 calls against 110
    assert (calls_batched - 6) % len(lengths) == 0 and calls_batched - 6 <= per_text * len(lengths)
    assert calls_batched * 5 < calls_alone


def test_a_module_that_mixes_texts_of_a_batch_is_run_one_at_a_time():
    class Mixing(Counting):
        def forward(self, ids):
            states, _ = self.gru(self.emb(ids))
            return self.out(states[:, -1] + states[:, -1].mean(0))  # depends on the other texts

    torch.manual_seed(4)
    model = Mixing().double()
    explainer = module_explainer(model, word_ids, ["a", "b", "c"])
    results = explainer.explain(TEXTS[:4], method="gradient")
    assert explainer.engine.batched is False
    for text, result in zip(TEXTS[:4], results):
        ids = torch.tensor([[i for _, i in word_ids(text)]])
        assert result.target["value"] == pytest.approx(float(model(ids)[0].max().detach()), abs=1e-12)


def test_one_hot_needs_a_vocabulary_size_and_unknown_letters_are_refused():
    model = CharRNN(len(ALL_LETTERS), 4, 2)
    with pytest.raises(UsageError, match="inputs='one-hot' needs the vocabulary size"):
        explain(model, "ab", "gradient", tokenizer=lambda text: [ALL_LETTERS.find(c) for c in text],
                inputs="one-hot")
    with pytest.raises(InputError, match=r"'é' at offset 1 is not in the model's vocabulary \(case is kept\)"):
        explain(model, "Zé", "gradient", tokenizer=letters(), inputs="one-hot", call=lambda m, x: m(x.transpose(0, 1)))


class Packing(Counting):
    """A module that handles padding itself, given the true lengths."""

    def forward(self, ids, lengths=None):
        self.calls += 1
        x = self.emb(ids)
        if lengths is not None:
            x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.gru(x)
        return self.out(h[-1])


def test_a_module_that_takes_lengths_gets_padded_batches():
    torch.manual_seed(5)
    model = Packing().double()
    padded = module_explainer(model, word_ids, ["a", "b", "c"], call=lambda m, ids, lengths: m(ids, lengths))
    alone = module_explainer(model, word_ids, ["a", "b", "c"], batched=False)
    model.calls = 0
    many = padded.explain(TEXTS, method="grad-input")
    assert padded.engine.batched == "padded" and model.calls == 3 + 1  # the check (3), then one call for all
    for a, b in zip(many, alone.explain(TEXTS, method="grad-input")):
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-12)
        assert a.target["value"] == pytest.approx(b.target["value"], abs=1e-12)


def test_the_name_tutorial_model_saved_for_the_command_line(tmp_path):
    from saliency import load_model, save_model

    torch.manual_seed(8)
    model = CharRNN(len(ALL_LETTERS), 16, len(CATEGORIES))
    path = str(tmp_path / "names.safetensors")
    model_file = save_model(model, path, list(ALL_LETTERS), labels=CATEGORIES, level="char", lowercase=False,
                            pooling="last", call=lambda m, x: m(x.transpose(0, 1)))
    assert model_file.config.embedding_dim == 0 and model_file.tokenizer.vocab[:3] == ["a", "b", "c"]
    explainer = load_model(path)
    for name, result in zip(NAMES, explainer.explain(NAMES, method="gradient")):
        with torch.no_grad():
            logp = model(line_to_tensor(name))[0]  # the tutorial's own call, float32
        assert result.prediction["label"] == CATEGORIES[int(logp.argmax())]
        assert abs(result.prediction["probability"] - float(logp.exp().max())) < 1e-5
