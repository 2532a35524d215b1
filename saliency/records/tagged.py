"""Tagged sentences: readers for CoNLL-U, two-column token<TAB>tag files and JSONL token lists.

A tagged sentence is given already split into words, and those words are the tokens: they are
never re-tokenized. Its text is the words joined by single spaces (a `Words` string, which
remembers the words), so token offsets index that text. Readers yield one `Record` per
sentence, in order; a sentence that cannot be used comes with `error` set, as io's readers do.
Gold tags, where the file has them, travel in `Record.fields["tags"]`.
"""

import json
import os

from ..errors import InputError, UsageError
from .io import TAGGED_FORMATS, Record, check_text, detect_format, open_text, read_records, undecodable, _lines

TOKENS_FIELD, TAGS_FIELD = "tokens", "tags"


class Words(str):
    """A sentence's text (its words joined by spaces) that keeps the words themselves."""

    words: tuple

    def __new__(cls, words):
        self = super().__new__(cls, " ".join(words))
        self.words = tuple(words)
        return self

    def __reduce__(self):  # pickling (batch workers) rebuilds from the words, not the joined text
        return (Words, (self.words,))

    def spans(self):
        """(start, end) of each word in the text."""
        out, start = [], 0
        for word in self.words:
            out.append((start, start + len(word)))
            start += len(word) + 1
        return out


def read_tagged(path: str, fmt: str):
    """Records of a CoNLL-U or two-column file, one per sentence (`path` '-' is stdin)."""
    if fmt not in TAGGED_FORMATS:
        raise UsageError(f"unknown tagged format {fmt!r} (expected {', '.join(TAGGED_FORMATS)})")
    source = "<stdin>" if path == "-" else path
    parse = _conllu_sentence if fmt == "conllu" else _two_column_sentence
    with open_text(path) as stream:
        index = 0
        for line_number, lines in _sentences(_lines(stream)):
            record = parse(lines)
            record.index, record.source, record.line = index, source, line_number
            index += 1
            yield check_text(record)


def _sentences(lines):
    """(number of the sentence's last line, its lines) for each blank-line-separated block."""
    block, number = [], 0
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if line.strip():
            block.append(line)
        elif block:
            yield number - 1, block
            block = []
    if block:
        yield number, block


def _conllu_sentence(lines) -> Record:
    """FORM and UPOS of the word lines (integer ID); multiword-token (3-4) and empty-node (8.1)
    lines are not words. Comment lines `# key = value` become fields (sent_id, text)."""
    words, tags, fields = [], [], {}
    for line in lines:
        if undecodable(line):
            return Record(0, error="line is not valid UTF-8", fields=fields)
        if line.startswith("#"):
            key, eq, value = line[1:].partition("=")
            if eq and key.strip() in ("sent_id", "text"):
                fields[key.strip()] = value.strip()
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            return Record(0, error=f"a CoNLL-U line has 10 tab-separated columns, found {len(columns)}",
                          fields=fields)
        if not columns[0].isdigit():  # 3-4 (multiword token) or 8.1 (empty node)
            continue
        words.append(columns[1])
        tags.append(columns[3])
    return _record(words, tags, fields)


def _two_column_sentence(lines) -> Record:
    words, tags = [], []
    for line in lines:
        if undecodable(line):
            return Record(0, error="line is not valid UTF-8")
        columns = line.split("\t")
        if len(columns) != 2 or not columns[0]:
            return Record(0, error=f"expected token<TAB>tag, found {len(columns)} field(s): {line[:40]!r}")
        words.append(columns[0])
        tags.append(columns[1])
    return _record(words, tags, {})


def _record(words, tags, fields) -> Record:
    if not words:
        return Record(0, error="sentence has no words", fields=fields)
    bad = next((w for w in words if not w.strip() or w != w.strip()), None)
    if bad is not None:
        return Record(0, error=f"word {bad!r} is blank or has spaces at its ends", fields=fields)
    fields = dict(fields, **{TAGS_FIELD: tags})
    return Record(0, Words(words), fields)


def words_record(record: Record) -> Record:
    """A JSONL record with a `tokens` list (and maybe `tags`) in place of text: its text is the
    tokens joined by spaces, and the tokens are kept as the tokens. Other records as they are."""
    tokens = record.fields.get(TOKENS_FIELD)
    if record.missing_field is None or not isinstance(tokens, list):
        return record
    if not tokens or not all(isinstance(t, str) and t.strip() and t == t.strip() for t in tokens):
        return Record(record.index, error="tokens must be a non-empty list of words without spaces at their ends",
                      fields=record.fields, source=record.source, line=record.line)
    tags = record.fields.get(TAGS_FIELD)
    if tags is not None and (not isinstance(tags, list) or len(tags) != len(tokens)
                             or not all(isinstance(t, str) for t in tags)):
        return Record(record.index, error=f"tags must be a list of {len(tokens)} strings, one per token",
                      fields=record.fields, source=record.source, line=record.line)
    fields = {k: v for k, v in record.fields.items() if k != TOKENS_FIELD}
    return check_text(Record(record.index, Words(tokens), fields, source=record.source, line=record.line))


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


def looks_tagged(path: str, input_format: str = None) -> bool:
    """Whether a file holds tagged sentences (for `train`'s task detection): a CoNLL-U or
    two-column file, or JSONL whose first object has `tokens` and `tags` lists."""
    fmt = detect_format(path, input_format)
    if fmt in TAGGED_FORMATS:
        return True
    if fmt != "jsonl" or not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip()), "")
        obj = json.loads(first)
    except (OSError, ValueError):
        return False
    if not isinstance(obj, dict):
        return False
    return isinstance(obj.get(TOKENS_FIELD), list) and isinstance(obj.get(TAGS_FIELD), list)


def require_sentences(pairs, path):
    if not pairs:
        raise InputError(f"{path}: no tagged sentences (CoNLL-U, token<TAB>tag lines, or JSONL tokens and tags)")
    return pairs
