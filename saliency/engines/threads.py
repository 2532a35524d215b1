"""CPU threads: batches side by side, one per core, each single-threaded (a lone batch of several
rows in two halves, and the torch engine's gradient on the caller's thread likewise: see
pipeline.in_halves_if_alone, TorchEngine._gradient_in_halves); or, for what stays on the caller's
thread, torch's own threads cut to the cores nobody else is using.

Torch's OpenMP threads wait for each other at the end of every operation, and by default they
wait by spinning. When other processes keep the cores busy, the thread being waited for is
often not running, while the one waiting burns the time slice it needs: on this project's
2-core machine, with two busy processes beside it, the torch engine ran 20-30x slower with 2
threads than with 1 (one thread has nobody to wait for). So before each batch the engine asks
the kernel how many tasks are runnable right now (/proc/loadavg) and uses only the cores left.

Where there are several batches, no thread waits for another at all: each core's worker runs
whole batches single-threaded (`side_by_side`). On a busy machine each worker gets its fair
share of a core, whatever the others do; on a quiet one, two workers did as well as torch's two
threads on one batch (their Python work, tokens and results, overlaps the other's torch work).
"""

import contextlib
import contextvars
import functools
import itertools
import os
import threading

_cores = None


def cores() -> int:
    global _cores
    if _cores is None:
        try:
            _cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            _cores = os.cpu_count() or 1
    return _cores


def others_running() -> int:
    """Runnable tasks of other processes, at this instant (0 where the kernel does not say).

    /proc/loadavg counts every runnable thread, our own included; torch's own OpenMP threads
    keep spinning for a while after each operation, so on a quiet machine they would look like
    a neighbour and make the engine give up a core it has to itself. Our threads are subtracted.
    """
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - own_running())


def own_running() -> int:
    """This process's threads that are runnable now (at least 1: the caller)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        state = stat[stat.rfind(b")") + 2: stat.rfind(b")") + 3]  # after "pid (comm) "
        count += state == b"R"
    return max(1, count)


def free_cores(limit: int) -> int:
    """Threads to use now: at most `limit`, at least 1, and no more than the idle cores."""
    return max(1, min(limit, cores() - others_running()))


@contextlib.contextmanager
def fitted_threads(torch):
    """Torch's intra-op threads cut to the free cores for the body, then put back as they were,
    so the caller's own torch work keeps the caller's setting."""
    with _shared_setting(torch.get_num_threads, torch.set_num_threads, free_cores(torch.get_num_threads())):
        yield


# How many side-by-side scopes the running code is inside: set by the caller's scope, seen by its
# workers (side_by_side runs each item in a copy of the caller's context), so an engine knows its
# batch runs on a single-threaded worker without a flag written onto the engine object. A count,
# not a flag: scopes of one thread may close out of order (test_threads: A in, B in, A out).
_side_by_side_scopes = contextvars.ContextVar("side_by_side_scopes", default=0)


def running_side_by_side() -> bool:
    """Whether this code runs inside a side-by-side scope (torch already on one thread)."""
    return _side_by_side_scopes.get() > 0


@contextlib.contextmanager
def single_threaded(torch):
    """Torch on one thread, and running_side_by_side() true in this context, for the body."""
    with _shared_setting(torch.get_num_threads, torch.set_num_threads, 1):
        _side_by_side_scopes.set(_side_by_side_scopes.get() + 1)
        try:
            yield
        finally:
            _side_by_side_scopes.set(_side_by_side_scopes.get() - 1)


# Torch's thread count and BLAS's are process-wide: two threads that each saved and restored
# them (two explain calls at once) would restore in the wrong order and leave the process on one
# thread. The first scope in saves the setting, the last one out restores it.
_setting_lock = threading.Lock()
_holders = {}  # setter -> [scopes inside, value saved by the first]


@contextlib.contextmanager
def _shared_setting(get, set_, wanted):
    with _setting_lock:
        held = _holders.setdefault(set_, [0, None])
        if held[0] == 0:
            held[1] = get()
        held[0] += 1
        if wanted != get():
            set_(wanted)
    try:
        yield
    finally:
        with _setting_lock:
            held[0] -= 1
            if held[0] == 0 and get() != held[1]:
                set_(held[1])


@contextlib.contextmanager
def blas_single_threaded():
    """numpy's BLAS (OpenBLAS, MKL) on one thread for the body: its threads would spin against
    each other's just as torch's do."""
    with _shared_setting(_blas_threads, _set_blas_threads, 1):
        yield


def fitted_blas(method):
    """A numpy engine's method run inside fitted_blas_threads (workers side by side are already
    on one BLAS thread, and a limit set from several threads at once would be restored wrongly)."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        stop_if_abandoned()
        if getattr(_worker, "busy", False) or cores() < 2:
            return method(*args, **kwargs)
        with fitted_blas_threads(cores()):
            return method(*args, **kwargs)

    return run


