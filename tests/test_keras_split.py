"""Keras' text_to_word_sequence, reproduced with offsets: the same words, each at its place in the text."""

import csv
from pathlib import Path

import pytest

from saliency.importers.keras_vocab import KERAS_FILTERS
from saliency.tokenize import Tokenizer



def text_to_word_sequence(input_text, filters=KERAS_FILTERS, lower=True, split=" "):
    """keras.preprocessing.text.text_to_word_sequence (Keras 2.x; Keras 3 no longer ships it), as written there."""
    if lower:
        input_text = input_text.lower()
    translate_dict = {c: split for c in filters}
    translate_map = str.maketrans(translate_dict)
    input_text = input_text.translate(translate_map)
    seq = input_text.split(split)
    return [i for i in seq if i]

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "dev.tsv"
EDGES = ["", "   ", "Hello,World!!", "tab\tsep\nline", "a--b", "Don't STOP (now)", "émigré's café", "x" * 5 + "!" * 5]


def sst2_texts():
    if not SST2.exists():
        return []
    with open(SST2, encoding="utf-8", newline="") as f:
        return [row["sentence"] for row in csv.DictReader(f, delimiter="\t")][:300]


@pytest.mark.parametrize("lower,split,filters", [(True, " ", KERAS_FILTERS), (False, " ", KERAS_FILTERS),
                                                 (True, ",", "!."), (True, " ", "")])
def test_words_and_offsets_equal_text_to_word_sequence(lower, split, filters):
    tok = Tokenizer("word", ["x"], lower, {"filters": filters, "split": split})
    texts = EDGES + sst2_texts()
    assert len(texts) > 200 or not SST2.exists()
    for text in texts:
        spans = tok.spans(text)
        want = text_to_word_sequence(text, filters, lower, split)
        got = [(text[a:b].lower() if lower else text[a:b]) for a, b in spans]
        assert got == want, text
