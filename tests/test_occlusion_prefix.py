"""Occlusion's prefix reuse (saliency/engines/prefix.py): each copy run on from the original text's states
gives exactly what running it from step 0 gives, on both engines, and runs fewer steps."""

import itertools

import numpy as np
import pytest
import torch

from saliency.attribution import occlusion
from saliency.attribution.arrays import native
from saliency.attribution.base import Batch
from saliency.attribution.occlusion import Occlusion
from saliency.engines.choose import load_engine
from saliency.engines.prefix import Prefix, running_summaries
from saliency.modelfile.checkpoint import ModelFile
from saliency.modelfile.config import ModelConfig
from saliency.engines.torch_engine import RNNModel
from saliency.tokenize import PAD, PAD_ID, UNK, UNK_ID, Tokenizer

from .conftest import CHARS, LABELS, explainer64, tiny_model_file

TEXTS = ["abc", "hag bed", "ab", "dead beef cafe", "ff", "bad"]  # several lengths, none of one token
ENGINES = ("numpy", "torch")


def make_batch(model_file, engine, texts=TEXTS, positional=False):
    """A padded Batch as the pipeline makes it: a classifier's class 1, or at the middle position
    of each text, a language model's next token or a tagger's tag 1."""
    tokenizer = model_file.tokenizer
    rows = [[t.id for t in tokenizer.tokenize(text)] for text in texts]
    lengths = np.array([len(r) for r in rows])
    ids = np.full((len(rows), lengths.max()), PAD_ID, dtype=np.int64)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = r
    positions = lengths // 2 if positional else np.zeros(len(rows), dtype=np.int64)
    classes = np.ones(len(rows), int)
    if model_file.config.head == "lm":
        classes = ids[np.arange(len(rows)), np.minimum(positions + 1, lengths - 1)]
    return Batch(ids, lengths, engine.embed(native(engine, ids)), positions, classes, "logit", PAD_ID, UNK_ID)


def both_paths(monkeypatch, engine, batch, mode):
    """(reused, from step 0) Attributions of the same batch."""
    monkeypatch.setattr(occlusion, "REUSE_PREFIX", True)
    reused = Occlusion(occlude=mode).attribute(engine, batch)
    monkeypatch.setattr(occlusion, "REUSE_PREFIX", False)
    return reused, Occlusion(occlude=mode).attribute(engine, batch)


