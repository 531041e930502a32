"""A Linux terminal driver whose input thread sleeps until there is something to read.

Textual's :class:`~textual.drivers.linux_driver.LinuxDriver` reads the terminal on a thread
that waits in ``select(0.1)``: it wakes 10 times a second to see whether it should stop and
to let the key parser time out a lone Escape. Idle, that thread was about 0.2% of a core
here. :class:`QuietLinuxDriver` waits on the terminal and on a pipe of its own instead,
with no timeout, except while the parser holds an unfinished sequence (then until the
parser's own deadline); stopping input writes to the pipe, so quitting never waits for a
wake-up. Everything else (parsing, events, the terminal modes) is Textual's.

It relies on two details of Textual's driver (checked at construction): ``exit_event`` (a
:class:`threading.Event`, set to stop the input thread) and the parser's ``_timeout_time``
(when a pending Escape becomes a key). If the installed Textual lacks either,
:func:`driver_class` gives Textual's own driver.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import sys
import threading
from codecs import getincrementaldecoder
from typing import Any

try:  # (Linux only; Textual's own driver is used elsewhere)
    from textual._parser import ParseError
    from textual._time import get_time  # (the parser's clock)
    from textual._xterm_parser import XTermParser
    from textual.drivers.linux_driver import LinuxDriver
except ImportError:  # pragma: no cover - another platform or Textual version
    LinuxDriver = None  # type: ignore[assignment,misc]


class _WakingEvent(threading.Event):
    """An Event whose ``set`` also writes to a pipe (the input thread sleeps on it)."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):
            os.write(self._wake_fd, b"!")


if LinuxDriver is not None:

    class QuietLinuxDriver(LinuxDriver):  # type: ignore[misc,valid-type]
        """LinuxDriver whose input thread blocks until input, a parser deadline, or exit."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.exit_event = _WakingEvent(self._wake_w)

        def close(self) -> None:
            super().close()
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake_r = self._wake_w = -1

        def run_input_thread(self) -> None:
            """Textual's input loop, sleeping without a timeout while nothing is pending."""
            fileno, wake_r = self.fileno, self._wake_r
            selector = selectors.DefaultSelector()
            selector.register(fileno, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            parser = XTermParser(self._debug)
            feed, tick = parser.feed, parser.tick
            decode = getincrementaldecoder("utf-8")().decode
            process = self.process_message

            def timeout() -> float | None:
                due = getattr(parser, "_timeout_time", None)
                if due is None:
                    return None  # nothing pending: sleep until input or exit
                return max(0.0, due - get_time())

            def handle(ready: list[tuple[selectors.SelectorKey, int]], final: bool) -> bool:
                for key, _ in ready:
                    if key.fd == wake_r:
                        with contextlib.suppress(OSError):
                            os.read(wake_r, 4096)
                        continue
                    data = decode(os.read(fileno, 1024 * 4), final=final)
                    if not data:
                        return False  # (stdin piped and at its end)
                    for event in feed(data):
                        process(event)
                for event in tick():
                    process(event)
                return True

            try:
                while not self.exit_event.is_set():
                    if not handle(selector.select(timeout()), final=False):
                        break
                selector.unregister(fileno)
                handle([(k, m) for k, m in selector.select(0) if k.fd != wake_r], final=True)
            finally:
                selector.close()
                with contextlib.suppress(EOFError, ParseError):
                    for _ in feed(""):
                        pass


def driver_class() -> type | None:
    """The quiet driver where it can run (Linux, this Textual, no ``TEXTUAL_DRIVER`` chosen),
    else None (Textual's own)."""
    if LinuxDriver is None or not sys.platform.startswith("linux"):
        return None
    if os.environ.get("TEXTUAL_DRIVER"):
        return None
    ok = hasattr(XTermParser(), "_timeout_time") and "run_input_thread" in vars(LinuxDriver)
    return QuietLinuxDriver if ok else None
