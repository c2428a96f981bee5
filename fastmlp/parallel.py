"""fastmlp's own threads for one large inference call: its rows split into one contiguous part
per thread, the calling thread computing the last part while pool threads compute the others.

Each part runs a compiled loop with the GIL released on its own scratch, so parts never wait
on each other or on BLAS's thread pool, and no thread pool spins beside another: the pool's
threads sleep on a queue between calls. The pool grows to config.num_threads() - 1 threads on
first use and is shared by every model and caller.
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