CLASSIFIERS = list(itertools.product(("rnn", "lstm", "gru"), (1, 2), ("last", "max", "mean")))


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("mode", occlusion.MODES)
@pytest.mark.parametrize("cell,layers,pooling", CLASSIFIERS, ids=lambda v: str(v))
def test_classifier_reuse_equals_running_every_copy_from_the_start(monkeypatch, cell, layers, pooling, mode,
                                                                   engine_name):
    model_file = tiny_model_file(cell, layers, False, pooling=pooling)
    engine = load_engine(model_file, engine_name, dtype="float64")
    reused, fresh = both_paths(monkeypatch, engine, make_batch(model_file, engine), mode)
    assert np.abs(reused.scores).max() > 1e-3  # real scores, not all zero
    np.testing.assert_allclose(reused.scores, fresh.scores, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(reused.values, fresh.values)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("mode", ("unk", "pad"))
@pytest.mark.parametrize("cell,layers", list(itertools.product(("rnn", "lstm", "gru"), (1, 2))))
@pytest.mark.parametrize("head", ("lm", "tagger"))
def test_per_position_heads_at_a_middle_position(monkeypatch, head, cell, layers, mode, engine_name):
    model_file = tiny_model_file(cell, layers, False, head=head)
    engine = load_engine(model_file, engine_name, dtype="float64")
    batch = make_batch(model_file, engine, positional=True)
    reused, fresh = both_paths(monkeypatch, engine, batch, mode)
    np.testing.assert_allclose(reused.scores, fresh.scores, rtol=0, atol=1e-10)
    after = np.arange(batch.ids.shape[1])[None, :] > batch.positions[:, None]
    assert np.all(reused.scores[after] == 0)  # a token after the explained position changes nothing
    assert np.abs(reused.scores[~after]).max() > 1e-3


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("pooling", ("last", "max", "mean"))
def test_layers_of_different_sizes(monkeypatch, pooling, engine_name):
    """An imported stack (LSTM 4 -> LSTM 3): torch runs one module per layer, each from its own state."""
    model_file = tiny_model_file("lstm", 2, False, pooling=pooling, hidden=(4, 3))
    engine = load_engine(model_file, engine_name, dtype="float64")
    reused, fresh = both_paths(monkeypatch, engine, make_batch(model_file, engine), "delete")
    np.testing.assert_allclose(reused.scores, fresh.scores, rtol=0, atol=1e-10)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("head", ("classifier", "lm", "tagger"))
def test_texts_in_groups_of_held_states(monkeypatch, head, engine_name):
    """With room for one text's states at a time, each text is a group of its own: the same
    scores, and progress rises to the total number of copies."""
    monkeypatch.setattr(occlusion, "STATE_POSITIONS", 1)
    model_file = tiny_model_file("lstm", 2, False, head=head, pooling="mean")
    engine = load_engine(model_file, engine_name, dtype="float64")
    batch = make_batch(model_file, engine, positional=head != "classifier")
    seen = []
    batch.progress = lambda done, total: seen.append((done, total))
    reused = Occlusion(occlude="unk").attribute(engine, batch)
    batch.progress = None
    monkeypatch.setattr(occlusion, "REUSE_PREFIX", False)
    fresh = Occlusion(occlude="unk").attribute(engine, batch)
    np.testing.assert_allclose(reused.scores, fresh.scores, rtol=0, atol=1e-10)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (31, 31) and {t for _, t in seen} == {31}  # 31 tokens
    assert len(seen) >= len(TEXTS)  # a report at least per text (each its own group here)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("head", ("lm", "tagger"))
def test_every_position_through_the_pipeline(monkeypatch, head, engine_name):
    """explain(position="all"): one row per position, each with its own explained position."""
    explainer = explainer64(tiny_model_file("gru", 2, False, head=head), engine_name)
    rows = {}
    for reuse in (True, False):
        monkeypatch.setattr(occlusion, "REUSE_PREFIX", reuse)
        results = explainer.explain(["abc d", "hag bed", "dead beef cafe"], method="occlusion", position="all")
        rows[reuse] = [np.array(row["scores"]) for r in results for row in r.rows]
    assert len(rows[True]) == 5 + 7 + 14
    for reused, fresh in zip(rows[True], rows[False]):
        np.testing.assert_allclose(reused, fresh, rtol=0, atol=1e-10)


def model_with(**config):
    """tiny_model_file's kind of model with any ModelConfig fields (zero_start, head_hidden, a
    cell per layer), seeded, in float64, with the weights made larger."""
    torch.manual_seed(0)
    tokenizer = Tokenizer("char", [PAD, UNK] + CHARS, lowercase=True)
    config = {**dict(cell="lstm", vocab_size=len(tokenizer.vocab), embedding_dim=5, hidden_size=4, layers=1,
                     num_labels=len(LABELS)), **config}
    model = RNNModel(ModelConfig(**config)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return ModelFile(model.cfg, tokenizer, [] if model.cfg.head == "lm" else LABELS, model.weights(), {})


ISSUE_21_MODELS = {  # what main's issue 21 brought: a zero step before the text, MLP heads, mixed stacks
    "zero-start-lstm-2L-mean": dict(layers=2, zero_start=True, pooling="mean"),
    "zero-start-gru-lm": dict(cell="gru", layers=2, zero_start=True, head="lm"),
    "zero-start-lstm-tagger": dict(zero_start=True, head="tagger"),
    "mlp-head-gru-max": dict(cell="gru", head_hidden=((6, "relu"), (5, "tanh"))),
    "mixed-gru-rnn-last": dict(cell=("gru", "rnn"), hidden_size=(4, 3), layers=2, pooling="last"),
    "mixed-lstm-gru-zero-start-lm": dict(cell=("lstm", "gru"), hidden_size=(4, 4), layers=2, zero_start=True,
                                         head="lm"),
}


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("mode", ("unk", "zero", "delete"))
@pytest.mark.parametrize("name", ISSUE_21_MODELS)
def test_zero_start_mlp_heads_and_mixed_stacks(monkeypatch, name, mode, engine_name):
    model_file = model_with(**ISSUE_21_MODELS[name])
    if mode == "delete" and model_file.config.per_position:
        pytest.skip("delete is refused for per-position heads")
    engine = load_engine(model_file, engine_name, dtype="float64")
    batch = make_batch(model_file, engine, positional=model_file.config.per_position)
    reused, fresh = both_paths(monkeypatch, engine, batch, mode)
    assert np.abs(reused.scores).max() > 1e-3
    np.testing.assert_allclose(reused.scores, fresh.scores, rtol=0, atol=1e-10)


@pytest.mark.parametrize("cell", ("rnn", "lstm", "gru"))
def test_engines_agree_on_the_states_and_on_a_resumed_run(cell):
    """Both engines' states at every step agree; running the rest of a text from its state at
    step s gives the whole text's logits (pooled with the running summary of steps before s)."""
    model_file = tiny_model_file(cell, 2, False, pooling="mean")
    engines = [load_engine(model_file, name, dtype="float64") for name in ENGINES]
    batch = make_batch(model_file, engines[0])
    states = [e.states(batch.x, batch.lengths) for e in engines]
    B, T = batch.ids.shape
    assert len(states[0]) == 2 and states[0][0][0].shape == (B, T + 1, 4)
    assert (states[0][0][1] is None) == (cell != "lstm")
    for (h_np, c_np), (h_t, c_t) in zip(*states):
        np.testing.assert_allclose(h_np, h_t, rtol=0, atol=1e-12)
        if c_np is not None:
            np.testing.assert_allclose(c_np, c_t, rtol=0, atol=1e-12)
    for engine, layers in zip(engines, states):
        whole = engine.forward(batch.x, batch.lengths)
        s = np.minimum(2, batch.lengths - 1)  # resume at step 2 (earlier for short texts)
        rows = np.arange(B)
        rest = np.stack([np.roll(batch.x[b], -s[b], axis=0) for b in rows])
        initial = [(h[rows, s], None if c is None else c[rows, s]) for h, c in layers]
        summary = running_summaries("mean", layers[-1][0])[rows, s]
        logits = engine.resume(rest, batch.lengths - s, initial, Prefix(summary, s))
        np.testing.assert_allclose(logits, whole, rtol=0, atol=1e-12)


class Counting:
    """An engine that counts the recurrent steps it runs (rows x padded width), passing calls on."""

    def __init__(self, engine):
        self.engine, self.steps = engine, 0

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def forward(self, x, lengths):
        self.steps += x.shape[0] * x.shape[1]
        return self.engine.forward(x, lengths)

    def states(self, x, lengths):
        self.steps += x.shape[0] * x.shape[1]
        return self.engine.states(x, lengths)

    def resume(self, x, lengths, initial, prefix=None):
        self.steps += x.shape[0] * x.shape[1]
        return self.engine.resume(x, lengths, initial, prefix)


@pytest.mark.parametrize("reuse,expected", [(False, 8 + 8 * 8), (True, 8 + 8 + 8 * 9 // 2)])
def test_steps_run_for_one_text(monkeypatch, reuse, expected):
    """8 tokens: F(x) (8 steps), then from step 0 eight copies of 8 steps; reused, the original's
    states (8) and copies of 8, 7, ..., 1 steps (a chunk a copy here: no padding)."""
    model_file = tiny_model_file("gru", 1, False, pooling="max")
    engine = Counting(load_engine(model_file, "numpy", dtype="float64"))
    monkeypatch.setattr(occlusion, "REUSE_PREFIX", reuse)
    monkeypatch.setattr(occlusion, "CHUNK_POSITIONS", 1)
    Occlusion(occlude="unk").attribute(engine, make_batch(model_file, engine, ["abcdefgh"]))
    assert engine.steps == expected


def test_chunks_come_in_few_shapes():
    """Widths rounded up to 8 a doubling: 2,000 tokens run in chunks of 72 widths (torch's
    CPU LSTM keeps a compiled primitive per shape), each chunk at most 1/8 wider than needed."""
    widths = {occlusion.bucket(w) for w in range(1, 2001)}
    assert len(widths) == 15 + 8 * 6 + 9  # exact to 15; 16..1,023 eight a doubling; 1,024..2,048 nine
    assert all(w <= occlusion.bucket(w) <= w * 9 / 8 for w in range(1, 5000))
    assert [occlusion.bucket(w) for w in (15, 16, 17, 33, 1000)] == [15, 16, 18, 36, 1024]


def test_chunks_of_copies_pad_little(monkeypatch):
    """300 tokens in chunks of 2,048 positions: copies longest first, so a chunk's rows have
    like lengths, and widths at most 1/8 over the longest: the padded steps stay within 10% of
    the unpadded ones (measured: 49,992 of 45,750)."""
    model_file = tiny_model_file("lstm", 1, False, pooling="mean")
    engine = Counting(load_engine(model_file, "numpy", dtype="float64"))
    Occlusion(occlude="unk").attribute(engine, make_batch(model_file, engine, ["abcdefgh" * 37 + "abcd"]))
    T = 300
    assert T * (T + 1) // 2 + 2 * T <= engine.steps <= 1.1 * (T * (T + 1) / 2 + 2 * T)


@pytest.mark.parametrize("head", ("lm", "tagger"))
def test_no_copy_runs_past_the_explained_position(monkeypatch, head):
    """Position 3 of 8 tokens: copies occluding tokens 0..3 run 4, 3, 2, 1 steps; 4..7 none."""
    monkeypatch.setattr(occlusion, "CHUNK_POSITIONS", 1)
    model_file = tiny_model_file("lstm", 1, False, head=head)
    engine = Counting(load_engine(model_file, "torch", dtype="float64"))
    batch = make_batch(model_file, engine, ["abcdefgh"], positional=True)
    assert batch.positions[0] == 4
    batch.positions[:] = 3
    Occlusion(occlude="pad").attribute(engine, batch)
    assert engine.steps == 8 + 8 + (4 + 3 + 2 + 1)


def test_bidirectional_models_run_every_copy_from_the_start(monkeypatch):
    model_file = tiny_model_file("lstm", 1, True, pooling="max")
    engine = Counting(load_engine(model_file, "numpy", dtype="float64"))
    Occlusion(occlude="unk").attribute(engine, make_batch(model_file, engine, ["abcdefgh"]))
    assert engine.steps == 8 + 8 * 8

