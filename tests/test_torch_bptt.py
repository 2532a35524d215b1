"""The torch engine's backward through time, written for dx alone, against autograd through the
same module (torch's own nn.RNN / nn.LSTM / nn.GRU), in float64, for every architecture."""

import itertools

import numpy as np
import pytest
import torch

from saliency.engines.torch_engine import TorchEngine
from saliency.objective import Objective

from .conftest import TEXTS, tiny_model_file
from .test_gradients import padded_inputs

CASES = [dict(cell=c, layers=l, bidirectional=b, head="classifier", pooling=p)
         for c, l, b, p in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("last", "max", "mean"))]
CASES += [dict(cell=c, layers=l, bidirectional=b, head=h)
          for c, l, b, h in itertools.product(("rnn", "lstm", "gru"), (1, 2), (False, True), ("lm", "tagger"))]
CASES += [dict(cell="rnn", layers=2, bidirectional=True, nonlinearity="relu"),
          dict(cell="lstm", layers=2, bidirectional=True, hidden=(4, 3)),  # layers of different sizes
          dict(cell="gru", layers=3, bidirectional=False, hidden=(3, 5, 2), pooling="last")]


def by_autograd(engine, x, lengths, positions, classes, objective):
    """dF/dx through the module's own forward (packed where it packs), by autograd."""
    x = torch.tensor(x, requires_grad=True)
    logits = engine.model(x, torch.tensor(lengths))
    at = logits[torch.arange(len(x)), torch.tensor(positions)] if logits.dim() == 3 else logits
    classes = torch.where(torch.tensor(classes) < 0, at.argmax(-1), torch.tensor(classes))
    values = Objective.of(objective).values(logits, torch.tensor(positions), classes)
    (dx,) = torch.autograd.grad(values.sum(), x)
    return logits.detach().numpy(), values.detach().numpy(), dx.numpy()


@pytest.mark.parametrize("arch", CASES, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("objective", ["logit", "logprob", Objective(against=0)])
def test_by_hand_equals_autograd(arch, objective):
    model_file = tiny_model_file(**arch)
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine)
    classes[::2] = -1  # some rows explain the prediction
    mine = engine.gradient(x, lengths, positions, classes, objective)
    reference = by_autograd(engine, x, lengths, positions, classes, objective)
    for got, want in zip(mine, reference):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.abs(reference[2]).max() > 1e-3  # a real gradient, not zeros on both sides


@pytest.mark.parametrize("texts", [TEXTS[:1], ["abc", "hag", "fed"]], ids=["one text", "equal lengths"])
def test_by_hand_without_padding(texts):
    model_file = tiny_model_file("lstm", 2, True, pooling="last")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, texts)
    mine = engine.gradient(x, lengths, positions, classes)
    reference = by_autograd(engine, x, lengths, positions, classes, "logit")
    np.testing.assert_allclose(mine[2], reference[2], rtol=0, atol=1e-12)


def test_padding_gets_no_gradient_and_changes_nothing():
    model_file = tiny_model_file("gru", 2, True, pooling="mean")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine)
    noisy = x.copy()
    padding = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    noisy[padding] = np.random.default_rng(0).normal(size=(padding.sum(), x.shape[2]))
    clean, dirty = engine.gradient(x, lengths, positions, classes), engine.gradient(noisy, lengths, positions, classes)
    for a, b in zip(clean, dirty):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    assert np.all(dirty[2][padding] == 0)


