"""Token offsets always index the user's own text."""

import pytest

from saliency.tokenize import PAD, UNK, UNK_ID, Tokenizer

AWKWARD = [
    "  two  spaces\tand a tab\t\tand\nnewline ",
    "Punctuation!? (yes) -- \"quoted\" 'single' ... don't can't it's",
    "Accents: café résumé naïve Ångström ÉCOLE İstanbul",
    "emoji 😀 👩‍💻 🇫🇷 mixed😀in",
    "",
    "x" * 100_000,
    "word " * 20_000,
]


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_offsets_reproduce_the_input(level, text):
    tok = Tokenizer.build([text], level)
    tokens = tok.tokenize(text)
    for t in tokens:
        assert text[t.start:t.end] == t.text
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)
    if level == "char":
        assert "".join(t.text for t in tokens) == text
    else:  # only whitespace lies between word tokens
        gaps = [text[a.end:b.start] for a, b in zip(tokens, tokens[1:])]
        assert all(g.strip() == "" for g in gaps)
        assert "".join(t.text for t in tokens) == "".join(text.split())


def test_word_tokens_follow_sst2_conventions():
    tok = Tokenizer("word", [PAD, UNK])
    assert [t.text for t in tok.tokenize("It isn't the film's fault, well-made...")] == [
        "It", "is", "n't", "the", "film", "'s", "fault", ",", "well-made", "..."]


def test_lowercasing_happens_after_offsets_are_taken():
    tok = Tokenizer("word", [PAD, UNK, "i̇stanbul", "good"], lowercase=True)
    tokens = tok.tokenize("İstanbul GOOD")
    assert [t.text for t in tokens] == ["İstanbul", "GOOD"]  # 'İ'.lower() is two code points
    assert [t.id for t in tokens] == [2, 3]


def test_out_of_vocabulary_tokens_are_unk_and_marked():
    tok = Tokenizer("char", [PAD, UNK, "a", "b"], lowercase=False)
    tokens = tok.tokenize("abA")
    assert [t.id for t in tokens] == [2, 3, UNK_ID]
    assert [t.unk for t in tokens] == [False, False, True]


def test_vocabulary_is_ranked_by_frequency_then_alphabetically():
    tok = Tokenizer.build(["b a b c", "c b"], "word", max_vocab=4)
    assert tok.vocab == [PAD, UNK, "b", "c"]
