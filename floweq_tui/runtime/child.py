"""One base for child processes: spawn, typed request/reply, stop, exit status.

Parent side: :class:`ChildProcess` spawns ``target(channel, *args)`` in a fresh interpreter
(multiprocessing, spawn), waits for its first :class:`Reply` (it has started, or says why
not), then sends :class:`Request` objects and waits for their replies; requests are
serialised by a lock, so any thread may call them.

Child side: :class:`Channel` wraps the pipe. The child says :meth:`Channel.ready` or
:meth:`Channel.failed` once, then calls :meth:`Channel.serve` whenever it has time: every
waiting request is answered from a dispatch table ``{command: handler(**args)}``; a handler's
return value is the reply's ``data`` and an exception becomes a one-line ``error``.

Objects crossing the pipe are these dataclasses and plain values (numbers, strings, lists,
dicts, enums, NumPy arrays, other dataclasses of the project): state is typed, never prose.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

STOP = "stop"
"""The request that ends a child's serve loop (no reply is sent)."""


def one_line(error: object) -> str:
    """An exception or text as one clean line (for messages users read)."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        return error.__class__.__name__
    return text


class ChildError(RuntimeError):
    """A child could not do what was asked, or is gone (one-line message)."""


@dataclass(frozen=True)
class Request:
    """One command to a child, with its keyword arguments."""

    cmd: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A child's answer: ``data`` on success, a one-line ``error`` otherwise.

    ``status`` is the child's own status object when it attaches one to every reply (the
    engine does), so the parent's view of it is fresh after each request.
    """

    ok: bool
    data: Any = None
    error: str = ""
    status: Any = None


Handler = Callable[..., Any]


class Channel:
    """The child's end of the pipe: say ready once, then serve requests from a table."""

    def __init__(self, conn: Any, status: Callable[[], Any] | None = None) -> None:
        self._conn = conn
        self._status = status
        self.open = True
        """False once the parent asked us to stop or went away."""

    def _send(self, reply: Reply) -> bool:
        try:
            self._conn.send(reply)
            return True
        except (BrokenPipeError, EOFError, OSError):
            self.open = False
            return False

    def ready(self, data: Any = None) -> None:
        """Tell the parent the child is up (its first message)."""
        self._send(Reply(True, data, status=self._status() if self._status else None))

    def failed(self, error: object) -> None:
        """Tell the parent the child could not start, and why (its only message)."""
        self._send(Reply(False, error=one_line(error)))

    def wait(self, timeout: float) -> bool:
        """Sleep until a request arrives or ``timeout`` passes; False once the pipe closed."""
        if not self.open:
            return False
        try:
            self._conn.poll(timeout)
            return True
        except (EOFError, OSError):
            self.open = False
            return False

    def serve(self, handlers: Mapping[str, Handler], guard: Any = None) -> bool:
        """Answer every waiting request; False once told to stop or the parent is gone.

        ``guard`` is an optional context manager entered around each handler (the engine
        drops its real-time priority there).
        """
        while self.open:
            try:
                if not self._conn.poll():
                    return True
                req = self._conn.recv()
            except (EOFError, OSError):
                self.open = False
                break
            if not isinstance(req, Request):
                self._send(Reply(False, error=f"not a request: {type(req).__name__}"))
                continue
            if req.cmd == STOP:
                self.open = False
                break
            handler = handlers.get(req.cmd)
            if handler is None:
                reply = Reply(False, error=f"unknown command {req.cmd!r}")
            else:
                try:
                    with guard if guard is not None else contextlib.nullcontext():
                        reply = Reply(True, handler(**req.args))
                except Exception as exc:  # every failure reaches the caller as one line
                    reply = Reply(False, error=one_line(exc))
            if self._status is not None:
                try:
                    reply = Reply(reply.ok, reply.data, reply.error, self._status())
                except Exception:  # a broken status must not drop the reply
                    pass
            self._send(reply)
        return False


