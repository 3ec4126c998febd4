"""Progress of a sweep: tasks done (of which loaded from the cache), running, failed,
retried, and the time left.

The time left is (tasks left) x (wall time per task finished in this run), the
rate measured since the first task started: it counts the workers' parallelism as
it is, and is unknown until one task has finished. On a terminal the line is
rewritten in place; otherwise (a log file, CI) one line is printed at most every
``every`` seconds, and always at a failure, a retry and the end.
"""
from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts of a sweep's tasks, printed as they change.

    Parameters
    ----------
    label : str
        What is swept (the experiment's name).
    total : int
        The number of tasks.
    enabled : bool
        Print (True) or only count (False).
    stream : file, optional
        Where to print (default ``sys.stderr``).
    every : float
        Seconds between lines when ``stream`` is not a terminal.
    """

    def __init__(self, label: str, total: int, enabled: bool = True, stream=None,
                 every: float = 2.0):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.done = self.cached = self.failed = self.running = self.retried = 0
        self.start = None
        self._last = 0.0
        self._shown = ""
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def loaded(self, n: int) -> None:
        """``n`` tasks found in the cache before any work."""
        self.done += n
        self.cached += n
        if n:
            self._show(force=True)

    def begin(self) -> None:
        """The first task started (the time left is measured from here)."""
        if self.start is None:
            self.start = time.perf_counter()

    def started(self) -> None:
        self.begin()
        self.running += 1
        self._show()

    def finished(self) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        self._show(force=self.done + self.failed == self.total)

    def failure(self) -> None:
        self.running = max(0, self.running - 1)
        self.failed += 1
        self._show(force=True)

    def retry(self) -> None:
        """A running task goes back to the queue (its worker died)."""
        self.running = max(0, self.running - 1)
        self.retried += 1
        self._show(force=True)

    def set_running(self, n: int) -> None:
        """The number running, as the backend knows it."""
        if n != self.running:
            self.running = n
            self._show()

    def note(self, message: str) -> None:
        """A line of its own (a failure, a retry)."""
        if self.enabled:
            prefix = "\r\033[K" if self._tty else ""
            print(f"{prefix}sweep {self.label}: {message}", file=self.stream, flush=True)
            self._shown = ""

    def time_left(self) -> float | None:
        """Seconds left, or None before a task of this run has finished."""
        ran = self.done - self.cached
        if self.start is None or ran == 0:
            return None
        rate = ran / (time.perf_counter() - self.start)
        return (self.total - self.done - self.failed) / rate

    def line(self) -> str:
        left = self.time_left()
        eta = "time left unknown" if left is None else f"~{_duration(left)} left"
        if self.done + self.failed == self.total:
            eta = "finished"
        return (f"sweep {self.label}: {self.done}/{self.total} done ({self.cached} cached), "
                f"{self.running} running, {self.failed} failed"
                + (f", {self.retried} retried" if self.retried else "") + f"; {eta}")

    def _show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < (0.2 if self._tty else self.every):
            return
        self._last = now
        self._shown = self.line()
        end = "" if self._tty else "\n"
        prefix = "\r\033[K" if self._tty else ""
        print(prefix + self._shown, end=end, file=self.stream, flush=True)

    def close(self) -> None:
        """The final line (and a newline on a terminal)."""
        if self.enabled:
            if self.line() != self._shown:
                self._show(force=True)
            if self._tty:
                print(file=self.stream, flush=True)


__all__ = ["Progress"]
