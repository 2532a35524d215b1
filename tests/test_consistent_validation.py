"""Issue 27, item 6: options and inputs checked alike in every command, through the console script.

--limit and --seed out of range are one usage line (exit 2) in evaluate, decay and prototype;
empty input is exit 3 everywhere; records are numbered from 0 in every command's messages; and
an error naming a token that is a control character shows it escaped, on one line. Also the
randomisation check on a stack of layers of different sizes (it took sqrt of a tuple).
"""

import json
import math

import numpy as np
import pytest

from saliency.evaluation.randomize import cascade

from .conftest import explainer64, tiny_model_file
from .hostile import assert_error, run, stderr_lines

TINY_MODEL = dict(cell="gru", layers=1, bidirectional=False)
HUGE = str(10**23)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    (folder / "empty.txt").write_text("")
    (folder / "one.tsv").write_text("text\tlabel\nabc\tneg\n")
    deep = '{"text": "bad", "x": ' + "[" * 500 + "]" * 500 + "}"
    (folder / "mixed.jsonl").write_text('{"text": "abc"}\n' + deep + '\n{"text": ""}\n{"text": "fed"}\n')
    return folder


CASES = [  # (command, arguments after the model, exit, what the one line says)
    ("evaluate", ["{one}", "--limit", HUGE], 2, "--limit must be a whole number from 1"),
    ("decay", ["{one}", "--limit", HUGE], 2, "--limit must be a whole number from 1"),
    ("evaluate", ["{one}", "--seed", "-1"], 2, "--seed must be a whole number from 0 to 2**63 - 1"),
    ("prototype", ["--to", "neg", "--seed", "-1"], 2, "--seed must be a whole number from 0 to 2**63 - 1"),
    ("explain", ["abc", "--method", "smoothgrad", "--seed", "-1"], 2, "--seed must be a whole number from 0"),
    ("batch", ["{one}", "--ray", "--num-workers", HUGE], 2, "--num-workers must be a whole number from 1 to 4,096"),
    ("evaluate", ["{empty}", "--methods", "gradient"], 3, "no records to evaluate"),
    ("decay", ["{empty}"], 3, "no record could be explained"),
    ("batch", ["{empty}", "--method", "gradient"], 3, None),
]


@pytest.mark.parametrize("command, args, code, says", CASES, ids=[f"{c[0]} {' '.join(c[1][1:]) or c[1][0]}"
                                                                 for c in CASES])
def test_options_and_empty_inputs_alike_in_every_command(model_path, lm_path, data, command, args, code, says):
    model = lm_path if command == "decay" else model_path
    args = [a.format(one=data / "one.tsv", empty=data / "empty.txt") for a in args]
    result = run([command, "-m", model, *args], memory_gb=2.0, timeout=120)
    assert_error(result, code, says)


def test_records_are_numbered_from_0_in_every_command(model_path, lm_path, data):
    mixed = data / "mixed.jsonl"
    batch = run(["batch", "-m", model_path, "--method", "gradient", mixed], timeout=120)
    rows = [json.loads(line) for line in batch.stdout.decode().splitlines()]
    assert [r["record"] for r in rows] == [0, 1, 2, 3] and "nested more than 64" in rows[1]["error"]
    assert "empty text" in rows[2]["error"]
    evaluate = run(["evaluate", "-m", model_path, "--methods", "gradient", mixed], timeout=120)
    decay = run(["decay", "-m", lm_path, mixed], timeout=120)
    for result in (evaluate, decay):
        assert result.returncode == 0, result.stderr.decode()
        assert stderr_lines(result) == ["warning: record 1 skipped: malformed JSON (nested more than 64 levels deep)",
                                        "warning: record 2 skipped: empty text"]


def test_an_unknown_target_on_a_character_model_is_one_line_with_the_newline_escaped(tmp_path):
    from saliency.modelfile import checkpoint

    from saliency.tokenize import Tokenizer

    mf = tiny_model_file("gru", 1, False, "lm")
    vocab = list(mf.tokenizer.vocab)
    vocab[-1] = "\n"  # a character model whose vocabulary holds a newline, as shakespeare's does
    mf.tokenizer = Tokenizer("char", vocab, True)
    path = tmp_path / "lm.safetensors"
    checkpoint.save(mf, str(path))
    result = run(["explain", "-m", path, "abc", "--method", "gradient", "--target", "zzz"], timeout=120)
    line = assert_error(result, 2, "unknown target token 'zzz'")
    assert "\\n" in line


def test_randomisation_of_a_stack_of_different_sizes_uses_each_layers_own_size():
    """torch initialises layer k's weights U(+-1/sqrt(H_k)): 6 then 3 units, so layer 1's bound is wider."""
    mf = tiny_model_file("lstm", layers=2, bidirectional=True, hidden=(6, 3))
    stages = dict(cascade(mf, seed=0))
    random = stages["layer 0"].weights  # the head and both layers randomised by then
    for name, bound in [("rnn.weight_hh_l0", 1 / math.sqrt(6)), ("rnn.weight_ih_l1_reverse", 1 / math.sqrt(3)),
                        ("head.weight", 1 / math.sqrt(3 * 2))]:
        w = np.abs(random[name])
        assert w.max() <= bound and w.max() > 0.8 * bound, (name, w.max(), bound)
    assert not np.allclose(random["rnn.weight_hh_l0"], mf.weights["rnn.weight_hh_l0"])
    [result] = explainer64(stages["embedding"]).explain(["abc"], "gradient")
    assert all(np.isfinite(t.score) for t in result.tokens)
