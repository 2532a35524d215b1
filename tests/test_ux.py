"""What a new user sees: scores in plain characters off a terminal, 80 columns, one-line usage
errors, names and formats that agree across commands (issue 11)."""

import json
import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from saliency.modelfile import checkpoint
from saliency.cli import app

from .conftest import explainer64, tiny_model_file

WOODEN = "the acting is wooden but the score is gorgeous"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(*args, input=None, **env):
    env = {"COLUMNS": "80", "NO_COLOR": None, "FORCE_COLOR": None, **env}
    return CliRunner().invoke(app, list(args), input=input, env=env)


def test_piped_output_shows_the_scores_in_plain_characters():
    # the default method, grad-input: signed, so "gorgeous" counts against the negative prediction
    result = run("explain", WOODEN)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "prediction negative (0.787)  target negative (logit 0.5337)  method grad-input",
        "the acting is [wooden +1.83] [but -1.4] the score is [gorgeous -1.34]",
        "[token score] = the 3 strongest tokens; scores: + for the target, - against it",
        "top 3 tokens",
        "rank  token     start    score",
        "   1  wooden       14  +1.8310",
        "   2  but          21  -1.3952",
        "   3  gorgeous     38  -1.3412",
    ]
    gradient = run("explain", WOODEN, "--method", "gradient").stdout.splitlines()
    assert gradient[:3] == ["prediction negative (0.787)  target negative (logit 0.5337)",
                            "method gradient (reduce=l2)",
                            "the [acting 0.338] is [wooden 0.656] but the score is [gorgeous 0.388]"]


def test_terminal_output_at_80_columns_ranks_tokens_by_colour():
    from saliency.render.colours import level, luminance, ramp

    result = run("explain", WOODEN, FORCE_COLOR="1", COLORTERM="truecolor")
    assert result.exit_code == 0
    out = result.stdout
    tokens = json.loads(run("explain", WOODEN, "-f", "json").stdout)["tokens"]
    scale = max(abs(t["score"]) for t in tokens)
    # The strongest token, exactly its span, gets the ramp's brightest orange, bold and underlined.
    assert "\x1b[1;4;38;2;0;0;0;48;2;%d;%d;%dmwooden\x1b[0m" % ramp("positive", "dark")[-1] in out
    shown = re.findall(r"48;2;(\d+);(\d+);(\d+)m([a-z]+)\x1b", out.splitlines()[1])
    assert [word for *_, word in shown] == WOODEN.split()
    for (r, g, b, word), t in zip(shown, tokens):
        sign = "negative" if t["score"] < 0 else "positive"
        assert (int(r), int(g), int(b)) == ramp(sign, "dark")[level(t["score"], scale) - 1], word
    # lightness alone orders the tokens by |score| within a sign
    for sign in ("positive", "negative"):
        same = [(abs(t["score"]), luminance(tuple(map(int, s[:3])))) for s, t in zip(shown, tokens)
                if (t["score"] < 0) == (sign == "negative")]
        same.sort()
        assert all(a[1] <= b[1] for a, b in zip(same, same[1:])), same
    assert ANSI.sub("", out).splitlines()[:2] == [
        "prediction negative (0.787)  target negative (logit 0.5337)  method grad-input", WOODEN]


def test_no_color_in_a_terminal_keeps_the_marks_and_bold_underline_without_colour():
    result = run("explain", WOODEN, FORCE_COLOR="1", COLORTERM="truecolor", NO_COLOR="1")
    out = result.stdout
    assert "48;2;" not in out and "38;2;" not in out
    assert "\x1b[1;4m[wooden +1.83]\x1b[0m" in out
    assert ANSI.sub("", out).splitlines()[1] == "the acting is [wooden +1.83] [but -1.4] the score is [gorgeous -1.34]"


def test_long_text_wraps_between_words_and_never_inside_a_mark():
    text = " ".join(["the acting is wooden but the score is gorgeous"] * 4)
    lines = run("explain", text, "--top", "6", "--method", "gradient").stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    body = lines[2:lines.index("[token score] = the 6 strongest tokens; scores: magnitudes")]
    assert len(body) > 1
    assert all(line.count("[") == line.count("]") for line in body)  # marks stay whole
    assert re.sub(r"\[(\S+) [0-9.]+\]", r"\1", " ".join(body)) == text


