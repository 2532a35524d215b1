"""One input record, and what every reader does to one: the format a path names, the stream it
opens, the lines it reads (no byte-order mark), the checks on a record's text.

readers.py and tagged.py both build on this module: readers.py reads tagged files through tagged.py,
and tagged.py needs nothing of readers.py (no import circle).
"""

import io
import os
import re
import sys
from dataclasses import dataclass, field

from ..errors import InputError, UsageError

TAGGED_FORMATS = ("conllu", "tags")  # tagged sentences (tagged.py): CoNLL-U, token<TAB>tag lines
INPUT_FORMATS = ("txt", "csv", "tsv", "jsonl") + TAGGED_FORMATS
EXTENSIONS = {".txt": "txt", ".text": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
              ".ndjson": "jsonl", ".json": "jsonl", ".conllu": "conllu", ".conll": "tags", ".tags": "tags",
              ".bio": "tags", ".iob": "tags"}
BOM = "\ufeff"


@dataclass
class Record:
    index: int  # 0-based position in the input
    text: str = None
    fields: dict = field(default_factory=dict)  # the record's other fields, passed through
    error: str = None
    source: str = ""
    missing_field: str = None  # the error is an object without this text field
    line: int = 0  # 1-based line of the input where the record ends, for messages


def detect_format(path: str, override: str = None) -> str:
    if override:
        if override not in INPUT_FORMATS:
            raise UsageError(f"unknown input format {override!r} (expected one of {', '.join(INPUT_FORMATS)})")
        return override
    if path == "-":
        return "sniff"  # decided by the first line: a JSON object means jsonl, anything else txt
    return EXTENSIONS.get(os.path.splitext(path)[1].lower(), "txt")


def open_text(path: str):
    """A text stream that never fails on bad bytes: they become lone surrogates, found per record."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        return open(path, encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None


def undecodable(s: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in s)


def lone_surrogate(s: str) -> int:
    """Index of the first surrogate code point in s (not valid Unicode; JSON's "\\ud800"), else -1."""
    match = SURROGATE.search(s)
    return match.start() if match else -1


SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(record: Record) -> Record:
    if record.error:
        return record
    if not isinstance(record.text, str):
        record.error = "text is not a string"
    elif undecodable(record.text):
        record.error = "text is not valid UTF-8"
    elif lone_surrogate(record.text) >= 0:
        record.error = f"text holds a lone surrogate at character {lone_surrogate(record.text)} (not valid Unicode)"
    elif not record.text.strip():
        record.error = "empty text"
    return record


def read_lines(stream, counted=None):
    """The stream's lines, without a leading byte-order mark (it would become a token or a column name)."""
    first = True
    for line in stream:
        if counted is not None:
            counted[0] += 1
        if first:
            line, first = line.removeprefix(BOM), False
        yield line
