"""The machine's background load during a measurement: CPU time other processes used, from
/proc/stat (all CPUs' busy time) less this process's own (its threads included). A figure
taken while the machine was busy is flagged in the report rather than trusted."""
import os
import threading
import time
from typing import Callable, Optional

# other processes' CPU, as a fraction of the machine's cores, above which a figure is flagged
BUSY = 0.10
MIN_SECONDS = 0.5  # blocks shorter than this get no reading (load None)
# settle(): a window of this length, in which this process's other threads used less than
# QUIET of it, means they have stopped (the process clock counts in scheduler ticks, 1-10 ms)
WINDOW = 0.05
QUIET = 0.25
# core_pair(): two threads running compute-only work side by side get at least this many times
# one thread's rate when the machine gives them two cores (1.7-1.9 on this project's AMD Zen 4 VM:
# two cores running AVX-512 at once clock lower than one). A VM's host can give two vCPUs one
# core's time without any sign in /proc/stat (no steal counted): there, in about 8% of 0.15 s
# windows, two request threads at batch 1 and at batch 64 both read ×1.0 with both threads on
# the CPU all the time, and this probe read about 1.0.
PAIR_MIN = 1.5
PAIR_SECONDS = 0.02


def _busy_seconds() -> Optional[float]:
    """All CPUs' non-idle time since boot, in seconds (None where /proc/stat is not there)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _other_threads_seconds() -> float:
    """CPU time this process's threads other than the calling one have used."""
    return time.process_time() - time.thread_time()


def _wait_quiet(used_seconds: Callable[[], Optional[float]], max_seconds: float) -> bool:
    """Sleeps window after window until one in which the CPU seconds `used_seconds` counts
    grew by under QUIET of it (True), or max_seconds have passed (False); True at once where
    it reads None (nothing to read)."""
    start = time.perf_counter()
    while True:
        before = used_seconds()
        if before is None:
            return True
        time.sleep(WINDOW)
        after = used_seconds()
        if after is not None and after - before < QUIET * WINDOW:
            return True
        if time.perf_counter() - start >= max_seconds:
            return False


def settle(max_seconds: float = 2.0) -> bool:
    """Waits until this process's other threads have stopped using the CPU, at most
    max_seconds; True once they have, False if they had not by then. Thread pools spin for a
    while after each call (ONNX Runtime's ~40 ms, OpenBLAS's and OpenMP's too): a measurement
    started then shares the cores with the previous engine's spinning workers (measured:
    fastmlp's 2-thread batch-1024 predict at half speed right after an ONNX Runtime call)."""
    return _wait_quiet(_other_threads_seconds, max_seconds)


def _other_processes_seconds() -> Optional[float]:
    """CPU time all processes but this one have used since boot (None without /proc/stat)."""
    busy = _busy_seconds()
    return None if busy is None else busy - _own_seconds()


def settle_machine(max_seconds: float = 2.0) -> bool:
    """Waits until other processes have stopped using the CPU (at most max_seconds; True once
    they have): the benchmark's workers take turns, and the worker whose turn just ended can
    leave its engine's thread pool spinning for tens of ms."""
    return _wait_quiet(_other_processes_seconds, max_seconds)


class Meter:
    """Measures the background load over a block: `with Meter() as m: ...; m.load` (None for
    blocks shorter than MIN_SECONDS in all, or without /proc/stat). Entered again, it adds the
    new block to the ones before (a figure taken in turns: the load while it was measured, not
    while the other workers took theirs)."""

    def __init__(self) -> None:
        self.load: Optional[float] = None
        self._others = 0.0
        self._seconds = 0.0
        self._known = True

    def __enter__(self) -> "Meter":
        self._start, self._wall = _other_processes_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _other_processes_seconds()
        self._seconds += time.perf_counter() - self._wall
        if end is None or self._start is None:
            self._known = False
            return
        self._others += end - self._start
        # /proc/stat counts in clock ticks (10 ms): shorter blocks would read mostly rounding
        if self._known and self._seconds >= MIN_SECONDS:
            self.load = max(0.0, self._others / (self._seconds * (os.cpu_count() or 1)))


def _gemm_task() -> Optional[Callable[[], object]]:
    """A compute-only task that releases the GIL: a product on fastmlp's own GEMM that stays in
    L2 (48×256 by 256×256, about 60 µs on one core), or None where this CPU has no such GEMM."""
    import numpy as np

    from fastmlp._kernels.small_gemm import small_gemm_check, small_gemm_level
    if small_gemm_level() == 0:
        return None
    rng = np.random.default_rng(0)
    x = rng.random((48, 256), dtype=np.float32)
    w = rng.random((256, 256), dtype=np.float32)
    y = np.empty((48, 256), np.float32)
    return lambda: small_gemm_check(x, w, y)


def core_pair(task: Optional[Callable[[], object]] = None,
              seconds: float = PAIR_SECONDS) -> Optional[float]:
    """How many times one thread's rate two threads get running the same compute-only task side
    by side (2.0: two whole cores): the machine's parallelism at this moment, which no load
    figure shows where a VM's host shares a core between its two vCPUs. None where there is no
    task that releases the GIL (fastmlp's GEMM needs AVX2 or AVX-512).

    Args:
        task: a callable that computes without the GIL (default: a product on fastmlp's GEMM).
        seconds: how long one thread, then two, run the task (each thread first runs it a
            quarter of that untimed, so that an idle core has woken up).
    """
    task = task or _gemm_task()
    if task is None:
        return None

    def calls_until(deadline: float) -> int:
        calls = 0
        while time.perf_counter() < deadline:
            task()
            calls += 1
        return calls

    calls_until(time.perf_counter() + seconds / 4)
    start = time.perf_counter()
    one = calls_until(start + seconds) / (time.perf_counter() - start)
    window: list[float] = []
    helper_calls = [0]
    # the barrier's action runs once both threads are warm: the one window both count in
    ready = threading.Barrier(2, action=lambda: window.extend([time.perf_counter(),
                                                               time.perf_counter() + seconds]))

    def helper() -> None:
        calls_until(time.perf_counter() + seconds / 4)
        ready.wait()
        helper_calls[0] = calls_until(window[1])

    other = threading.Thread(target=helper)
    other.start()
    calls_until(time.perf_counter() + seconds / 4)
    ready.wait()
    mine = calls_until(window[1])
    other.join()
    return (mine + helper_calls[0]) / (time.perf_counter() - window[0]) / one
