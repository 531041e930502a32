"""A Linux terminal driver whose input thread sleeps until there is something to read.

Textual's :class:`~textual.drivers.linux_driver.LinuxDriver` reads the terminal on a thread
that waits in ``select(0.1)``: it wakes 10 times a second to see whether it should stop and
to let the key parser time out a lone Escape. Idle, that thread was about 0.2% of a core
here. :class:`QuietLinuxDriver` waits on the terminal and on a pipe of its own instead,
with no timeout, except while the parser holds an unfinished sequence (then until the
parser's own deadline); stopping input writes to the pipe, so quitting never waits for a
wake-up. Everything else (parsing, events, the terminal modes) is Textual's.

Its output is written by the UI thread itself when the terminal takes it at once
(:class:`HandOffWriter`): Textual hands every frame to a writer thread, which the UI thread
has to wake (a queue, a condition, a thread switch) 30 times a second while the curve
moves. Here a frame is written to the terminal opened a second time without blocking; what
the terminal does not take at once (a slow link, a stopped reader) and everything after it
until that is written goes to the writer thread as before, so a slow terminal never holds
the UI up longer than Textual's own thread does (its queue of 30 writes).

Stopping and continuing (SIGTSTP, SIGCONT) are handled on the event loop, not inside the
signal handler, and application mode is resumed only after this driver suspended it: the
kernel sends SIGCONT along with SIGHUP when the terminal hangs up (an SSH session
dropping), and Textual's handler then restarted application mode on the dead terminal, with
a writer thread that died at its first write and a quit that waited on it for good.

It relies on two details of Textual's driver (checked at construction): ``exit_event`` (a
:class:`threading.Event`, set to stop the input thread) and the parser's ``_timeout_time``
(when a pending Escape becomes a key). If the installed Textual lacks either,
:func:`driver_class` gives Textual's own driver.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import selectors
import signal
import sys
import threading
from codecs import getincrementaldecoder
from typing import IO, Any

try:  # (Linux only; Textual's own driver is used elsewhere)
    from textual._parser import ParseError
    from textual._time import get_time  # (the parser's clock)
    from textual._xterm_parser import XTermParser
    from textual.drivers._writer_thread import WriterThread
    from textual.drivers.linux_driver import LinuxDriver
except ImportError:  # pragma: no cover - another platform or Textual version
    LinuxDriver = None  # type: ignore[assignment,misc]
    WriterThread = threading.Thread  # type: ignore[assignment,misc]


class HandOffWriter(WriterThread):  # type: ignore[misc,valid-type]
    """Textual's writer thread, used only for what the terminal does not take at once.

    ``write`` writes to ``direct`` (the terminal opened again, non-blocking: its own file
    status flags, so the shared descriptor stays blocking for everyone else) while nothing
    is waiting on the thread; the part the terminal does not take, and every write after it
    until the thread has written all it was given, is queued for the thread, which writes
    it to ``file``'s descriptor in order, blocking as Textual's does. Bytes, not text, go
    through the queue (a partial write may end inside a character). With ``direct`` -1
    (the terminal cannot be opened again) everything goes through the thread.

    Unlike Textual's, the thread outlives a terminal that is gone (EIO: what is left is
    dropped), and a write or stop never waits on a thread that is no longer running."""

    def __init__(self, file: IO[str], direct: int = -1) -> None:
        super().__init__(file)
        self._direct = direct
        self._fd = file.fileno()
        self._encoding = file.encoding or "utf-8"
        self._errors = file.errors or "strict"
        self._lock = threading.Lock()
        self._sent = 0  # writes queued (by writers, under the lock)
        self._done = 0  # of them written (by the thread)

    def write(self, text: str) -> None:  # type: ignore[override]
        data = text.encode(self._encoding, self._errors)
        with self._lock:
            if self._sent == self._done and self._direct >= 0:  # (the thread is idle)
                try:
                    n = os.write(self._direct, data)
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EINTR):
                        self._close_direct()  # (the thread's way from now on)
                    n = 0
                if n == len(data):
                    return
                data = data[n:]
            self._sent += 1
        self._hand(data)

    def _hand(self, item: bytes | None) -> None:
        """Queue ``item`` for the thread, waiting while 30 are queued as Textual's does, but
        only while the thread runs (a thread that ended takes nothing more)."""
        while self.is_alive():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        get, fd = self._queue.get, self._fd
        while True:
            data = get()
            if data is None:
                break
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except InterruptedError:
                    continue
                except OSError:
                    break  # (the terminal is gone: as Textual's, nothing more to do)
            self._done += 1

    def stop(self) -> None:
        """Stop the thread once it has written what it was given (as Textual's)."""
        self._hand(None)
        if self.is_alive():
            self.join()
        with self._lock:
            self._close_direct()

    def _close_direct(self) -> None:
        if self._direct >= 0:
            with contextlib.suppress(OSError):
                os.close(self._direct)
            self._direct = -1


def _open_direct(fd: int) -> int | None:
    """The terminal behind ``fd`` opened again for non-blocking writes (None: not a
    terminal, or it cannot be opened by name)."""
    try:
        if not os.isatty(fd):
            return None
        return os.open(os.ttyname(fd), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


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
            self._wake_r = self._wake_w = -1
            self._open_wake()
            self.exit_event = _WakingEvent(self._wake_w)

        def _open_wake(self) -> None:
            """The input thread's wake-up pipe, opened again after a suspend (which closes
            the driver)."""
            if self._wake_r < 0:
                self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
                if isinstance(getattr(self, "exit_event", None), _WakingEvent):
                    self.exit_event._wake_fd = self._wake_w

        def start_application_mode(self) -> None:
            """Textual's, then its writer thread (done with what it was given) swapped for
            a :class:`HandOffWriter`, writing directly where the terminal can be opened
            again."""
            self._open_wake()  # (before Textual's starts the input thread)
            super().start_application_mode()
            old = self._writer_thread
            if old is None or type(old) is not WriterThread:
                return  # (not started: the terminal is not usable; or another Textual)
            direct = _open_direct(self._file.fileno())
            old.stop()  # (writes what it was given: the order is kept)
            with contextlib.suppress(OSError):
                self._file.flush()
            writer = HandOffWriter(self._file, -1 if direct is None else direct)
            writer.start()
            self._writer_thread = writer

        def _sigtstp_application(self, *_: Any) -> None:
            """SIGTSTP: suspend on the event loop, not here (a handler interrupts the UI
            thread anywhere, in the middle of a write to the terminal too)."""
            loop = getattr(self, "_loop", None)  # (Textual's driver keeps the app's loop)
            if loop is None or loop.is_closed():
                os.kill(os.getpid(), signal.SIGSTOP)
                return
            loop.call_soon_threadsafe(self._suspend_now)

        def _suspend_now(self) -> None:
            """Leave application mode, stop, and once continued, come back as we were."""
            restart = self._auto_restart
            if restart:
                self.suspend_application_mode()
                self._must_signal_resume = True
            os.kill(os.getpid(), signal.SIGSTOP)  # (returns when continued)
            if restart:
                self.resume_application_mode()

        def _sigcont_application(self, *_: Any) -> None:
            """SIGCONT: nothing (a suspend resumes itself once continued). One that follows
            no suspend, as with the SIGHUP of a terminal hanging up, changes nothing."""

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