def test_all_positions_off_a_terminal_mark_each_row(tmp_path):
    path = str(tmp_path / "lm.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False, "lm"), path)
    lines = run("explain", "dead", "-m", path, "--position", "all", "--top", "1").stdout.splitlines()
    assert lines[2] == "position -> next: the input marked by its effect on that output"
    rows = lines[3:7]
    assert [row[:8] for row in rows] == ["0 -> 'e'", "1 -> 'a'", "2 -> 'd'", "3 -> '" + rows[3][6:7] + "'"]
    assert all(row.count("[") == 1 for row in rows)  # each row marks its strongest token with its score
    assert rows[0][10:] == "[d " + rows[0][13:].split("]")[0] + "]"  # position 0 sees only 'd': the row ends there


def test_all_positions_of_a_long_line_one_row_each_marking_nothing_after_the_position(tmp_path):
    path = str(tmp_path / "lm.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False, "lm"), path)
    text = "dead beef cafe " * 6  # 90 characters
    lines = run("explain", text, "-m", path, "--position", "all", "--method", "grad-input").stdout.splitlines()
    rows = lines[3:3 + len(text)]
    assert len(lines) == 3 + len(text) + 1 and all(len(line) <= 80 for line in lines)  # one line a position, legend
    for p, row in enumerate(rows):
        label, shown = row[:11], row[11:]
        assert label.strip().startswith(f"{p} -> ")
        plain = re.sub(r"\[('.'|\S) [-+][0-9.e-]+\]", lambda m: m.group(1).strip("'"), shown)
        assert text[:p + 1].endswith(plain.removeprefix("…"))  # the text up to p, its start cut when long
        assert shown.startswith("…") == (len(text[:p + 1]) > len(plain))
        assert shown.count("[") == min(3, p + 1)  # top 3, all at or before the position
    d = json.loads(run("explain", text, "-m", path, "--position", "all", "-f", "json", "--top", "3").stdout)
    assert all(max(row["top"]) <= row["position"] and len(row["top"]) == min(3, row["position"] + 1)
               for row in d["rows"])


def test_a_space_token_is_visible_in_the_top_table(tmp_path):
    path = str(tmp_path / "lm.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False, "lm"), path)
    d = json.loads(run("explain", "a b", "-m", path, "-f", "json", "--position", "2", "--method", "gradient").stdout)
    rank = sorted(range(3), key=lambda i: -d["tokens"][i]["score"]).index(1) + 1
    out = run("explain", "a b", "-m", path, "--position", "2", "--top", "3", "--method", "gradient").stdout
    assert re.search(rf"^ +{rank}  ' ' +1 ", out, re.M), out


@pytest.mark.parametrize("command", sorted(get_command(app).commands) + [None])
def test_help_reads_cleanly_at_80_columns(command):
    result = run(*([command] if command else []), "--help")
    assert result.exit_code == 0
    lines = ANSI.sub("", result.stdout).splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in result.stdout
    names = set(re.findall(r"[^\s│╭╮╰╯─,]+", result.stdout))
    words = set(re.findall(r"[^\s│╭╮╰╯─]+", result.stdout))
    cli = get_command(app)
    params = cli.commands[command].params if command else cli.params
    for param in params:
        for name in param.opts + param.secondary_opts:
            assert name in names, f"{name} is cut in {command} --help"
        for word in (getattr(param, "help", None) or "").replace("\\[", "[").split():  # no word split across lines
            assert word.strip("[]") in result.stdout.replace("\n", " "), word
            assert any(word.strip(",.;:()") in w for w in words), f"{word!r} split in {command} --help"
    shown = [line.strip() for line in lines]
    for example in (cli.commands[command].epilog or "").splitlines() if command else []:
        if example.strip().startswith(("saliency ", "cat ")):  # each example on one line, as typed
            assert example.strip() in shown, f"{example.strip()!r} is wrapped in {command} --help"


@pytest.mark.parametrize("args, first", [
    (["explain", "x", "--bogus"], "Error: No such option: --bogus"),
    (["explain", "x", "--top", "-1"], "Error: Invalid value for '--top' / '-k': -1 is not in the range x>=0."),
    (["explain", "x", "--method", "magic"], "Error: Invalid value for '--method': 'magic' is not one of"),
    (["frobnicate"], "Error: No such command 'frobnicate'."),
])
def test_typers_usage_errors_are_one_line_and_the_help_hint(args, first):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(first), result.stderr
    command = "saliency" + (f" {args[0]}" if args[0] != "frobnicate" else "")
    assert lines[1] == f"Try '{command} --help' for help."
    assert "╭" not in result.stderr and result.stdout == ""


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"saliency {version('saliency')}\n"


def test_empty_stdin_is_bad_input(model_path):
    result = run("explain", "-m", model_path, input="")
    assert result.exit_code == 3 and result.stderr == "Error: no text: stdin was empty (give TEXT, or pipe lines)\n"


@pytest.mark.parametrize("command", [["explain", "abc"], ["models"], ["inspect", "names-gru"],
                                     ["flip", "a fine movie"], ["reduce", "a fine movie"],
                                     ["prototype", "--to", "positive", "--length", "3"]])
def test_json_and_jsonl_are_both_accepted(command, model_path):
    extra = ["-m", model_path] if command[0] == "explain" else []
    a, b = run(*command, *extra, "-f", "json"), run(*command, *extra, "-f", "jsonl")
    assert a.exit_code == b.exit_code == 0
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_batch_accepts_json_for_jsonl(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("abc\nbad cafe\n")
    a = run("batch", str(path), "-m", model_path, "-f", "json")
    b = run("batch", str(path), "-m", model_path, "-f", "jsonl")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout and len(a.stdout.splitlines()) == 2


def test_top_in_json_lists_the_strongest_token_indices(model_path):
    d = json.loads(run("explain", "bad cafe", "-m", model_path, "-f", "json", "--top", "3").stdout)
    scores = [t["score"] for t in d["tokens"]]
    assert d["signed"] and d["top"] == sorted(range(len(scores)), key=lambda i: -abs(scores[i]))[:3]  # by |score|
    assert "top" not in json.loads(run("explain", "bad cafe", "-m", model_path, "-f", "json").stdout)


def test_batch_takes_top(tmp_path, model_path):
    path = tmp_path / "in.txt"
    path.write_text("abc\nbad cafe\n")
    rows = [json.loads(line) for line in run("batch", str(path), "-m", model_path, "--top", "2").stdout.splitlines()]
    assert [len(r["top"]) for r in rows] == [2, 2]
    for r in rows:
        assert r["top"] == sorted(range(len(r["tokens"])), key=lambda i: -abs(r["tokens"][i]["score"]))[:2]


def test_inspect_names_the_held_out_split_as_the_readme_does():
    out = run("inspect", "sst2-lstm").stdout
    assert re.search(r"^held-out +dev accuracy 0\.839, macro-F1 0\.\d{3} \(n=872\) *$", out, re.M), out
    assert "held_out" not in out
    names = run("inspect", "names-gru").stdout
    assert re.search(r"^held-out +test accuracy 0\.815, macro-F1 0\.495 \(n=1802\) *$", names, re.M), names
    lm = run("inspect", "shakespeare-lstm").stdout
    assert re.search(r"^held-out +1\.540 nats/char \(valid\)", lm, re.M), lm
    assert json.loads(run("inspect", "sst2-lstm", "-f", "json").stdout)["held_out"].startswith("dev accuracy")


def test_a_long_explanation_shows_its_progress_on_a_terminal():
    import io

    from rich.console import Console

    from saliency.render import WorkProgress

    out = io.StringIO()
    bar = WorkProgress(delay=0.0, out=Console(file=out, force_terminal=True, width=80))
    calls = []
    explainer = explainer64(tiny_model_file("gru", 1, False))

    def progress(done, total):
        calls.append((done, total))
        bar(done, total)

    explainer.explain(["dead beef " * 200], "integrated-gradients", steps=40, progress=progress)
    bar.close()
    assert calls and calls[-1][0] == calls[-1][1] and len(calls) > 1  # heard as chunks finished, to the end
    assert "explaining" in out.getvalue() and "100%" in out.getvalue()
    quick = WorkProgress(delay=60.0, out=Console(file=io.StringIO(), force_terminal=True))
    quick(1, 2)
    assert quick.bar is None  # a quick answer never shows a bar
