"""Readers shared by the CLI and the Python API (writers.py holds the writers).

Readers yield one Record per input record, in order, reading incrementally. A record that
cannot be used (undecodable bytes, malformed JSON, a missing field, empty text) is yielded
with `error` set rather than raised, so batch work can report it and go on. Records are
numbered from 0 in input order (`Record.index`); every output uses that number. A leading
UTF-8 byte-order mark is dropped by every reader.
"""

import csv
import itertools
import os
import queue
import sys
import threading

from .. import safe_json
from ..errors import InputError, UsageError
from .record import TAGGED_FORMATS, Record, check_text, detect_format, open_text, read_lines, undecodable
from .tagged import TAGS_FIELD, Words, read_tagged, words_record

TEXT_COLUMNS = ("text", "sentence")
csv.field_size_limit(sys.maxsize)


def read_records(path: str, input_format: str = None, text_field: str = None):
    """Yield Records from a txt, csv, tsv or jsonl file, or stdin for '-' (format sniffed); from
    CoNLL-U or token<TAB>tag files, one per sentence (tagged.py: pre-tokenized, with gold tags)."""
    fmt = detect_format(path, input_format)
    if fmt in TAGGED_FORMATS:
        yield from read_tagged(path, fmt)
        return
    check_text_field(path, fmt, text_field)
    stream = open_text(path)
    source = "<stdin>" if path == "-" else path
    with stream:
        counted = [0]  # lines read so far: a record's readers have just read its last line
        lines = read_lines(stream, counted)
        if fmt == "sniff":
            first = next(lines, "")
            fmt = "jsonl" if _json_object(first) else "txt"
            check_text_field(path, fmt, text_field)
            lines = itertools.chain([first] if first else [], lines)
        if fmt == "txt":
            rows = _txt(lines)
        elif fmt == "jsonl":
            rows = map(words_record, _jsonl(lines, text_field))  # a "tokens" list: a pre-tokenized sentence
        else:
            rows = _table(lines, "\t" if fmt == "tsv" else ",", text_field, source)
        for i, record in enumerate(rows):
            record.index, record.source, record.line = i, source, counted[0]
            yield check_text(record)


def check_text_field(path: str, fmt: str, text_field: str = None):
    """--text-field names a column or field: plain text has none, and ignoring it would explain
    whole lines (JSON and all) with believable labels."""
    if text_field and fmt == "txt":
        what = "stdin is plain text (its first line is not a JSON object)" if path == "-" else f"{path} is plain text"
        raise UsageError(f"--text-field {text_field!r}: {what}; give --input-format csv, tsv or jsonl")


def _json_object(line: str) -> bool:
    """Whether a line holds a JSON object, by its shape if it is not acceptable JSON: a record with a
    5,000-digit number or deep nesting is still a record, refused alone (safe_json), not plain text."""
    try:
        return isinstance(safe_json.loads(line), dict)
    except safe_json.JSONError:
        return line.lstrip(" \t\ufeff").startswith("{") and line.rstrip(" \t\r\n").endswith("}")


def _txt(lines):
    for line in lines:
        yield Record(0, line.rstrip("\r\n"))


def _jsonl(lines, text_field):
    for line in lines:
        if not line.strip(" \t\r\n"):  # JSON's whitespace; anything else on a line is a record
            continue
        if undecodable(line):
            yield Record(0, error="line is not valid UTF-8")
            continue
        try:
            obj = safe_json.loads(line.rstrip("\r\n"))
        except safe_json.JSONError as e:  # malformed, nested too deep, a number Python will not read
            yield Record(0, error=str(e) if str(e).startswith("malformed") else f"malformed JSON ({e})")
            continue
        if not isinstance(obj, dict):
            yield Record(0, error="JSON line is not an object")
            continue
        key = text_field or next((k for k in TEXT_COLUMNS if k in obj), None)
        if key is None or key not in obj:
            wanted = text_field or " or ".join(TEXT_COLUMNS)
            yield Record(0, fields=obj, error=f"no field {wanted!r} (name the text's field with --text-field)",
                         missing_field=wanted)
            continue
        yield Record(0, obj[key], {k: v for k, v in obj.items() if k != key})


