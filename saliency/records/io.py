"""Readers and writers shared by the CLI and the Python API.

Readers yield one Record per input record, in order, reading incrementally. A record that
cannot be used (undecodable bytes, malformed JSON, a missing field, empty text) is yielded
with `error` set rather than raised, so batch work can report it and go on. Records are
numbered from 0 in input order (`Record.index`); every output uses that number. A leading
UTF-8 byte-order mark is dropped by every reader.
"""

import csv
import io
import itertools
import json
import math
import os
import queue
import re
import sys
import threading
from dataclasses import dataclass, field

from .. import safe_json
from ..errors import InputError, UsageError
from .whole_writes import write_whole

TAGGED_FORMATS = ("conllu", "tags")  # tagged sentences (tagged.py): CoNLL-U, token<TAB>tag lines
INPUT_FORMATS = ("txt", "csv", "tsv", "jsonl") + TAGGED_FORMATS
EXTENSIONS = {".txt": "txt", ".text": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
              ".ndjson": "jsonl", ".json": "jsonl", ".conllu": "conllu", ".conll": "tags", ".tags": "tags",
              ".bio": "tags", ".iob": "tags"}
TEXT_COLUMNS = ("text", "sentence")
BOM = "\ufeff"
csv.field_size_limit(sys.maxsize)


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


def read_records(path: str, input_format: str = None, text_field: str = None):
    """Yield Records from a txt, csv, tsv or jsonl file, or stdin for '-' (format sniffed); from
    CoNLL-U or token<TAB>tag files, one per sentence (tagged.py: pre-tokenized, with gold tags)."""
    from .tagged import read_tagged, words_record

    fmt = detect_format(path, input_format)
    if fmt in TAGGED_FORMATS:
        yield from read_tagged(path, fmt)
        return
    check_text_field(path, fmt, text_field)
    stream = open_text(path)
    source = "<stdin>" if path == "-" else path
    with stream:
        counted = [0]  # lines read so far: a record's readers have just read its last line
        lines = _lines(stream, counted)
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


def _lines(stream, counted=None):
    """The stream's lines, without a leading byte-order mark (it would become a token or a column name)."""
    first = True
    for line in stream:
        if counted is not None:
            counted[0] += 1
        if first:
            line, first = line.removeprefix(BOM), False
        yield line


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


# -- writers ----------------------------------------------------------------------------------
TOKEN_COLUMNS = ["record", "source", "token_index", "token", "start", "end", "score", "unk",
                 "prediction", "probability", "target", "method"]
# A tagger's table: one row per (explained position, token); the position's word, its predicted tag
# and probability, and the target explained there come first.
TAGGER_COLUMNS = ["record", "source", "position", "word", "tag", "probability", "target", "token_index", "token",
                  "start", "end", "score", "unk", "method"]


def record_header(record: Record) -> dict:
    return {"record": record.index, "source": record.source}


class JsonlWriter:
    """One JSON object per input record: the explain schema plus record, source and fields.

    A failed record is written in its place as {record, source, error, fields}.
    """

    def __init__(self, stream):
        self.stream = stream

    def write(self, record: Record, explanation=None, error: str = None):
        # The whole line is made before anything is written, so a record that cannot be
        # serialised (a lone surrogate, a value JSON lacks) fails alone and writes nothing.
        line = self.format(record, explanation, error)
        write_whole(self.stream, line)  # all of the line or none: an interrupted run leaves only complete lines

    @staticmethod
    def format(record: Record, explanation=None, error: str = None) -> str:
        obj = record_header(record)
        if explanation is not None:
            obj.update(explanation.to_dict())
            obj["fields"] = record.fields
            # allow_nan=False: a bare NaN is not JSON; encode() raises for lone surrogates
            line = json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
            line.encode("utf-8")
            return line
        obj["error"], obj["fields"] = error, record.fields
        return error_line(obj)


def error_line(obj: dict) -> str:
    """An error object as one line that can always be written, whatever the record's fields hold."""
    return json.dumps(_plain(obj), ensure_ascii=False, allow_nan=False) + "\n"


def _plain(value):
    """value with lone surrogates as U+FFFD, NaN/Infinity and types JSON lacks as their repr."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_plain(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return _plain(repr(value))


class TableWriter:
    """One CSV or TSV row per token; passed-through fields as extra columns (from the first record)."""

    def __init__(self, stream, delimiter=","):
        self.stream, self.delimiter = stream, delimiter
        self.extra = None

    def write(self, record: Record, explanation=None, error: str = None):
        if explanation is None:
            return  # failures are reported on stderr; a token table has no row for them
        tagger = explanation.rows is not None and "tags" in explanation.prediction
        if self.extra is None:
            self.columns = TAGGER_COLUMNS if tagger else TOKEN_COLUMNS
            self.extra = [k for k in record.fields if k not in self.columns]
            self._row(self.columns + self.extra)
        if tagger != (self.columns is TAGGER_COLUMNS):
            raise InputError("a tagger's rows and other rows cannot share one table")
        if tagger:
            return self._tagger_rows(record, explanation)
        head = [record.index, record.source]
        tail = [explanation.prediction["label"], explanation.prediction["probability"],
                explanation.target["label"], explanation.method]
        tail += [_cell(record.fields.get(k, "")) for k in self.extra]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n")
        for i, t in enumerate(explanation.tokens):
            writer.writerow(head + [i, t.text, t.start, t.end, repr(t.score), int(t.unk)] + tail)
        rows = buffer.getvalue()
        rows.encode("utf-8")  # a record that cannot be written fails alone, before any of it is written
        write_whole(self.stream, rows)  # the whole record, or none of it

    def _tagger_rows(self, record: Record, exp):
        tail = [exp.method] + [_cell(record.fields.get(k, "")) for k in self.extra]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n")
        tags, probs = exp.prediction["tags"], exp.prediction["probabilities"]
        for row in exp.rows:
            p = row["position"]
            head = [record.index, record.source, p, exp.tokens[p].text, tags[p], probs[p][tags[p]], row["target"]]
            for i, (t, score) in enumerate(zip(exp.tokens, row["scores"])):
                writer.writerow(head + [i, t.text, t.start, t.end, repr(score), int(t.unk)] + tail)
        rows = buffer.getvalue()
        rows.encode("utf-8")
        self.stream.write(rows)

    def _row(self, values):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerow(values)
        self.stream.write(buffer.getvalue())


def _cell(value):
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def make_writer(output_format: str, stream):
    if output_format == "jsonl":
        return JsonlWriter(stream)
    if output_format in ("csv", "tsv"):
        return TableWriter(stream, "," if output_format == "csv" else "\t")
    raise UsageError(f"unknown output format {output_format!r}")