class ChildProcess:
    """The parent's handle on one child process (spawned, asked, stopped)."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any, label: str = "") -> None:
        self.name = name
        self.label = label or name
        """How messages name the child ("the engine process"); the process name by default."""
        self._target = target
        self._args = args
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self._first: Reply | None = None
        self.status: Any = None
        """The status object from the child's latest reply, if it sends one."""

    # ------------------------------------------------------------ lifecycle

    def start(self, wait: bool = True, timeout: float = 30.0) -> Reply | None:
        """Spawn the child; with ``wait`` return its first reply (raises if it failed)."""
        if self.alive:
            return self._first
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=self._target, args=(child, *self._args), name=self.name, daemon=True
        )
        proc.start()
        child.close()
        with self._lock:
            old, self._conn = self._conn, parent
            self._proc, self._first = proc, None
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()
        return self.ready(timeout) if wait else None

    def ready(self, timeout: float = 30.0) -> Reply:
        """Wait for the child's first reply; raises ChildError if it failed to start."""
        with self._lock:
            if self._first is None:
                self._first = self._recv(timeout)
            first = self._first
        if not first.ok:
            raise ChildError(first.error or f"{self.name} failed to start")
        return first

    def poll_ready(self) -> Reply | None:
        """The child's first reply if it has come, else None; never waits (for supervisors).

        A child that exited without a word gets a failed reply saying so.
        """
        if not self._lock.acquire(blocking=False):
            return None  # another thread is waiting for it (or asking it something)
        try:
            if self._first is None and self._proc is not None:
                conn, proc = self._conn, self._proc
                try:
                    if conn.poll(0):
                        self._first = self._recv(0.0)
                    elif not proc.is_alive():
                        self._first = Reply(False, error=self.death_note())
                except (EOFError, OSError):
                    self._first = Reply(False, error=self.death_note())
            return self._first
        finally:
            self._lock.release()

    def request(self, cmd: str, timeout: float = 30.0, **args: Any) -> Any:
        """Send one command and return its reply's data; raises ChildError on failure."""
        if not self.alive:
            raise ChildError(self.death_note())
        self.ready(timeout=max(timeout, 15.0))
        with self._lock:
            try:
                self._conn.send(Request(cmd, args))
            except (BrokenPipeError, EOFError, OSError, AttributeError):  # gone, or stopped
                raise ChildError(self.death_note()) from None
            reply = self._recv(timeout)
        if not reply.ok:
            raise ChildError(reply.error or f"{cmd} failed")
        return reply.data

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to stop, then terminate, then kill; close the pipe. Idempotent.

        A request stuck on a hung child holds the pipe: then the child is not asked, only
        terminated (the stuck request then ends with the child's death note).
        """
        polite = self._lock.acquire(timeout=1.0)
        try:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
            self._first = None
            if proc is not None and polite:
                with contextlib.suppress(Exception):
                    conn.send(Request(STOP))
        finally:
            if polite:
                self._lock.release()
        if proc is not None:
            proc.join(timeout if polite else 0.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def kill(self) -> None:
        """Kill the child at once (a hung or stale one) and reap it."""
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.kill()
            proc.join(2.0)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the child to exit (returns at once if none)."""
        proc = self._proc
        if proc is not None:
            proc.join(timeout)

    # ------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def started(self) -> bool:
        """True between ``start`` and ``stop`` (whether or not the process still runs)."""
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode if self._proc is not None else None

    def death_note(self) -> str:
        """Why the child is not there, in one line."""
        proc = self._proc
        if proc is None:
            return f"{self.label} is not running"
        if proc.exitcode is None:
            proc.join(0.5)  # a closed pipe comes a moment before the exit status
        return f"{self.label} exited (code {proc.exitcode})"

    # ------------------------------------------------------------ plumbing

    def _recv(self, timeout: float) -> Reply:
        """The next reply (lock held), or a failed one if the child is gone or silent.

        ``timeout`` 0 reads a reply that is already waiting. The pipe and process are taken
        once, so a ``stop`` from another thread ends this wait instead of breaking it.
        """
        conn, proc = self._conn, self._proc
        if conn is None:
            return Reply(False, error=self.death_note())
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if conn.poll(max(0.0, min(remaining, 0.1))):
                    reply = conn.recv()
                    if isinstance(reply, Reply):
                        if reply.status is not None:
                            self.status = reply.status
                        return reply
                    return Reply(False, error=f"{self.label} sent {type(reply).__name__}")
            except (EOFError, OSError):
                return Reply(False, error=self.death_note())
            if remaining <= 0:
                return Reply(False, error=f"{self.label} did not answer in time")
            if proc is None or not proc.is_alive():
                # a reply may have arrived just before the exit
                with contextlib.suppress(EOFError, OSError):
                    if conn.poll(0):
                        continue
                return Reply(False, error=self.death_note())
