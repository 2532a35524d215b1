"""Explainer.explain over batches of any size: every text gets its own rows, in their order, even
when its rows are split over batches (a language model's positions), beside a text that failed."""

import numpy as np
import pytest

from .conftest import explainer64, tiny_model_file

TEXTS = ["dead beef cafe", "abc", "hag bed", "a", "fed cab bead", "ff"]


def rows_of(result):
    return [(row["position"], row["target"], row["value"], row["scores"]) for row in result.rows]


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_rows_split_over_batches_come_back_in_order(engine):
    model_file = tiny_model_file("lstm", 1, False, "lm")
    whole = explainer64(model_file, engine).explain(TEXTS, "gradient", position="all")
    split = explainer64(model_file, engine, batch_size=3).explain(TEXTS, "gradient", position="all")
    for a, b, text in zip(whole, split, TEXTS):
        assert a.text == b.text == text
        assert [row["position"] for row in b.rows] == list(range(len(b.tokens)))  # a text's rows in order
        for (pa, ta, va, sa), (pb, tb, vb, sb) in zip(rows_of(a), rows_of(b)):
            assert (pa, ta) == (pb, tb)
            assert va == pytest.approx(vb, abs=1e-12)
            np.testing.assert_allclose(sa, sb, rtol=0, atol=1e-12)
        np.testing.assert_allclose([t.score for t in a.tokens], [t.score for t in b.tokens], rtol=0, atol=1e-12)


def test_every_class_row_kept_with_a_failed_text_beside_it():
    model_file = tiny_model_file("gru", 1, False)
    explainer = explainer64(model_file, batch_size=2)
    results = explainer.explain(["abc", "", "dead beef"], "gradient", target="all", errors="return")
    assert isinstance(results[1], Exception)
    for result in (results[0], results[2]):
        assert [row["index"] for row in result.rows] == list(range(len(explainer.output_names)))
        alone = explainer64(model_file).explain([result.text], "gradient", target="all")[0]
        for mine, single in zip(result.rows, alone.rows):
            np.testing.assert_allclose(mine["scores"], single["scores"], rtol=0, atol=1e-12)
