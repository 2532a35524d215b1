"""The batch loop on Ray Data: a pool of actors, each loading the model once, output in input order.

    from saliency.records.batch import read_inputs
    from saliency.records.ray import explain_on_ray
    for out in explain_on_ray("sst2-lstm", read_inputs(["reviews.jsonl"]), workers=4):
        print(out.line, end="")

The driver reads the input with the same readers as `saliency batch` (so numbering, bad records
and the missing-field check agree) and cuts it into the same windows: blocks of 512 consecutive
records of one input. Each window is one Ray Data row; an actor explains it exactly as one
process would and returns its JSONL lines, so the output equals an unsharded run byte for
byte, error records included. With `output_dir` the actors write each window's lines to
part-NNNNNNNNN.jsonl themselves (concatenated in name order: the unsharded output) and only the
record numbers and errors come back. Ray is optional: pip install 'saliency[ray]'.
"""

import fcntl
import json
import logging
import os
import re
import socket
import warnings
from dataclasses import dataclass

from .batch import WINDOW, RecordResult, as_records, block, describe, explain_window, held_until_text
from .. import errors
from ..errors import UsageError
from .readers import windows
from .record import Record
from .writers import JsonlWriter
from .tagged import Words
from .whole_writes import write_whole

INSTALL = "pip install 'saliency[ray]'"
# Windows per Ray Data dataset: the driver holds at most this many windows of records at a time
# (a new actor pool, so one model load per worker, per 100,000 records or so).
PART = 200


