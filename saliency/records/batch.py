"""The batch loop: explain a stream of records, in windows, each record answered in input order.

    from saliency import explain_records
    for r in explain_records("sst2-lstm", [{"text": "a gorgeous film", "id": 7}, "dull"]):
        print(r.record.index, r.error or r.explanation.prediction["label"], r.record.fields)

Records come from io's readers or any iterable of dicts or strings. They are read ahead into
windows of at most WINDOW; the explainer sorts each window by length into batches and hands the
results back in input order. Every record is answered: an exception while explaining one record
(a lone surrogate, an out-of-memory error on one huge text) becomes that record's error, and the
window is retried record by record so the others still succeed. `write_results` does the same
for writing. Only an option that fits no record (an unknown label) stops the run.
"""

import contextlib
import signal
import threading
from dataclasses import dataclass
from itertools import chain
from typing import Iterable, Iterator

from .. import notebook
from ..errors import InputError, OutputError, RecordUsageError, SaliencyError, UsageError
from .readers import TEXT_COLUMNS, read_records, windows
from .record import Record, check_text

# At most this many records are explained together: enough to batch by length, bounded memory.
WINDOW = 512
# Records without the text field held back before deciding the whole input lacks it (exit 3).
HOLD = 1000


@dataclass
class RecordResult:
    """One record's answer: its explanation, or the reason it failed (then explanation is None)."""

    record: Record
    explanation: object = None
    error: str = None

    def failed(self, error: str) -> "RecordResult":
        return RecordResult(self.record, None, error)

    def _repr_html_(self) -> str:
        """A notebook cell's view: the record's explanation, or its error."""
        return notebook.results_html([self])


def parse_shard(shard) -> tuple:
    """'K/N' (or (K, N)) as (K, N), 1 <= K <= N."""
    try:
        k, n = (int(part) for part in shard.split("/")) if isinstance(shard, str) else map(int, shard)
    except (ValueError, TypeError):
        raise UsageError(f"--shard {shard!r}: expected K/N, for example 1/4") from None
    if not 1 <= k <= n:
        raise UsageError(f"--shard {shard!r}: K/N needs 1 <= K <= N")
    return k, n


