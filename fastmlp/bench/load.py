"""The machine's background load during a measurement: CPU time other processes used, from
/proc/stat (all CPUs' busy time) less this process's own (its threads included). A figure
taken while the machine was busy is flagged in the report rather than trusted."""
import os
import time
from typing import Optional

# other processes' CPU, as a fraction of the machine's cores, above which a figure is flagged
BUSY = 0.10
MIN_SECONDS = 0.5  # blocks shorter than this get no reading (load None)
# settle(): a window of this length, in which this process's other threads used less than
# QUIET of it, means they have stopped (the process clock counts in scheduler ticks, 1-10 ms)
WINDOW = 0.05
QUIET = 0.25


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


def settle(max_seconds: float = 2.0) -> bool:
    """Waits until this process's other threads have stopped using the CPU, at most
    max_seconds; True once they have, False if they had not by then. Thread pools spin for a
    while after each call (ONNX Runtime's ~40 ms, OpenBLAS's and OpenMP's too): a measurement
    started then shares the cores with the previous engine's spinning workers (measured:
    fastmlp's 2-thread batch-1024 predict at half speed right after an ONNX Runtime call)."""
    start = time.perf_counter()
    while True:
        before = _other_threads_seconds()
        time.sleep(WINDOW)
        if _other_threads_seconds() - before < QUIET * WINDOW:
            return True
        if time.perf_counter() - start >= max_seconds:
            return False


class Meter:
    """Measures the background load over a block: `with Meter() as m: ...; m.load` (None for
    a block shorter than MIN_SECONDS or without /proc/stat)."""

    def __enter__(self) -> "Meter":
        self._busy, self._own, self._wall = _busy_seconds(), _own_seconds(), time.perf_counter()
        self.load: Optional[float] = None
        return self

    def __exit__(self, *exc: object) -> None:
        busy = _busy_seconds()
        wall = time.perf_counter() - self._wall
        # /proc/stat counts in clock ticks (10 ms): shorter blocks would read mostly rounding
        if busy is None or self._busy is None or wall < MIN_SECONDS:
            return
        others = (busy - self._busy) - (_own_seconds() - self._own)
        self.load = max(0.0, others / (wall * (os.cpu_count() or 1)))
