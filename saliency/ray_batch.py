"""The batch loop on Ray Data: a pool of actors, each loading the model once, output in input order.

    from saliency.batch import read_inputs
    from saliency.ray_batch import explain_on_ray
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

import json
import logging
import os
import warnings
from dataclasses import dataclass

from .batch import WINDOW, RecordResult, as_records, block, describe, explain_window, held_until_text
from . import errors
from .errors import UsageError
from .io import JsonlWriter, Record, windows
from .tagged import Words

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
                   load_options: dict = None, window: int = WINDOW, **options):
    """RayLines in input order, one per record. `model`: a shipped model name or a model file
    path every worker can open; `records` as for explain_records; `load_options`: load_model's
    engine, device, batch_size, dtype; `options`: explain's. `address` joins a running cluster
    ("auto" or host:port; default: a local one with `workers` CPUs, shut down at the end)."""
    if model is not None and not isinstance(model, str):
        raise UsageError("on Ray, give the model as a name or a file path (each worker loads its own copy)")
    if workers < 1:
        raise UsageError(f"--num-workers must be at least 1, not {workers}")
    load_options = dict(load_options or {})
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
    try:
        quiet_ray_data(ray)
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
        stream = held_until_text(as_records(records))
        parts = chunks(enumerate(windows(stream, window, lambda r: block(r, window))), PART)
        actor = dict(model=model, load_options=load_options, options=options, output_dir=output_dir)
        gpus = 1 if load_options.get("device") == "cuda" else 0
        for part in parts:
            ds = ray.data.from_items([{"window": pack(seq, w)} for seq, w in part], override_num_blocks=len(part))
            with warnings.catch_warnings():  # Ray 2.60 deprecates passing actor options this way
                warnings.simplefilter("ignore", DeprecationWarning)
                # max_restarts=0: a worker that dies fails the run; restartable actors make Ray's core
                # log an error line on stderr each run
                ds = ds.map_batches(Worker, fn_constructor_kwargs=actor, batch_size=1,
                                    concurrency=min(workers, len(part)), num_cpus=1, num_gpus=gpus, max_restarts=0)
            for row in ds.iter_rows():
                items = json.loads(row["lines"])
                if isinstance(items, dict):  # a worker's SaliencyError: an unknown label, a missing model file
                    raise getattr(errors, items["error"], errors.SaliencyError)(items["message"])
                for item in items:
                    yield RayLine(*item)
    finally:
        if started:
            ray.shutdown()


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
        from . import load_model

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
    from .batch import ctrl_c_after_write, stream_errors

    done = failed = 0
    for out in ray_lines:
        if out.line is not None:
            with ctrl_c_after_write():
                stream_errors(stream.write, out.line)
        done, failed = done + 1, failed + (out.error is not None)
        if out.error is not None and report:
            report(out)
    with ctrl_c_after_write():
        stream_errors(stream.flush)
    return done, failed
