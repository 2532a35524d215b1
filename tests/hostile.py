"""Run the installed `saliency` console script as a user would, under an address-space cap.

Hostile-input tests (the issue-10 table and its relatives) call `run` and then `assert_error`:
a failure must be one line on stderr, the documented exit code, and never a traceback. The cap
(`resource.setrlimit(RLIMIT_AS)`) turns an allocation blow-up into a failed test rather than a
machine that swaps.
"""

import os
import resource
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("saliency")  # the console script beside this Python


def _cap(limit_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return apply


def run(args, input=None, env=None, memory_gb=4.0, timeout=120, cwd=None):
    """CompletedProcess of `saliency ARGS` (bytes in, bytes out) at COLUMNS=80, debug off."""
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    full_env.pop("SALIENCY_DEBUG", None)
    if isinstance(input, str):
        input = input.encode("utf-8", "surrogatepass")
    return subprocess.run([str(SCRIPT), *map(str, args)], input=input, env=full_env, capture_output=True,
                          timeout=timeout, preexec_fn=_cap(int(memory_gb * 2**30)), cwd=cwd)


def stderr_lines(result):
    return [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]


def assert_error(result, code, contains=None):
    """Exit `code`, exactly one non-empty stderr line, no traceback; `contains` in that line."""
    lines = stderr_lines(result)
    text = "\n".join(lines)
    assert "Traceback" not in text, text
    assert result.returncode == code, f"exit {result.returncode}, expected {code}: {text}"
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{text}"
    if contains is not None:
        assert contains.lower() in lines[0].lower(), lines[0]
    return lines[0]