def _table(lines, delimiter, text_column, source):
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    key = text_column or next((k for k in TEXT_COLUMNS if k in header), None)
    if key not in header:
        wanted = text_column or " or ".join(TEXT_COLUMNS)
        raise InputError(f"{source}: no column {wanted!r} in header {header}; name the text's column with --text-field")
    col = header.index(key)
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            yield Record(0, error=f"expected {len(header)} fields, found {len(row)}")
            continue
        yield Record(0, row[col], {h: v for i, (h, v) in enumerate(zip(header, row)) if i != col})


def read_labelled(path: str, input_format: str = None, text_field: str = None, label_field: str = "label",
                  dropped: list = None):
    """(text, label) pairs for training: a csv/tsv/jsonl file, or a folder of LABEL.txt files.

    Records that cannot be used are skipped; `dropped` (a list) receives (source, line, error)
    for each, blank lines apart, so the caller can say which were lost.
    """
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".txt"))
        if not names:
            raise InputError(f"{path}: no LABEL.txt files in folder")
        for name in names:
            for r in read_records(os.path.join(path, name), "txt"):
                if not _dropped(r, dropped):
                    yield r.text.strip(), name[:-4]
        return
    for r in read_records(path, input_format, text_field):
        if _dropped(r, dropped):
            continue
        if label_field not in r.fields:
            raise InputError(f"{path}: record {r.index} has no label field {label_field!r}; name it with --label-field")
        yield r.text.strip(), str(r.fields[label_field])


def gold_sentences(path: str, input_format: str = None, dropped: list = None):
    """(words, tags) for training and scoring: every usable sentence that has a tag per word.
    Unusable ones go to `dropped` as (source, line, error)."""
    for record in read_records(path, input_format):
        tags = record.fields.get(TAGS_FIELD) if not record.error else None
        if record.error or not isinstance(record.text, Words) or tags is None:
            if dropped is not None:
                dropped.append((record.source, record.line, record.error or "no tokens and tags"))
            continue
        yield list(record.text.words), list(tags)


def require_sentences(pairs, path):
    if not pairs:
        raise InputError(f"{path}: no tagged sentences (CoNLL-U, token<TAB>tag lines, or JSONL tokens and tags)")
    return pairs


def _dropped(record: Record, dropped) -> bool:
    if record.error and dropped is not None and record.error != "empty text":
        dropped.append((record.source, record.line, record.error))
    return bool(record.error)


def windows(records, size: int, key=None):
    """Lists of up to `size` records, in order.

    A thread reads ahead (at most 4 windows, so memory stays bounded). Without `key`, a window
    takes what has arrived, so from a slow pipe each line is answered when it comes. With `key`
    (a function of a record), a window waits until it is full or the key changes: the same input
    always gives the same windows, so the same batches and the same floating-point results. An
    error raised while reading comes out here, in order.
    """
    ahead = queue.Queue(maxsize=4 * size)
    done = object()

    def read():
        try:
            for record in records:
                ahead.put(record)
        except BaseException as e:  # handed to the consumer, which raises it
            ahead.put(e)
        ahead.put(done)

    threading.Thread(target=read, daemon=True).start()
    window = []
    while True:
        item = ahead.get() if not window or key else _get_nowait(ahead)
        is_record = not (item is None or item is done or isinstance(item, BaseException))
        if window and (not is_record or len(window) == size or (key and key(item) != key(window[0]))):
            yield window
            window = []
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        if is_record:
            window.append(item)


def _get_nowait(q):
    try:
        return q.get_nowait()
    except queue.Empty:
        return None
