"""A subprocess's stdout read line by line in a thread, so a test can wait for a line with a
deadline (a bare ``readline`` would block for good if the line never comes)."""

from __future__ import annotations

import subprocess
import threading
import time


class Lines:
    """Every line ``proc`` prints, as it prints them (``proc`` opened with text=True)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        except (ValueError, OSError):
            pass  # the test closed the pipe (it has stopped listening): the lines end here
        with self._cond:
            self._cond.notify_all()

    def wait(self, want: str, after: int = 0, timeout: float = 60.0) -> tuple[int, str]:
        """The first line from index ``after`` on containing ``want``: (index, line)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(after, len(self.lines)):
                    if want in self.lines[i]:
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or (not self._thread.is_alive() and self.proc.poll() is not None):
                    raise AssertionError(f"no {want!r} in the output: {self.lines}")
                self._cond.wait(min(left, 0.5))

    def rest(self, timeout: float = 30.0) -> list[str]:
        """All the lines once the process has exited (waits for it)."""
        self.proc.wait(timeout)
        self._thread.join(timeout)
        return list(self.lines)
