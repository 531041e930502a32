"""Signals a loop waits for, taken without a lock.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
is, including inside ``threading`` code that holds a lock. A handler that takes the same
lock never returns: ``threading.Event.set`` in a SIGTERM handler, while the loop sat in
``Event.wait`` holding the event's lock, left a headless instrument running after SIGTERM
(seen once in CI; the stack showed the handler blocked on the lock it had interrupted).
So the handler here only appends to a list and writes one byte to a non-blocking pipe,
and the loop sleeps in ``select`` on that pipe: a signal wakes it at once, whenever it
comes, and no lock is ever taken.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable
from types import FrameType


class SignalWait:
    """Install handlers for ``signals``; :meth:`wait` sleeps until one comes.

    Each signal is kept, with the CLOCK_MONOTONIC time it came at, until :meth:`drain`
    hands it over. The handlers stay until :meth:`close` puts the previous ones back (a
    front end keeps them to the end, so that a second SIGTERM cannot cut its shutdown short).
    """

    def __init__(self, signals: Iterable[int]) -> None:
        self._got: list[tuple[int, float]] = []
        self._r, self._w = os.pipe()
        for fd in (self._r, self._w):
            os.set_blocking(fd, False)
        self._previous: dict[int, object] = {}
        for sig in signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self._got.append((signum, time.monotonic()))  # (no lock a Python thread can hold)
        with contextlib.suppress(OSError):  # a full pipe: a wake-up is pending already
            os.write(self._w, b"\0")

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, less if a signal comes (or came since the last
        :meth:`drain`): True if one is waiting."""
        if not self._got:
            # a signal after the check above has written its byte: select returns at once
            with contextlib.suppress(InterruptedError):
                select.select([self._r], [], [], max(0.0, timeout))
        with contextlib.suppress(OSError):
            while os.read(self._r, 4096):
                pass
        return bool(self._got)

    def drain(self) -> list[tuple[int, float]]:
        """The signals that came, (number, monotonic time) in order, each handed over once
        (``list.pop`` is one step a handler cannot come between)."""
        out = []
        while self._got:
            out.append(self._got.pop(0))
        return out

    def close(self) -> None:
        """Put the previous handlers back and close the pipe."""
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> SignalWait:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
