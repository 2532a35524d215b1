"""JSON from people we do not know: bounded nesting and numbers, every failure one ValueError.

Python's parser recurses once per level (100,000 nested brackets: RecursionError, or worse in
a thread with a small stack) and refuses integers over 4,300 digits with a ValueError that is
not a JSONDecodeError. Callers that caught only the latter lost a record, or a whole run.
Here the nesting is measured before parsing, on the text with its strings removed.
"""

import json
import re
from itertools import accumulate

MAX_DEPTH = 64  # Keras configs nest about 8 deep, batch records' fields a few
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
BRACKETS = re.compile(r"[\[\]{}]")


class JSONError(ValueError):
    """Why a text is not acceptable JSON, in one line."""


def depth(text: str) -> int:
    """The deepest nesting of brackets outside strings (a malformed text gives some number)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # too few brackets to be too deep: skip the scan, the common case
    steps = (1 if b in "[{" else -1 for b in BRACKETS.findall(STRINGS.sub("", text)))
    return max(accumulate(steps), default=0)


def loads(text, max_depth: int = MAX_DEPTH, **kw):
    """json.loads, refusing nesting deeper than max_depth and numbers Python will not convert."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"not UTF-8 (byte {e.start})") from None
    if depth(text) > max_depth:
        raise JSONError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text, **kw)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        raise JSONError(f"malformed JSON ({e.msg} at {where})") from None
    except RecursionError:
        raise JSONError("nested too deeply") from None
    except ValueError as e:  # an integer of more than 4,300 digits; a refused constant
        raise JSONError(_first_line(str(e))) from None


def _first_line(message: str) -> str:
    line = message.splitlines()[0] if message else "not JSON"
    if "integer string conversion" in line:
        return "a number with more digits than Python converts (4,300)"
    return line[:120]
