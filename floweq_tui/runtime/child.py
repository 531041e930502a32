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

A child's output never reaches the terminal (where the UI draws): before anything else
runs in it, its file descriptors 1 and 2 are pointed at a log file under the XDG state
directory (``logs/engine.log``, ``logs/midi.log``), so C libraries (libjack, rtmidi,
PortAudio), Python tracebacks and fatal-error dumps all land there. The child appends to
the file and never waits on anyone; it rotates the file past :data:`LOG_CAP` bytes (one old
file kept, ``NAME.log.1``). The parent follows the file cheaply (:class:`ChildLog`: a stat,
and a read of what is new) and says what is new as :class:`LogNews`, rate-limited.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import multiprocessing as mp
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import state_dir

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
        _tend_output()
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
        _tend_output()
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
    """The parent's handle on one child process (spawned, asked, stopped).

    ``log``: where the child's stdout and stderr go. By default ``logs/SLUG.log`` under the
    XDG state directory, the slug taken from ``name`` ("floweq-engine" -> ``engine.log``,
    "the MIDI process" -> ``midi.log``); a path chooses the file; None leaves the child's
    output where the parent's goes (the terminal).
    """

    def __init__(
        self,
        name: str,
        target: Callable[..., None],
        *args: Any,
        label: str = "",
        log: str | os.PathLike[str] | None = "",
    ) -> None:
        self.name = name
        self.label = label or name
        """How messages name the child ("the engine process"); the process name by default."""
        self._target = target
        self._args = args
        if log == "":
            log = log_path(log_slug(name))
        self.log: ChildLog | None = ChildLog(log, log_slug(name)) if log is not None else None
        """The child's output log as the parent follows it (None: not captured)."""
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
        if self.log is None:
            target, args = self._target, (child, *self._args)
        else:
            where = self.log.prepare()
            ref = _by_name(self._target)
            target, args = _bootstrap, (child, where, self.label, ref, self._args)
        proc = ctx.Process(target=target, args=args, name=self.name, daemon=True)
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
    def sentinel(self) -> int | None:
        """A file descriptor that becomes readable when the process ends (None if none)."""
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.sentinel
        except ValueError:  # (closed)
            return None

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


# ===================================================================== the child's output

LOG_CAP = 1 << 20
"""Bytes after which a child's log is rotated (``NAME.log`` -> ``NAME.log.1``, one kept)."""
LOG_HARD_CAP = 8 * LOG_CAP
"""Past this the parent truncates a log itself (its child is not rotating: hung or gone)."""
NEWS_EVERY = 5.0
"""Seconds between two notices about one log (a flood is one notice, not one per line)."""
HEADER = "==== "
"""Lines the bootstrap writes to mark a start (not news)."""
_ROTATE_CHECK_S = 0.1
_BLANK = re.compile(rb"\n(?=[ \t\r]*\n)")


def log_slug(name: str) -> str:
    """A log's name from a child's: "floweq-engine" -> "engine", "the MIDI process" -> "midi"."""
    slug = re.sub(r"^(the )?(floweq[-_ ]?)?|( process)$", "", name.strip().lower())
    return re.sub(r"[^a-z0-9._-]+", "-", slug).strip("-.") or "child"


def log_path(slug: str) -> Path:
    """Where a child's output goes: ``$XDG_STATE_HOME/floweq-tui/logs/SLUG.log``."""
    return state_dir() / "logs" / f"{slug}.log"


def _home(path: Path) -> str:
    """``path`` with the home directory written ``~`` (shorter in a one-line notice)."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + os.sep) else text


@dataclass(frozen=True)
class LogNews:
    """What a child wrote since the last notice: the newest line and how many lines in all."""

    name: str
    """The child's log slug ("engine", "midi")."""
    path: Path
    line: str
    """The newest line (one line, shortened)."""
    lines: int
    """Lines written since the last notice (at least 1)."""

    def summary(self) -> str:
        """One line for a notice or the headless status."""
        more = self.lines - 1
        where = _home(self.path)
        if more > 0:
            tail = f"{more} more line{'s' if more != 1 else ''} in {where}"
        else:
            tail = f"in {where}"
        return f"{self.name} says: {self.line} ({tail})"


