"""fastmlp's own threads, for one large inference call and for training.

Inference: a call's rows split into one contiguous part per thread, the calling thread
computing the last part while pool threads compute the others. Each part runs a compiled loop
with the GIL released on its own scratch, so parts never wait on each other or on BLAS's
thread pool. The pool grows to config.num_threads() - 1 threads on first use and is shared by
every model and caller.

Training: a training call's helper threads (start_team) come from a pool of their own, which
grows so that every training call running at once has its helpers at once: a team's threads
meet twice a step, and a helper queued behind another call's would leave its team waiting.
No thread pool spins beside another: both pools' threads sleep on a queue between calls.
"""
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional

_pool: Optional[ThreadPoolExecutor] = None
_pool_size = 0
_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            # the old pool finishes what it was given; its threads exit once idle
            old, _pool = _pool, ThreadPoolExecutor(workers, thread_name_prefix="fastmlp")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def split_rows(rows: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of `parts` contiguous parts of `rows` rows, sizes differing by at most one."""
    base, extra = divmod(rows, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def run_parts(work: Callable[[int, int], None], rows: int, parts: int) -> None:
    """Calls work(start, stop) for `parts` contiguous parts of range(rows), concurrently (the
    last part on the calling thread), and returns once all are done; the first exception of
    a part is raised after every part has finished (none is left writing into the output)."""
    bounds = split_rows(rows, parts)
    if parts == 1:
        work(*bounds[0])
        return
    pool = _executor(parts - 1)
    futures: list[Future] = [pool.submit(work, start, stop) for start, stop in bounds[:-1]]
    error: Optional[BaseException] = None
    try:
        work(*bounds[-1])
    except BaseException as caught:  # re-raised below, once the pool's parts have ended
        error = caught
    for future in futures:
        exc = future.exception()
        if error is None and exc is not None:
            error = exc
    if error is not None:
        raise error


_team_pool: Optional[ThreadPoolExecutor] = None
_team_pool_size = 0
_team_threads_busy = 0


def start_team(task: Callable[[int], None], count: int) -> list[Future]:
    """Calls task(t) for t in 1..count, each on a thread of its own that no other training call
    is using, and returns their futures (fewer than count if the pool could not take them)."""
    global _team_pool, _team_pool_size, _team_threads_busy
    with _lock:
        needed = _team_threads_busy + count
        if _team_pool is None or _team_pool_size < needed:
            old, _team_pool = _team_pool, ThreadPoolExecutor(needed, thread_name_prefix="fastmlp-train")
            _team_pool_size = needed
            if old is not None:
                old.shutdown(wait=False)
        pool = _team_pool
        _team_threads_busy += count
    futures: list[Future] = []
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


def _team_thread_done(_: Future) -> None:
    global _team_threads_busy
    with _lock:
        _team_threads_busy -= 1