@contextlib.contextmanager
def fitted_blas_threads(limit: int):
    """numpy's BLAS threads cut to the free cores for the body, as fitted_threads does for torch
    (measured: integrated gradients on one batch, numpy engine, two busy processes beside it:
    51 s with OpenBLAS's 2 threads, 5.8 s on torch's fitted ones). A quiet machine pays one look
    at /proc; threadpoolctl is loaded only when there is something to cut."""
    wanted = free_cores(limit)
    if wanted >= limit or wanted >= max(_blas_threads(), default=wanted):  # a lower limit of the
        yield  # user's own (OPENBLAS_NUM_THREADS=1, threadpool_limits) is not raised to the free cores
        return
    with _shared_setting(_blas_threads, _set_blas_threads, wanted):
        yield


def _blas_threads():
    """Each BLAS library's thread count (a tuple, as threadpoolctl lists them)."""
    return tuple(lib.num_threads for lib in _blas().select(user_api="blas").lib_controllers)


def _set_blas_threads(value):
    libs = _blas().select(user_api="blas").lib_controllers
    for lib, n in zip(libs, value if isinstance(value, tuple) else [value] * len(libs)):
        lib.set_num_threads(n)


_blas_controller = None


def _blas():
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller


_pool = None
_pool_lock = threading.Lock()
_worker = threading.local()  # .busy: this thread is one of the pool's workers


def _mark_worker():
    _worker.busy = True


def side_by_side_possible() -> bool:
    """Whether side_by_side here would run items on the workers (two cores or more, and not
    called from a worker itself)."""
    return cores() >= 2 and not getattr(_worker, "busy", False)


def cut_in_halves(sizes) -> int:
    """Where to cut items of these sizes (two or more) into two runs of about equal size: the
    number of items before the cut, at least 1."""
    before = list(itertools.accumulate(sizes[:-1]))
    total = before[-1] + sizes[-1]
    return 1 + min(range(len(before)), key=lambda k: abs(2 * before[k] - total))


def side_by_side(fn, items, scope=contextlib.nullcontext):
    """fn(item) for each item, results in order, items run on one worker thread per core.

    `scope()` is entered around the whole run (an engine's: torch one thread per worker).
    Fewer than two items, one core, or a call from a worker itself (which would wait on the
    workers it occupies) run here in the caller's thread instead. An exception
    from fn is raised as the sequential loop would raise it: at that item, in order.
    """
    items = list(items)
    if len(items) < 2 or not side_by_side_possible():
        yield from map(fn, items)
        return
    abandoned = threading.Event()

    def run(item):
        _worker.abandoned = abandoned
        try:
            return fn(item)
        finally:
            _worker.abandoned = None

    with scope():
        futures = [_workers().submit(contextvars.copy_context().run, run, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:  # a caller that stops early (or an error, Ctrl-C) leaves no work running behind it
            abandoned.set()  # batches already running stop at their next engine call
            for future in futures:
                future.cancel()
            for future in futures:
                if not future.cancelled():
                    future.exception()  # waits; any error is already reported, or not wanted


def _forget_pool():
    """In a forked child: the parent's worker threads do not exist there, so its pool would take
    work and never run it (a child of multiprocessing's fork waited forever). A fresh pool is made."""
    global _pool, _pool_lock, _setting_lock
    _pool, _pool_lock, _setting_lock = None, threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class Abandoned(BaseException):
    """Raised in a worker whose side_by_side run's caller has gone (an error, Ctrl-C): nobody
    wants its batch. A BaseException, so no `except Exception` in the work catches it."""


def stop_if_abandoned():
    """Engines call this before each evaluation: a worker's batch stops there once its results
    are not wanted (Ctrl-C waited for whole batches: 50 s with --steps 2000, 0.5 s on one core)."""
    abandoned = getattr(_worker, "abandoned", None)
    if abandoned is not None and abandoned.is_set():
        raise Abandoned


def _workers():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # here: `explain` of one text never needs it

            _pool = ThreadPoolExecutor(cores(), thread_name_prefix="saliency", initializer=_mark_worker)
        return _pool