@dataclass
class RayLine:
    """One record's output: its number, source, error (None if explained) and JSONL line (None when
    the workers wrote it to output_dir)."""

    record: int
    source: str
    error: str = None
    line: str = None


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def explain_on_ray(model, records, *, workers: int = 2, address: str = None, output_dir: str = None,
                   load_options: dict = None, window: int = WINDOW, overwrite: bool = False, **options):
    """RayLines in input order, one per record. `model`: a shipped model name or a model file
    path every worker can open; `records` as for explain_records; `load_options`: load_model's
    engine, device, batch_size, dtype; `options`: explain's. `address` joins a running cluster
    ("auto" or host:port; default: a local one with `workers` CPUs, shut down at the end).
    `output_dir` is locked for this run; part files of an earlier run in it are refused, or
    removed first with `overwrite`.

    A worker that dies (killed, out of memory) is restarted and its window run again: windows
    are explained deterministically and parts written whole under their window's name, so the
    output is still exactly the single-process run's, no record lost or written twice."""
    if model is not None and not isinstance(model, str):
        raise UsageError("on Ray, give the model as a name or a file path (each worker loads its own copy)")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--num-workers must be a whole number from 1 to {MAX_WORKERS:,}, not {str(workers)[:30]}")
    load_options = dict(load_options or {})
    ray = import_ray()
    lock = claim_output_dir(output_dir, overwrite) if output_dir else None
    started = not ray.is_initialized()
    try:
        if started:
            join_ray(ray, address, workers)
    except BaseException:
        release(lock)
        raise
    try:
        quiet_ray_data(ray)
        stream = held_until_text(as_records(records))
        parts = chunks(enumerate(windows(stream, window, lambda r: block(r, window))), PART)
        actor = dict(model=model, load_options=load_options, options=options, output_dir=output_dir)
        gpus = 1 if load_options.get("device") == "cuda" else 0
        for part in parts:
            ds = ray.data.from_items([{"window": pack(seq, w)} for seq, w in part], override_num_blocks=len(part))
            with warnings.catch_warnings():  # Ray 2.60 deprecates passing actor options this way
                warnings.simplefilter("ignore", DeprecationWarning)
                # A worker that dies is restarted, and the window it held is retried on a worker
                # (MAX_RETRIES times, then the run fails in one line rather than hanging).
                ds = ds.map_batches(Worker, fn_constructor_kwargs=actor, batch_size=1,
                                    concurrency=min(workers, len(part)), num_cpus=1, num_gpus=gpus,
                                    max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
            for row in rows_of(ray, ds):
                items = json.loads(row["lines"])
                if isinstance(items, dict):  # a worker's SaliencyError: an unknown label, a missing model file
                    raise getattr(errors, items["error"], errors.SaliencyError)(items["message"])
                for item in items:
                    yield RayLine(*item)
    finally:
        if started:
            ray.shutdown()
        release(lock)


def rows_of(ray, ds):
    """The dataset's rows; a run that Ray gives up on (a window whose worker died MAX_RETRIES times)
    is one line (exit 1), not Ray's traceback: the lines written so far are whole records."""
    try:
        yield from ds.iter_rows()
    except ray.exceptions.RayError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        failed = errors.SaliencyError(f"the Ray run failed after {MAX_RETRIES} retries: {first}")
        failed.exit_code = errors.EXIT_RUN_FAILED
        raise failed from None


MAX_WORKERS = 4096  # a local Ray refuses absurd CPU counts with a long message; one line says it here
MAX_RETRIES = 3  # restarts of one worker, and retries of one window, before the run fails
CONNECT_TIMEOUT = 10  # seconds to reach HOST:PORT before ray.init is tried (it can wait minutes)


def join_ray(ray, address, workers):
    """ray.init, with an unreachable --address as one UsageError line within CONNECT_TIMEOUT seconds
    (ray.init itself raised a ConnectionError traceback for `auto`, and hung on a closed port)."""
    if address and address != "auto" and not address.startswith(("ray://", "local")):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT).close()
        except (OSError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise UsageError(f"--address {address}: no Ray cluster answers there ({reason})") from None
    try:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        where = f"--address {address}: cannot join a Ray cluster" if address else "cannot start a local Ray"
        raise UsageError(f"{where} ({first})") from None


def claim_output_dir(output_dir: str, overwrite: bool):
    """Lock output_dir for this run (a second run into it is refused, not interleaved) and refuse
    part files left by another run (or, with overwrite, remove them): the folder's parts,
    concatenated, must be this run's output and nothing else. Returns the lock's file."""
    try:
        os.makedirs(output_dir, exist_ok=True)
        lock = open(os.path.join(output_dir, LOCK_NAME), "a")
    except OSError as e:
        raise errors.OutputError(f"--output-dir {output_dir}: {e.strerror}") from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise UsageError(f"--output-dir {output_dir}: another run is writing there") from None
    old = sorted(name for name in os.listdir(output_dir) if PART_FILE.fullmatch(name))
    if old and not overwrite:
        release(lock)
        raise UsageError(f"--output-dir {output_dir} holds {len(old)} part file(s) of another run "
                         "(pass --overwrite to replace them)")
    for name in old:
        os.unlink(os.path.join(output_dir, name))
    return lock


def release(lock):
    if lock is not None:
        lock.close()  # closing the file drops the lock


LOCK_NAME = ".saliency-batch.lock"
PART_FILE = re.compile(r"part-\d{9}\.jsonl(\.tmp)?")


def quiet_ray_data(ray):
    """Keep stderr for our own one-line errors: no Ray Data progress bars or execution logs."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # rows come back in input order
    ctx.enable_progress_bars = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def chunks(items, size):
    part = []
    for item in items:
        part.append(item)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part


def pack(seq, records) -> str:
    """A window as one ASCII string (Arrow holds no lone surrogates; JSON's escapes round-trip them)."""
    # A pre-tokenized sentence (tagged.Words) travels as its list of words: they stay the tokens.
    return json.dumps([seq, [[r.index, r.source, list(r.text.words) if isinstance(r.text, Words) else r.text,
                              r.fields, r.error, r.missing_field] for r in records]], default=repr)


def unpack(packed):
    seq, rows = json.loads(packed)
    return seq, [Record(row[0], source=row[1], text=Words(row[2]) if isinstance(row[2], list) else row[2],
                        fields=row[3], error=row[4], missing_field=row[5]) for row in rows]


class Worker:
    """A Ray actor: loads the model once, then explains whole windows."""

    def __init__(self, model, load_options, options, output_dir):
        from .. import load_model

        self.options, self.output_dir, self.failure = options, output_dir, None
        try:
            self.explainer = load_model(model, **load_options)
        except errors.SaliencyError as e:
            self.failure = e  # handed to the driver with the first window, as one line, not a traceback

    def __call__(self, batch):
        import numpy as np

        try:
            return self.explain(batch)
        except errors.SaliencyError as e:  # an option that fits no record: the driver stops the run
            failure = self.failure or e
            message = json.dumps({"error": type(failure).__name__, "message": str(failure)})
            return {"lines": np.array([message] * len(batch["window"]), dtype=object)}

    def explain(self, batch):
        import numpy as np

        if self.failure:
            raise self.failure
        out = []
        for packed in batch["window"]:
            seq, records = unpack(packed)
            lines = [jsonl_line(r) for r in explain_window(self.explainer, records, self.options)]
            if self.output_dir:
                write_part(self.output_dir, seq, [line for line, _ in lines])
            out.append(json.dumps([[r.record.index, r.record.source, r.error, None if self.output_dir else line]
                                   for line, r in lines], default=repr))
        return {"lines": np.array(out, dtype=object)}


def jsonl_line(result: RecordResult):
    """(line, result) as `saliency batch` writes it: a record that cannot be serialised becomes its error."""
    try:
        return JsonlWriter.format(result.record, result.explanation, result.error), result
    except Exception as e:  # noqa: BLE001 (this record's own failure, e.g. a lone surrogate)
        result = result.failed(f"cannot write this record: {describe(e)}")
        return JsonlWriter.format(result.record, None, result.error), result


def write_part(output_dir, seq, lines):
    """Window `seq` as part-SEQ.jsonl, written to a temporary name first: a rerun replaces it whole."""
    path = os.path.join(output_dir, f"part-{seq:09d}.jsonl")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(path + ".tmp", path)


def write_lines(ray_lines, stream, report=None) -> tuple:
    """Write the lines (if the workers did not) to stream; report(RayLine) each failed record;
    return (records, failed). Raises OutputError when the stream cannot be written."""
    from .batch import ctrl_c_after_writes, stream_errors

    done = failed = 0
    with ctrl_c_after_writes() as writing:
        for out in ray_lines:
            if out.line is not None:
                with writing:
                    stream_errors(write_whole, stream, out.line)
            done, failed = done + 1, failed + (out.error is not None)
            if out.error is not None and report:
                report(out)
        with writing:
            stream_errors(stream.flush)
    return done, failed
