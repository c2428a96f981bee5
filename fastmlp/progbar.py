"""The Keras-style progress line printed by fit/evaluate/predict:
`1875/1875 ━━━━━━━━━━━━━━━━━━━━ 3s 1ms/step - accuracy: 0.8213 - loss: 0.5062`."""
import sys
import time
from typing import Optional, TextIO

from fastmlp._typing import Logs

_BAR_WIDTH = 20


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Progress of `total` steps. verbose=1: a bar rewritten in place (on a terminal; elsewhere
    the final line only); verbose=2: the final line without the bar; 0: nothing."""

    def __init__(self, total: int, verbose: int = 1, stream: Optional[TextIO] = None) -> None:
        self.total = total
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._interactive = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _line(self, done: int, logs: Optional[Logs], with_bar: bool) -> str:
        elapsed = time.perf_counter() - self.start
        parts = [f"{done}/{self.total}"]
        if with_bar:
            filled = int(_BAR_WIDTH * done / max(1, self.total))
            parts.append("━" * filled + " " * (_BAR_WIDTH - filled))
        parts.append(f"{elapsed:.0f}s {_format_per_step(elapsed / max(1, done))}")
        line = " ".join(parts)
        for key, value in (logs or {}).items():
            line += f" - {key}: {value:.4f}"
        return line

    def update(self, done: int, logs: Optional[Logs] = None) -> None:
        """Shows `done` steps with the running logs (in place, on a terminal)."""
        if self.verbose == 1 and self._interactive and done < self.total:
            self.stream.write("\r" + self._line(done, logs, True) + "\033[K")
            self.stream.flush()

    def finish(self, logs: Optional[Logs] = None) -> None:
        """Writes the final line of this progress."""
        if self.verbose == 0:
            return
        line = self._line(self.total, logs, self.verbose == 1)
        self.stream.write(("\r" if self._interactive else "") + line + ("\033[K" if self._interactive else "") + "\n")
        self.stream.flush()
