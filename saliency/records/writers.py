"""Writers shared by the CLI and the Python API: one JSON line or one block of table rows per
record, each written whole or not at all (readers.py holds the readers).
"""

import csv
import io
import json
import math

from ..errors import InputError, UsageError
from .record import SURROGATE, Record
from .whole_writes import write_whole

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