def test_the_autograd_path_kept_for_comparison_gives_the_same():
    model_file = tiny_model_file("gru", 2, True, pooling="max")
    by_hand, by_autograd = TorchEngine(model_file, "float64"), TorchEngine(model_file, "float64")
    by_autograd.backward_by_hand = False
    x, lengths, positions, classes = padded_inputs(model_file, by_hand)
    for a, b in zip(by_hand.gradient(x, lengths, positions, classes), by_autograd.gradient(x, lengths, positions, classes)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert by_autograd._layers is None  # the by-hand layers were never built: autograd did it all


# Ascending lengths, as the pipeline's batches and chunks come: each step works on the rows still
# inside their texts only (torch_loops' `first`), so these take the other path through the loops.
SORTED = ["a", "ff", "abc", "hag bed", "dead beef cafe"]


@pytest.mark.parametrize("arch", CASES, ids=lambda a: "-".join(str(v) for v in a.values()))
def test_rows_sorted_by_length_equal_autograd(arch):
    model_file = tiny_model_file(**arch)
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, SORTED)
    classes[::2] = -1
    from saliency.engines.torch_bptt import rows_inside

    assert rows_inside(torch.tensor(lengths), x.shape[1])[-1] == len(SORTED) - 1  # ended rows are skipped
    mine = engine.gradient(x, lengths, positions, classes, "logprob")
    reference = by_autograd(engine, x, lengths, positions, classes, "logprob")
    for got, want in zip(mine, reference):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.abs(reference[2]).max() > 1e-3


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("texts", [SORTED, TEXTS], ids=["sorted", "unsorted"])
def test_steps_after_the_longest_text_are_not_run(cell, texts):
    """A chunk of path points comes padded to its batch's longest text: the steps after its own
    longest are left out, and their outputs and gradients are zeros, as autograd gives them."""
    model_file = tiny_model_file(cell, 2, True, "tagger")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, texts)
    wide = np.concatenate([x, np.random.default_rng(1).normal(size=(len(x), 3, x.shape[2]))], axis=1)
    mine = engine.gradient(wide, lengths, positions, classes)
    reference = by_autograd(engine, wide, lengths, positions, classes, "logit")
    for got, want in zip(mine, reference):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.all(mine[2][:, x.shape[1]:] == 0)
    np.testing.assert_allclose(mine[2][:, : x.shape[1]], engine.gradient(x, lengths, positions, classes)[2],
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling,bidirectional", [("max", False), ("mean", True), ("last", True)])
def test_skipped_rows_are_never_read(cell, pooling, bidirectional):
    """Noise in the padding of sorted rows changes nothing: what a step skips, no step reads (and
    no output or gradient there is masked after the fact: mean pooling sends gradient to padding)."""
    model_file = tiny_model_file(cell, 2, bidirectional, pooling=pooling)
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, SORTED)
    noisy = x.copy()
    padding = np.arange(x.shape[1])[None, :] >= lengths[:, None]
    noisy[padding] = 1e3 * np.random.default_rng(0).normal(size=(padding.sum(), x.shape[2]))
    clean, dirty = engine.gradient(x, lengths, positions, classes), engine.gradient(noisy, lengths, positions, classes)
    for a, b in zip(clean, dirty):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    assert np.all(dirty[2][padding] == 0)


def test_rows_inside():
    from saliency.engines.torch_bptt import rows_inside

    assert rows_inside(torch.tensor([1, 1, 3, 4]), 4) == [0, 2, 2, 3]
    assert rows_inside(torch.tensor([3, 1, 4]), 4) == [0, 0, 0, 0]  # not sorted: every row, every step
    assert rows_inside(torch.tensor([2]), 2) == [0, 0]


REPEATS = ["a", "ff", "abc", "hhhhhh", "aaaaaaaaa"]  # saturated units settle: the same output step after step


@pytest.mark.parametrize("cell,nonlinearity,scale", [("lstm", "tanh", 40.0), ("gru", "tanh", 40.0),
                                                     ("rnn", "relu", 1.0)])