class ChildLog:
    """The parent's view of one child's output log: what is new, cheaply, never blocking it.

    The parent only reads (a ``stat`` and the new bytes at each :meth:`poll`); the child
    appends and rotates. A rotation is followed by inode: the rest of the old file is read,
    then the new one from its start. Lines the bootstrap writes to mark a start, and blank
    lines, are not news.
    """

    def __init__(self, path: str | os.PathLike[str], name: str = "", every: float = NEWS_EVERY):
        self.path = Path(path)
        self.name = name or log_slug(self.path.stem)
        self.every = every
        self.error = ""
        """Why the log cannot be written (the child's output is then discarded), or ""."""
        self._lock = threading.Lock()
        self._fh: Any = None
        self._opened = False
        self._partial = b""
        self._pending = 0
        self._newest = ""
        self._last_news = -float("inf")
        self._error_said = False

    def prepare(self) -> str | None:
        """Before a start: make the directory, begin following the file; the child's path.

        Returns None when the directory cannot be made (the child's output is discarded,
        and the next :meth:`poll` says so once).
        """
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not os.access(self.path.parent, os.W_OK):
                    raise PermissionError(f"cannot write to {self.path.parent}")
            except OSError as exc:
                self.error = one_line(exc)
                return None
            self.error = ""
            if not self._opened:
                self._opened = True  # lines from before our first child are not news
                try:
                    self._fh = open(self.path, "rb")  # noqa: SIM115  (kept open: follows renames)
                    self._fh.seek(0, os.SEEK_END)
                except OSError:
                    self._fh = None  # the child creates it: read it from its start
        return str(self.path)

    def poll(self, now: float | None = None) -> LogNews | None:
        """What is new since the last look, at most once every ``every`` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.error and not self._error_said:
                self._error_said = True
                return LogNews(self.name, self.path, f"output discarded: {self.error}", 1)
            if self._opened:
                with contextlib.suppress(OSError):
                    self._read()
            if self._pending and now - self._last_news >= self.every:
                news = LogNews(self.name, self.path, self._newest, self._pending)
                self._pending, self._last_news = 0, now
                return news
            return None

    def close(self) -> None:
        """Stop following the file."""
        with self._lock:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
            self._fh, self._opened = None, False

    # ------------------------------------------------------------ reading (lock held)

    def _read(self) -> None:
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")  # noqa: SIM115
            except OSError:
                return
        got = self._drain()
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and st.st_ino != os.fstat(self._fh.fileno()).st_ino:
            # rotated: what was left in the old file is read above; now the new one
            self._fh.close()
            self._fh = None
            self._flush_partial()
            with contextlib.suppress(OSError):
                self._fh = open(self.path, "rb")  # noqa: SIM115
                got |= self._drain()
        elif st is not None and st.st_size > LOG_HARD_CAP:
            # the child is not rotating it (its loop is stuck, a C thread still writes)
            with contextlib.suppress(OSError):
                os.truncate(self.path, 0)
        if not got and self._partial:  # no newline came since the last look: a whole line
            self._flush_partial()

    def _drain(self) -> bool:
        """Read to the end of the open file; True if anything came."""
        fh = self._fh
        if os.fstat(fh.fileno()).st_size < fh.tell():  # truncated
            fh.seek(0)
        got = False
        while chunk := fh.read(1 << 18):
            got = True
            self._take(chunk)
        return got

    def _take(self, chunk: bytes) -> None:
        """Count the whole lines in ``chunk`` (with what was left over) and keep the newest.

        Counted with ``bytes.count``, never line by line: a flood costs little to follow.
        """
        data = self._partial + chunk
        head, sep, self._partial = data.rpartition(b"\n")  # whole lines, and the rest
        if not sep:
            return
        # framed by newlines, each line starts right after one and ends before the next:
        # count the lines, less the blank ones and the start markers
        body = b"\n" + head
        blank = len(_BLANK.findall(body + b"\n"))
        count = body.count(b"\n") - blank - body.count(b"\n" + HEADER.encode())
        if count <= 0:
            return
        self._pending += count
        for raw in reversed(head[-4096:].split(b"\n")):
            if raw.strip() and not raw.startswith(HEADER.encode()):
                self._newest = _shorten(raw)
                break

    def _flush_partial(self) -> None:
        if self._partial:
            self._take(b"\n")


def _shorten(raw: bytes, width: int = 160) -> str:
    text = one_line(raw.decode("utf-8", "replace"))
    return text if len(text) <= width else text[: width - 1] + "…"


def child_logs(owner: Any) -> list[ChildLog]:
    """The output logs of an engine's children, found through its supervisor (the real
    engine has one); [] for anything else (a test double)."""
    sup = getattr(owner, "supervisor", None)
    if sup is None:
        return []
    out = []
    for name in list(getattr(sup, "health", {})):
        try:
            child = sup.child(name)
        except KeyError:
            continue
        child = getattr(child, "child", child)  # an owner wrapping its ChildProcess (MIDI)
        log = getattr(child, "log", None)
        if isinstance(log, ChildLog):
            out.append(log)
    return out


def log_news(logs: list[ChildLog], now: float | None = None) -> list[LogNews]:
    """What each log has new, rate-limited per log (see :meth:`ChildLog.poll`)."""
    return [news for log in logs if (news := log.poll(now)) is not None]


# ------------------------------------------------------------ the child side


def _by_name(target: Callable[..., Any]) -> Any:
    """``target`` as (module, qualified name), imported in the child only after its output
    is redirected; the callable itself when it has no importable name."""
    module, qual = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if not module or not qual or "<" in qual:
        return target
    return (module, qual)


def _resolve(ref: Any) -> Callable[..., Any]:
    if callable(ref):
        return ref
    module, qual = ref
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


class _Output:
    """The child's log file behind its fds 1 and 2, rotated past ``LOG_CAP``."""

    FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.next_check = 0.0
        fd = -1
        if path is not None:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, self.FLAGS, 0o644)
            except OSError:
                fd = -1
        if fd < 0:
            self.path = None  # nowhere to write: discard rather than draw over the UI
            fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self._point(fd)
        if self.path is not None and os.fstat(2).st_size >= LOG_CAP:
            self.rotate()

    @staticmethod
    def _point(fd: int) -> None:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def rotate(self) -> None:
        """``NAME.log`` -> ``NAME.log.1``, and fds 1 and 2 onto a fresh ``NAME.log``.

        ``NAME.log`` never goes missing (a reader such as ``tail -F`` or the parent sees the
        old file, then the new one): the old file gets its second name by a hard link, and
        the fresh one takes ``NAME.log`` by an atomic rename. Where hard links are not
        supported, the old file is renamed and the new one created after it."""
        if self.path is None:
            return
        old, fresh = self.path + ".1", self.path + ".new"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(fresh)
            try:
                os.link(self.path, fresh)
                os.replace(fresh, old)
            except OSError:  # no hard links here: the old way, with its short gap
                os.replace(self.path, old)
                fd = os.open(self.path, self.FLAGS, 0o644)
            else:
                fd = os.open(fresh, self.FLAGS | os.O_TRUNC, 0o644)
                try:
                    os.replace(fresh, self.path)
                except OSError:
                    os.close(fd)
                    raise
        except OSError:
            return  # keep writing where we are; the parent's hard cap still holds
        self._point(fd)

    def tend(self) -> None:
        """Rotate if the file grew past the cap (looked at a few times a second at most)."""
        now = time.monotonic()
        if self.path is None or now < self.next_check:
            return
        self.next_check = now + _ROTATE_CHECK_S
        try:
            if os.fstat(2).st_size >= LOG_CAP:
                self.rotate()
        except OSError:
            pass


_output: _Output | None = None


def _tend_output() -> None:
    if _output is not None:
        _output.tend()


def _bootstrap(conn: Any, log: str | None, label: str, target: Any, args: tuple[Any, ...]) -> None:
    """The child's first code: output to the log, hang-ups ignored, then the real target.

    fds 1 and 2 are redirected at the OS level, so C libraries write to the log too.
    SIGHUP and SIGINT are ignored: a dropped SSH session or a ctrl+c in the terminal reach
    the whole process group, and the parent decides when its children stop.
    """
    global _output
    _output = _Output(log)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with contextlib.suppress(Exception):
        faulthandler.enable(file=sys.stderr)  # a crash in C leaves its traceback there
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with contextlib.suppress(OSError):
        os.write(2, f"{HEADER}{label}: pid {os.getpid()} started {stamp}\n".encode())
    _resolve(target)(conn, *args)
