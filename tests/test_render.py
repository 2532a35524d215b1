"""Terminal rendering: colour by score in a terminal, none off it or with NO_COLOR, ranking kept."""

import io
import json
import re
import subprocess
import sys

from rich.console import Console

from saliency.modelfile import checkpoint
from saliency.render import explanation_text, score_style
from saliency.render.colours import LEVELS, level, ramp

from .conftest import explainer64, tiny_model_file


def render(exp, **console_options):
    out = io.StringIO()
    Console(file=out, width=120, **console_options).print(explanation_text(exp, top=2))
    return out.getvalue()


def explanation(method="grad-input"):
    return explainer64(tiny_model_file("lstm", 1, True)).explain(["bad cafe"], method)[0]


def test_terminal_output_gives_the_strongest_token_the_strongest_colour_on_its_span():
    exp = explanation()
    text = render(exp, force_terminal=True, color_system="truecolor")
    line = next(x for x in text.splitlines() if re.sub(r"\x1b\[[0-9;]*m", "", x) == "bad cafe")
    runs = re.findall(r"\x1b\[([0-9;]*)m([^\x1b]*)\x1b\[0m", line)
    assert [run[1] for run in runs] == [t.text for t in exp.tokens]  # one coloured run per token span

    scale = max(abs(t.score) for t in exp.tokens)
    for (codes, _), t in zip(runs, exp.tokens):  # each token's background is its level on its sign's ramp
        rgb = ramp("negative" if t.score < 0 else "positive", "dark")[level(t.score, scale) - 1]
        assert "48;2;%d;%d;%d" % rgb in codes
    strongest = exp.top(1)[0]
    end = ramp("negative" if exp.tokens[strongest].score < 0 else "positive", "dark")[-1]
    assert "48;2;%d;%d;%d" % end in runs[strongest][0] and runs[strongest][0].startswith("1;4;")  # bold underline
    assert "top 2 tokens" in text


def test_no_color_marks_the_top_tokens_in_plain_characters_and_keeps_bold_underline(tmp_path):
    from typer.testing import CliRunner

    from saliency.cli import app

    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("lstm", 1, True), path)
    args = ["explain", "bad cafe", "-m", path, "--method", "grad-input", "--top", "2"]
    coloured = CliRunner().invoke(app, args, env={"FORCE_COLOR": "1", "COLORTERM": "truecolor"})
    assert "48;2;" in coloured.stdout  # the same terminal without NO_COLOR has colour
    result = CliRunner().invoke(app, args, env={"FORCE_COLOR": "1", "COLORTERM": "truecolor", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert "48;2;" not in result.stdout and "38;2;" not in result.stdout
    exp = explainer64(checkpoint.load(path)).explain(["bad cafe"], "grad-input")[0]
    for i in exp.top(2):  # each top token bracketed with its score, in bold + underline
        token = exp.tokens[i]
        assert f"\x1b[1;4m[{token.text if token.text != ' ' else repr(' ')} {token.score:+.3g}]\x1b[0m" in result.stdout


def test_signed_palette_diverges_and_unsigned_is_sequential():
    assert score_style(0.0, 1.0, True) == ""  # a zero score has no background
    assert score_style(1.0, 1.0, True).endswith("#%02x%02x%02x" % ramp("positive", "dark")[-1])
    assert score_style(-1.0, 1.0, True).endswith("#%02x%02x%02x" % ramp("negative", "dark")[-1])
    assert score_style(-0.1, 1.0, True).endswith("#%02x%02x%02x" % ramp("negative", "dark")[0])
    assert score_style(-1.0, 1.0, False) == score_style(1.0, 1.0, False)
    assert score_style(0.5, 0.0, True) == ""  # all-zero scores
    assert [level(s, 1.0) for s in (0.0, 0.01, 0.2, 0.21, 0.6, 1.0)] == [0, 1, 1, 2, 3, LEVELS]


def test_piping_into_head_ends_quietly(tmp_path):
    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("gru", 1, False), path)
    lines = tmp_path / "in.txt"
    lines.write_text("dead beef cafe " * 20 + "\n" * 1 + ("abc bad cafe fed\n" * 3000))
    script = f"{sys.executable} -m saliency.cli batch {lines} -m {path} --engine numpy | head -n 1; " \
             "echo \"status ${PIPESTATUS[0]}\" >&2"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.count("\n") == 1
    # The output (3,000 JSON lines) is far past a pipe's buffer, so the writer always meets the
    # closed pipe: the README promises exit 141 and not a word on stderr.
    assert result.stderr.strip() == "status 141", result.stderr


def test_ctrl_c_leaves_only_complete_lines(tmp_path):
    import signal
    import time

    path = str(tmp_path / "m.safetensors")
    checkpoint.save(tiny_model_file("lstm", 2, True), path)
    lines = tmp_path / "in.txt"
    lines.write_text("abc bad cafe fed dead beef\n" * 200_000)
    proc = subprocess.Popen([sys.executable, "-m", "saliency.cli", "batch", str(lines), "-m", path, "--engine",
                             "numpy"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    first = proc.stdout.readline()  # it is streaming (unbuffered: communicate() reads the fd, not a buffer)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"interrupted" in err
    out = first + rest
    assert out.endswith(b"\n")
    for line in out.splitlines():
        assert json.loads(line)["record"] >= 0