@pytest.mark.parametrize("texts", [REPEATS, REPEATS[::-1]], ids=["sorted", "unsorted"])
def test_max_pooling_over_tied_outputs_equals_autograd(cell, nonlinearity, scale, texts):
    """Max pooling over outputs tied across steps, end to end: saturated gates repeat an output
    exactly, a relu RNN gives exact zeros (a maximum of 0 that padding, 0 or -inf by the path,
    must not join). Saturated units pass little gradient back; the sharing itself is checked
    on its own below."""
    model_file = tiny_model_file(cell, 1, False, pooling="max", nonlinearity=nonlinearity)
    model_file.weights.update({k: v * scale for k, v in model_file.weights.items() if k.startswith("rnn.")})
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine, texts)
    out, _ = engine.layers.forward(torch.tensor(x), torch.tensor(lengths), float("-inf"))
    pooled = out.amax(0)
    assert int(((out == pooled).sum(0) > 1).sum()) >= 2  # ties, in more than one (row, unit) place
    mine = engine.gradient(x, lengths, positions, classes)
    reference = by_autograd(engine, x, lengths, positions, classes, "logit")
    for got, want in zip(mine, reference):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.abs(reference[2]).max() > 1e-3


@pytest.mark.parametrize("bidirectional", [False, True])
def test_max_pooling_backward_shares_between_tied_winners(bidirectional):
    """pool_backward against autograd through RNNModel.pool (masked, amax over time): winners
    tied at 2 and 3 steps share the gradient, a maximum of exactly 0 is not joined by padding."""
    from saliency.engines.torch_bptt import pool, pool_backward

    model_file = tiny_model_file("lstm", 1, bidirectional, pooling="max")
    engine = TorchEngine(model_file, "float64")
    T, B, D = 5, 3, 8
    lengths = torch.tensor([2, 4, 5])
    out = torch.randn(T, B, D, dtype=torch.float64)
    out[3, 1, 0] = out[1, 1, 0] = out[2, 1, 0] = 5.0  # a three-way tie
    out[0, 2, 1] = out[4, 2, 1] = 6.0  # two-way
    out[:, 0, 2] = -1.0
    out[1, 0, 2] = 0.0  # a maximum of 0, where padding holds 0 or -inf
    padding = torch.arange(T)[:, None] >= lengths[None, :]
    dpooled = torch.randn(B, D, dtype=torch.float64)
    as_layers_give_it = out.masked_fill(padding[..., None], float("-inf"))
    mine = pool_backward("max", as_layers_give_it, pool("max", as_layers_give_it, lengths, D), dpooled, lengths, D)
    assert float(mine[3, 1, 0]) == pytest.approx(float(dpooled[1, 0]) / 3)
    assert float(mine[1, 0, 2]) == float(dpooled[0, 2]) and not mine[2:, 0, 2].any()
    for pad in (0.0, float("-inf")):  # RNNModel.pool masks padding whatever it holds
        batch_major = out.masked_fill(padding[..., None], pad).transpose(0, 1).clone().requires_grad_(True)
        (want,) = torch.autograd.grad((engine.model.pool(batch_major, lengths) * dpooled).sum(), batch_major)
        np.testing.assert_allclose(mine.transpose(0, 1).numpy(), want.numpy(), rtol=0, atol=1e-15)


def token_ids(model_file, texts):
    ids = np.zeros((len(texts), max(len(t) for t in texts)), dtype=np.int64)
    for b, text in enumerate(texts):
        encoded = model_file.tokenizer.encode(text)
        ids[b, : len(encoded)] = encoded
    return ids


@pytest.mark.parametrize("arch", CASES + [dict(cell="lstm", layers=2, bidirectional=True, embedding_dim=0)],
                         ids=lambda a: "-".join(str(v) for v in a.values()))
def test_first_layer_projections_read_from_the_token_table_equal_autograd(arch):
    """Given the ids x embeds, the first layer's input projections come from a table of each
    token's, filled as tokens are first seen: the same gradient as autograd, on a first batch,
    on a second that reuses rows and adds new ones, and for a one-hot model (embedding_dim 0)."""
    model_file = tiny_model_file(**arch)
    engine = TorchEngine(model_file, "float64")
    for texts in (SORTED[:3], SORTED):
        x, lengths, positions, classes = padded_inputs(model_file, engine, texts)
        mine = engine.gradient(x, lengths, positions, classes, "logprob", ids=token_ids(model_file, texts))
        reference = by_autograd(engine, x, lengths, positions, classes, "logprob")
        for got, want in zip(mine, reference):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    table = engine.layers.token_projections[0]
    seen = np.unique(token_ids(model_file, SORTED))
    assert sorted(np.flatnonzero(table.known.numpy())) == sorted(seen)  # rows made for these tokens only


