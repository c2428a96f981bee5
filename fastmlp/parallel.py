"""fastmlp's own threads, for one large inference call and for training.

Inference: a large call's threads (the calling thread and helpers) claim its rows in chunks,
large ones first, as each finishes its last (Network.predict_parts), so a core that runs slower
or a helper woken late takes fewer rows instead of holding up the call (Intel Xeon VM, 2
threads, calls of 512-4,096 rows paired with one fixed half a thread: M1 ×0.99-1.20, M2
×1.02-1.21). Each thread runs a compiled loop with the GIL released on its own scratch, so
threads never wait on each other or on BLAS's thread pool. The helpers (part_helpers) are
started on first use, up to config.num_threads() - 1, and shared by every model and caller:
helper k takes its parts through box k of the network module (csrc/handoff.h), spinning
about 200 µs after each part for the next one, then sleeping until a caller wakes it. Where
the compiler gave the kernels no atomics, run_parts splits through a Python thread pool
instead.

A request-sized call runs on the calling thread, or, while it runs alone and helper 0 is
awake, shares its work with helper 0 (sync_wide; Network's lone calls): one or two rows of a
large model split each dense step's columns (M2's one-row latency 15.3 -> 8.0 µs in C on the
AMD Zen 4 VM), more rows their rows.

Training: a training call's helper threads (start_team) come from a pool of their own, which
grows so that every training call running at once has its helpers at once: a team's threads
meet twice a step, and a helper queued behind another call's would leave its team waiting.
Those threads sleep on a queue between calls; the inference helpers spin only about 200 µs
after a part, so a training call right after a predict call shares its cores that long.
"""
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional, TypeVar

T = TypeVar("T")

_lock = threading.Lock()


class _GrowingPool:
    """A ThreadPoolExecutor that a larger one replaces when more workers are needed: the old
    one finishes what it was given, and its threads exit once idle."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._pool: Optional[ThreadPoolExecutor] = None
        self._size = 0

    def at_least(self, workers: int) -> ThreadPoolExecutor:
        """The pool, grown to `workers` threads if smaller (the caller holds _lock)."""
        if self._pool is None or self._size < workers:
            old, self._pool = self._pool, ThreadPoolExecutor(workers, thread_name_prefix=self._prefix)
            self._size = workers
            if old is not None:
                old.shutdown(wait=False)
        return self._pool


_parts_pool = _GrowingPool("fastmlp")
_team_pool = _GrowingPool("fastmlp-train")
_team_threads_busy = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    with _lock:
        return _parts_pool.at_least(workers)


def split_rows(rows: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of `parts` contiguous parts of `rows` rows, sizes differing by at most one."""
    base, extra = divmod(rows, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def run_parts(work: Callable[[int, int], T], rows: int, parts: int) -> list[T]:
    """Calls work(start, stop) for `parts` contiguous parts of range(rows), concurrently (the
    last part on the calling thread), and returns their results in order once all are done;
    the first exception of a part is raised after every part has finished (none is left
    writing into the output)."""
    bounds = split_rows(rows, parts)
    if parts == 1:
        return [work(*bounds[0])]
    pool = _executor(parts - 1)
    futures: list[Future[T]] = [pool.submit(work, start, stop) for start, stop in bounds[:-1]]
    error: Optional[BaseException] = None
    last: list[T] = []  # the calling thread's part's result, once it has one
    try:
        last.append(work(*bounds[-1]))
    except BaseException as caught:  # re-raised below, once the pool's parts have ended
        error = caught
    for future in futures:
        exc = future.exception()
        if error is None and exc is not None:
            error = exc
    if error is not None:
        raise error
    return [future.result() for future in futures] + last


_part_wakes: list[threading.Event] = []


def part_helpers(count: int) -> list[threading.Event]:
    """The wake events of inference helpers 0..count-1 (see the module docstring), starting
    those not running yet; fewer when a thread cannot start (at interpreter shutdown)."""
    from fastmlp._kernels.network import HELPERS_MAX, serve_box
    with _lock:
        while len(_part_wakes) < min(count, HELPERS_MAX):
            wake = threading.Event()
            helper = threading.Thread(target=serve_box, args=(len(_part_wakes), wake),
                                      name=f"fastmlp-part-{len(_part_wakes)}", daemon=True)
            try:
                helper.start()
            except RuntimeError:
                break
            _part_wakes.append(wake)
        return _part_wakes[:count]


def _wide_helper() -> Optional[threading.Event]:
    """Helper 0's wake event, starting it if needed: the second thread of a lone call
    (Network's lone calls); None if it cannot start."""
    wakes = part_helpers(1)
    return wakes[0] if wakes else None


def sync_wide(threads: int) -> None:
    """Lets a lone inference call share its columns or rows with helper 0 when threads >= 2
    (started by the first such call), or keeps every call on its calling thread."""
    from fastmlp._kernels.network import set_wide_threads
    set_wide_threads(threads, _wide_helper)


def _forget_part_helpers() -> None:
    """In a forked child: the parent's helper threads do not exist here (and a thread of the
    parent may have held the lock); start afresh."""
    global _lock
    _lock = threading.Lock()
    if _part_wakes:
        from fastmlp._kernels.network import reset_boxes
        _part_wakes.clear()
        reset_boxes()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_part_helpers)


def start_team(task: Callable[[int], None], count: int) -> list[Future[None]]:
    """Calls task(t) for t in 1..count, each on a thread of its own that no other training call
    is using, and returns their futures (fewer than count if the pool could not take them)."""
    global _team_threads_busy
    with _lock:
        pool = _team_pool.at_least(_team_threads_busy + count)
        _team_threads_busy += count
    futures: list[Future[None]] = []
    try:
        for t in range(1, count + 1):
            futures.append(pool.submit(task, t))
    except RuntimeError:  # the interpreter is shutting down: the caller trains alone
        pass
    for future in futures:
        future.add_done_callback(_team_thread_done)
    with _lock:
        _team_threads_busy -= count - len(futures)
    return futures


def _team_thread_done(_: "Future[None]") -> None:
    global _team_threads_busy
    with _lock:
        _team_threads_busy -= 1
