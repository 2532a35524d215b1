"""saliency/batching.py: the one padding and batching helper the Explainer, the editor, evaluate and
training share. Padding is exact, a batch never passes its limits, and a batch's outputs are
each sequence's outputs alone (float64, to 1e-12)."""

import numpy as np
import pytest

from saliency.act.editor import Editor
from saliency.batching import batches, forward_batches, padded
from saliency.evaluation.evaluate import class_probabilities
from saliency.pipeline import softmax
from saliency.train_steps import pad

from .conftest import explainer64, tiny_model_file


def test_padded_left_aligns_each_list_and_fills_the_rest():
    ids, lengths = padded([[5, 6], [7], [1, 2, 3]], fill_id=9)
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    assert ids.tolist() == [[5, 6, 9], [7, 9, 9], [1, 2, 3]]
    assert lengths.tolist() == [2, 1, 3]


def test_training_pads_with_the_same_helper():
    ids, lengths = pad([[4, 5, 6], [7]])
    assert ids.tolist() == [[4, 5, 6], [7, 0, 0]] and lengths.tolist() == [3, 1]
    assert str(ids.dtype) == "torch.int64" and str(lengths.dtype) == "torch.int64"


def test_batches_close_at_the_row_limit_and_the_position_limit():
    assert list(batches([1] * 5, max_rows=2)) == [[0, 1], [2, 3], [4]]
    # sorted lengths: 3 rows of 3 fit 10 positions (9), a 4th would not (12); a 3 and a 5 fit (2 x 5),
    # a third row would not (3 x 5)
    assert list(batches([3, 3, 3, 3, 5, 5], max_rows=None, max_positions=10)) == [[0, 1, 2], [3, 4], [5]]
    # unsorted: the batch's longest row counts, not the newest one's length
    assert list(batches([5, 1, 1], max_rows=None, max_positions=10)) == [[0, 1], [2]]
    # a row longer than the limit still goes, alone
    assert list(batches([2, 50, 2], max_rows=8, max_positions=10)) == [[0], [1], [2]]
    assert list(batches([], max_rows=4)) == []


@pytest.mark.parametrize("max_rows,max_positions", [(64, 8192), (3, 8192), (64, 12), (2, 7)])
def test_every_row_once_in_order_and_within_the_limits(max_rows, max_positions):
    lengths = sorted(np.random.default_rng(0).integers(1, 6, 40).tolist())
    got = list(batches(lengths, max_rows, max_positions))
    assert [i for b in got for i in b] == list(range(40))
    for b in got:
        assert len(b) <= max_rows
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_positions


@pytest.mark.parametrize("head", ["classifier", "lm"])
def test_a_batch_gives_each_sequence_its_outputs_alone(head):
    explainer = explainer64(tiny_model_file("gru", 1, False, head=head))
    engine = explainer.engine
    sequences = [[2, 3, 4], [5], [6, 7, 8, 9, 2], [3, 3]]
    seen = []
    for batch, lengths, out in forward_batches(engine, sequences, explainer.fill_id, max_rows=3):
        assert lengths.tolist() == [len(sequences[i]) for i in batch]
        for b, i in enumerate(batch):
            alone = np.asarray(engine.forward(engine.embed(np.array([sequences[i]])), np.array([len(sequences[i])])))
            got = np.asarray(out)[b, : len(sequences[i])] if head == "lm" else np.asarray(out)[b]
            np.testing.assert_allclose(got, alone[0], rtol=0, atol=1e-12)
        seen += batch
    assert seen == [0, 1, 2, 3]


def test_the_editor_and_evaluate_read_the_same_outputs():
    explainer = explainer64(tiny_model_file("lstm", 1, True))
    engine = explainer.engine
    sequences = [[2, 3, 4], [5], [6, 7, 8, 9, 2], [3, 3]]
    alone = np.array([np.asarray(engine.forward(engine.embed(np.array([s])), np.array([len(s)])))[0]
                      for s in sequences])
    np.testing.assert_allclose(Editor(explainer).logits(sequences), alone, rtol=0, atol=1e-12)
    classes = [0, 2, 1, 1]
    expected = softmax(alone)[np.arange(4), classes]
    got = class_probabilities(engine, sequences, classes, explainer.fill_id)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
