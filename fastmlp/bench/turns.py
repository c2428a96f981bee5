"""Turns: the benchmark's worker processes (one engine each, so that no engine's idle thread
pool shares the cores with another's measurement) run at the same time and take their
measurements one at a time, in rotation: each engine's figure of a cell (a workload and batch,
an inference round) is then taken in the same minutes as the others', where one engine after
the other put minutes between them (the VMs this project runs on change speed by up to 2x
within minutes: a batch-1024 ratio against ONNX Runtime read 0.60x one after the other and
0.95x alternating in one process).

Every worker makes the same sequence of turns (a turn with nothing to measure is still taken),
so the rotation stays aligned cell by cell. The state is a small JSON file beside a lock
(fcntl); a worker waiting for its turn sleeps between looks. No turn is handed out before every
worker is ready (imported, data loaded), and a worker that ends (or fails: the coordinator then
stops the others) leaves the rotation.
"""
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

try:
    import fcntl
except ImportError:  # not POSIX: the workers run one after the other instead
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.05  # how often a waiting worker looks at the state (50 µs a look)


def supported() -> bool:
    """Whether workers can take turns here (POSIX file locks)."""
    return fcntl is not None


def create(folder: Path, count: int) -> Path:
    """A new rotation of `count` workers in `folder`; returns its state file's path."""
    state = folder / "turns.json"
    state.write_text(json.dumps({"count": count, "turn": 0, "ready": [False] * count,
                                 "done": [False] * count}))
    return state


class Turns:
    """Worker `index`'s side of the rotation in `state` (made by create)."""

    def __init__(self, state: Path, index: int,
                 settle: Optional[Callable[[], object]] = None) -> None:
        """settle (or None): called once a turn is this worker's, before its block runs (the
        benchmark's: until the other workers' thread pools have stopped spinning)."""
        self.state = Path(state)
        self.index = index
        self.settle = settle

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The state, read under an exclusive lock and written back when the block ends."""
        with open(self.state, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                data = json.loads(f.read())
                yield data
                f.seek(0)
                f.truncate()
                f.write(json.dumps(data))
                f.flush()  # before the lock goes: the next reader must see all of it
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def ready(self) -> None:
        """This worker can measure: once every worker has said so, turns are handed out."""
        with self._locked() as data:
            data["ready"][self.index] = True

    @staticmethod
    def _next(data: dict[str, Any], after: int) -> int:
        """The first worker after `after`, in rotation, that has not ended (after itself if
        every other has)."""
        count = int(data["count"])
        for step in range(1, count + 1):
            k = (after + step) % count
            if not data["done"][k]:
                return k
        return after

    def _wait(self) -> None:
        while True:
            with self._locked() as data:
                if all(data["ready"]) and data["turn"] == self.index:
                    return
            time.sleep(POLL_SECONDS)

    def _pass_on(self, data: dict[str, Any]) -> None:
        """Hands the turn to the next worker, if it is this one's."""
        if data["turn"] == self.index:
            data["turn"] = self._next(data, self.index)

    def _give(self) -> None:
        with self._locked() as data:
            self._pass_on(data)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """A block run while no other worker measures: waits for this worker's turn, then
        hands the turn on when the block ends."""
        self._wait()
        try:
            if self.settle is not None:
                self.settle()
            yield
        finally:
            self._give()

    def finish(self) -> None:
        """This worker has ended: the rotation goes on without it."""
        with self._locked() as data:
            data["done"][self.index] = True
            data["ready"][self.index] = True  # an ended worker never holds the others up
            self._pass_on(data)


class Alone:
    """The rotation of a worker that measures alone: every turn is its own."""

    def ready(self) -> None:
        pass

    @contextmanager
    def turn(self) -> Iterator[None]:
        yield

    def finish(self) -> None:
        pass