def in_shard(record: Record, shard: tuple, window: int = WINDOW) -> bool:
    """Shard K of N takes the records of every Nth block of `window` records, counted from block
    K - 1 of each input: whole windows, batched exactly as in the unsharded run, so the merged
    shards equal it byte for byte (batch-mates change a score's last float32 digits)."""
    k, n = shard
    return (record.index // window) % n == k - 1


def read_inputs(paths, input_format=None, text_field=None) -> Iterator[Record]:
    """Records of each file in turn ('-' = stdin), each file numbered from 0."""
    for path in paths:
        yield from read_records(path, input_format, text_field)


def as_records(items: Iterable, text_field: str = None) -> Iterator[Record]:
    """io Records as they are; a string is a record's text; a dict is a record whose text is
    `text_field` (default text or sentence) and whose other keys are passed through."""
    for i, item in enumerate(items):
        if isinstance(item, Record):
            yield item
        elif isinstance(item, dict):
            key = text_field or next((k for k in TEXT_COLUMNS if k in item), None)
            if key not in item:
                wanted = text_field or " or ".join(TEXT_COLUMNS)
                yield Record(i, fields=item, error=f"no field {wanted!r}", missing_field=wanted)
            else:
                yield check_text(Record(i, item[key], {k: v for k, v in item.items() if k != key}))
        else:
            yield check_text(Record(i, item))


def explain_records(model, records: Iterable, *, text_field: str = None, shard=None, window: int = WINDOW,
                    follow: bool = False, **options) -> Iterator[RecordResult]:
    """One RecordResult per record (per record of this shard), in input order.

    `model`: an Explainer from load_model, or a shipped model name or file path. `options` are
    Explainer.explain's (method, target, position, objective, vectors, the method's parameters).
    `shard` ('K/N'): only shard K of N (see in_shard), so N processes split an input with no
    coordination. Raises UsageError for an option that fits no record, InputError
    when no record has the text field.
    """
    return chain.from_iterable(explain_windows(model, records, text_field=text_field, shard=shard, window=window,
                                               follow=follow, **options))


def explain_windows(model, records, *, text_field=None, shard=None, window=WINDOW, follow=False, **options):
    """As explain_records, a list per window. A window is a block of `window` consecutive records
    of one input, so a run's batches never depend on timing; with `follow` (a live pipe) a
    window is instead whatever has arrived, so each line is answered as soon as it comes."""
    explainer = _explainer(model)
    flip = options.pop("flip", False)  # batch --flip: add each record's best single swap
    if flip and getattr(explainer, "is_tagger", False):
        raise UsageError("--flip is for classifiers and language models, not taggers")
    stream = held_until_text(as_records(records, text_field))
    if shard is not None:
        shard = parse_shard(shard)
        stream = (r for r in stream if in_shard(r, shard, window))
    for records_in_window in windows(stream, window, None if follow else lambda r: block(r, window)):
        results = explain_window(explainer, records_in_window, options)
        if flip:
            from ..act.flip import add_flips

            add_flips(explainer, results)
        yield results


def block(record: Record, window: int) -> tuple:
    return record.source, record.index // window


def explain_window(explainer, records: list, options: dict) -> list:
    """RecordResults for one window, in order. Records are explained together; if that raises
    anything (one huge text out of memory), each is explained alone, so only the bad one fails."""
    todo = [r for r in records if not r.error]
    texts = [r.text for r in todo]
    try:
        answers = explainer.explain(texts, errors="return", **options) if texts else []
    except Exception as e:  # noqa: BLE001 (any failure is one record's; _alone finds whose)
        _stop_if_global(e)
        answers = [_alone(explainer, text, options) for text in texts]
    by_record = {id(r): a for r, a in zip(todo, answers)}
    out = []
    for r in records:
        answer = by_record.get(id(r), r.error)
        _stop_if_global(answer)
        if isinstance(answer, (str, BaseException)):
            out.append(RecordResult(r, None, describe(answer)))
        else:
            out.append(RecordResult(r, answer))
    return out


def _alone(explainer, text, options):
    try:
        return explainer.explain([text], errors="return", **options)[0]
    except Exception as e:  # noqa: BLE001 (this record's own failure, reported in its place)
        _stop_if_global(e)
        return e


def _stop_if_global(error):
    """An option that fits no record (an unknown label) would fail them all: stop at once."""
    if isinstance(error, UsageError) and not isinstance(error, RecordUsageError):
        raise error


def describe(error) -> str:
    """An error as one line: our messages as they are, anything else with its type."""
    if isinstance(error, str):
        return error
    if isinstance(error, UnicodeEncodeError):  # the only way a str fails to encode as UTF-8
        return f"not valid Unicode: a lone surrogate {error.object[error.start]!r}"
    text = str(error) if isinstance(error, SaliencyError) else f"{type(error).__name__}: {error}".rstrip(": ")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def held_until_text(records: Iterable[Record]) -> Iterator[Record]:
    """Records, unchanged; but while none has had a text, they are held back, so an input where
    no record has the text field is one InputError (exit 3) rather than an error per record."""
    records = iter(records)
    held = []
    for r in records:
        held.append(r)
        if r.text is not None or len(held) == HOLD:
            break
    missing = next((h for h in held if h.missing_field), None)
    if held and held[-1].text is None and missing:  # the input ended, or HOLD records, with no text
        keys = ", ".join(map(str, missing.fields)) or "none"
        raise InputError(f"{missing.source or 'input'}: no record has the field {missing.missing_field!r}; "
                         f"name the text's field with --text-field (the first record's fields: {keys})")
    yield from held
    yield from records


def _explainer(model):
    if hasattr(model, "explain") and hasattr(model, "engine"):
        return model
    from .. import load_model

    return load_model(model)


# -- writing ---------------------------------------------------------------------------------
class Sink:
    """Where results go (a writer, a terminal); write_results drives it. `write` raises for a
    result that cannot be written: the result becomes its error, written in its place."""

    def write(self, result: RecordResult):
        raise NotImplementedError

    def report(self, result: RecordResult):
        """A failed record, after its error was written (the CLI prints it on stderr)."""

    def flush(self):
        """End of a window: what was written reaches the reader now."""


def write_results(result_windows, sink: Sink) -> tuple:
    """Write every result; return (records, failed). A record that cannot be written fails alone;
    a stream that cannot be written (disk full, closed) raises OutputError, a closed pipe
    BrokenPipeError."""
    done = failed = 0
    with ctrl_c_after_writes() as writing:
        for results in result_windows:
            for result in results:
                with writing:
                    result = _write_one(sink, result)
                done, failed = done + 1, failed + (result.error is not None)
                if result.error is not None:
                    sink.report(result)
            with writing:
                stream_errors(sink.flush)
    return done, failed


@contextlib.contextmanager
def ctrl_c_after_write():
    """Ctrl-C during a write is raised once the write is done: a KeyboardInterrupt inside
    TextIOWrapper's flush drops the bytes it was passing on, leaving half a line."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt
    elif caught and previous == signal.SIG_DFL:
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_after_writes():
    """ctrl_c_after_write for a run of many writes, with SIGINT's handler set once for the run
    (twice a record cost 5 us, 2% of `saliency batch`): the `with` of what it yields marks each
    write. Ctrl-C during one is raised once it is done; at any other moment (explaining, reading),
    at once, as the handler before it would."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:  # None: set outside Python
        yield contextlib.nullcontext()
        return
    writing = _Writing(previous)
    signal.signal(signal.SIGINT, writing.handle)
    try:
        yield writing
    finally:
        signal.signal(signal.SIGINT, previous)


class _Writing:
    """Inside: a write is under way, and Ctrl-C waits for its end."""

    def __init__(self, previous):
        self.previous, self.inside, self.caught = previous, False, False

    def handle(self, signum, frame):
        if self.inside:
            self.caught = True
        elif callable(self.previous):
            self.previous(signum, frame)  # Python's own handler raises KeyboardInterrupt
        elif self.previous == signal.SIG_DFL:
            raise KeyboardInterrupt

    def __enter__(self):
        self.inside = True

    def __exit__(self, *exc):
        self.inside = False
        if self.caught and exc[0] is None:
            self.caught = False
            self.handle(signal.SIGINT, None)


def _write_one(sink, result):
    try:
        sink.write(result)
        return result
    except (BrokenPipeError, OutputError):
        raise
    except OSError as e:
        raise OutputError(f"cannot write the output: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 (this record's own failure, e.g. a lone surrogate)
        result = result.failed(f"cannot write this record: {describe(e)}")
    stream_errors(sink.write, result)  # an error line always serialises; if it fails, the stream is broken
    return result


def stream_errors(func, *args):
    try:
        func(*args)
    except (BrokenPipeError, OutputError):
        raise
    except (OSError, ValueError, AttributeError) as e:  # ValueError: a closed file
        raise OutputError(f"cannot write the output: {getattr(e, 'strerror', None) or e}") from None