def test_a_token_table_over_its_size_limit_is_never_made(monkeypatch):
    from saliency.engines.torch_bptt import TokenProjections

    model_file = tiny_model_file("gru", 1, True)
    engine = TorchEngine(model_file, "float64")
    monkeypatch.setattr(TokenProjections, "TABLE_BYTES", 8)
    x, lengths, positions, classes = padded_inputs(model_file, engine, SORTED)
    mine = engine.gradient(x, lengths, positions, classes, ids=token_ids(model_file, SORTED))
    np.testing.assert_allclose(mine[2], by_autograd(engine, x, lengths, positions, classes, "logit")[2], rtol=0,
                               atol=1e-12)
    assert all(table.table is None for table in engine.layers.token_projections)


@pytest.mark.parametrize("method", ["gradient", "grad-input"])
def test_explain_through_the_token_table_equals_the_numpy_engine(method):
    """End to end: the methods that hand the engine their ids, in batches side by side, give the
    numpy engine's scores (it has no table), and the table was used."""
    from saliency.engines.numpy_engine import NumpyEngine
    from saliency.pipeline import Explainer

    model_file = tiny_model_file("lstm", 2, True, pooling="max")
    by_torch = Explainer(TorchEngine(model_file, "float64"), model_file.tokenizer, model_file.output_names,
                         batch_size=8)
    by_numpy = Explainer(NumpyEngine(model_file, "float64"), model_file.tokenizer, model_file.output_names,
                         batch_size=8)
    texts = [text[k:] + text[:k] for text in TEXTS for k in range(len(text))]  # 30 texts, 4 batches
    for mine, theirs in zip(by_torch.explain(texts, method), by_numpy.explain(texts, method)):
        np.testing.assert_allclose([t.score for t in mine.tokens], [t.score for t in theirs.tokens], rtol=0,
                                   atol=1e-10)
        assert mine.target == pytest.approx(theirs.target)
    assert by_torch.engine.layers.token_projections[0].table is not None


# A batch's arrays come from its thread's scratch (torch_bptt.Scratch), reused batch after batch.
@pytest.mark.parametrize("arch", [dict(cell="lstm", layers=2, bidirectional=True, pooling="max"),
                                  dict(cell="gru", layers=2, bidirectional=True, head="tagger"),
                                  dict(cell="rnn", layers=1, bidirectional=False, head="lm")],
                         ids=["lstm", "gru", "rnn"])
def test_the_scratch_left_by_other_batches_changes_nothing(arch, monkeypatch):
    """What one batch left in the scratch (here NaN everywhere) is never read by the next, and no
    result shares memory with it: results handed out earlier stay as they were."""
    from saliency.engines import threads
    from saliency.engines.torch_bptt import Scratch

    monkeypatch.setattr(threads, "cores", lambda: 1)  # batches on this thread, with this thread's scratch

    model_file = tiny_model_file(**arch)
    engine = TorchEngine(model_file, "float64")
    first = padded_inputs(model_file, engine, SORTED)
    second = padded_inputs(model_file, engine)
    kept = engine.gradient(*first)
    copies = [a.copy() for a in kept]
    Scratch._local.scratch.buffer.fill_(float("nan"))
    again = engine.gradient(*second)
    for got, want in zip(again, by_autograd(engine, *second, "logit")):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    Scratch._local.scratch.buffer.fill_(float("nan"))
    for got, old, copy in zip(engine.gradient(*first), kept, copies):
        assert np.array_equal(got, copy) and np.array_equal(old, copy)  # the same, and untouched


def test_a_batch_past_the_scratch_takes_fresh_arrays_for_the_rest(monkeypatch):
    from saliency.engines.torch_bptt import Scratch

    from saliency.engines import threads

    monkeypatch.setattr(threads, "cores", lambda: 1)  # the batch on this thread, with this thread's scratch
    model_file = tiny_model_file("lstm", 2, True, pooling="max")
    engine = TorchEngine(model_file, "float64")
    x, lengths, positions, classes = padded_inputs(model_file, engine)
    whole = engine.gradient(x, lengths, positions, classes)
    monkeypatch.setattr(Scratch, "BYTES", x.shape[0] * x.shape[1] * 8 * 8 * 3)  # a few arrays fit, not all
    monkeypatch.setattr(Scratch, "_local", __import__("threading").local())
    cut = engine.gradient(x, lengths, positions, classes)
    assert Scratch._local.scratch.offset > 0  # the first arrays did come from it
    for a, b in zip(whole, cut):
        assert np.array_equal(a, b)


def test_a_batch_inside_another_takes_arrays_after_the_outer_ones():
    from saliency.engines.torch_bptt import Scratch

    like = torch.zeros(1)
    with Scratch.batch():
        outer = Scratch.empty(like, 4, 2)
        with Scratch.batch():
            inner = Scratch.empty(like, 4, 2)
        after = Scratch.empty(like, 4, 2)
    buffer = Scratch._local.scratch.buffer
    assert buffer.data_ptr() == outer.data_ptr() < inner.data_ptr() < after.data_ptr()  # none overwrites another
    outside = Scratch.empty(like, 4, 2)  # no batch on this thread: a fresh array
    assert not (buffer.data_ptr() <= outside.data_ptr() < buffer.data_ptr() + buffer.nbytes)
    with Scratch.batch():  # the next batch starts over
        assert Scratch.empty(like, 4, 2).data_ptr() == buffer.data_ptr()
        wider = Scratch.empty(like.double(), 4, 2)  # another dtype: fresh, the batch's arrays kept
        assert Scratch._local.scratch.buffer is buffer and wider.dtype == torch.float64


def test_a_compiled_loops_first_runs_go_one_at_a_time():
    """TorchScript plans a function during its first runs; two threads making them at once gave
    results that depended on timing (torch_loops.Loop). Later runs go side by side."""
    import threading
    import time

    from saliency.engines.torch_loops import Loop

    inside, entered = [], []

    def script(*args):
        entered.append(len(inside))  # how many were inside as this run began
        inside.append(1)
        time.sleep(0.05)
        inside.pop()
        return args

    def at_once(dtype):
        threads = [threading.Thread(target=loop, args=(torch.zeros(1, dtype=dtype),)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    loop = Loop(script)
    for dtype in (torch.float32, torch.float64):  # each dtype is planned on its own
        entered.clear()
        at_once(dtype)
        assert entered[:3] == [0, 0, 0]  # the first two began alone, and the next only after they ended
    entered.clear()
    at_once(torch.float32)
    assert max(entered) > 0  # planned: runs overlap


def test_token_table_rows_do_not_depend_on_the_batch_that_first_met_them():
    """Batches side by side fill the table in an order that depends on timing; a row made alone
    (a one-row matmul, another BLAS path) differed in its last digits from one made with others,
    so a score could change from run to run. The shipped model, float32, as it runs."""
    from saliency import load_model
    from saliency.engines.torch_bptt import TokenProjections

    engine = load_model(engine="torch").engine
    direction = engine.layers.layers[0][0]
    ids = torch.arange(2, 42)[:, None]  # (T, B): 40 tokens
    tables = [TokenProjections(direction, engine.model.embed, engine.config.vocab_size) for _ in range(2)]
    together = tables[0](ids)
    one_by_one = torch.cat([tables[1](ids[k:k + 1]) for k in range(len(ids))])
    assert torch.equal(together, one_by_one)
    assert torch.equal(tables[0](ids[3:4]), together[3:4])  # read back, not made again
