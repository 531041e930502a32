"""Start, stop and talk to the MIDI process (used by Engine; UI-agnostic).

Every method returns plain dicts/lists (picklable, no UI types). Requests go through one
pipe, serialised by a lock, so any thread may call them; each answers within milliseconds
(the MIDI process polls its pipe between batches, at least every 20 ms).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from typing import Any


def stop_child(proc: Any, conn: Any, timeout: float) -> None:
    """Ask the process to stop over its pipe, then terminate, then kill; close the pipe.

    (Until this client moves onto floweq_tui.runtime.ChildProcess.)
    """
    if proc is not None:
        with contextlib.suppress(Exception):
            conn.send({"cmd": "stop"})
        proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


class MidiError(RuntimeError):
    """The MIDI process could not do what was asked (one-line message)."""


class MidiProcess:
    """The MIDI service process attached to a controls block by name."""

    def __init__(self, ctl_name: str, options: dict[str, Any]) -> None:
        self.ctl_name = ctl_name
        self.options = dict(options)
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self._ready = False
        self.error = ""
        self.first_status: dict[str, Any] = {}

    def start(self, wait: bool = False, timeout: float = 15.0) -> None:
        """Spawn the process; with ``wait`` block until it has opened its ports."""
        if self.alive:
            return
        from .service import midi_main

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=midi_main,
            args=(self.ctl_name, child, self.options),
            name="floweq-midi",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self._ready = False
        if wait:
            self.ready(timeout)

    def ready(self, timeout: float = 15.0) -> bool:
        """Wait for the process's first message (it has chosen an API and opened ports)."""
        if self._ready:
            return True
        with self._lock:
            if self._ready:
                return True
            reply = self._recv(timeout)
            if not reply.get("ok"):
                self.error = reply.get("error", "the MIDI process failed to start")
                raise MidiError(self.error)
            self.first_status = reply.get("status", {})
            self._ready = True
        return True

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode if self._proc is not None else None

    def stop(self, timeout: float = 3.0) -> None:
        proc, self._proc = self._proc, None
        stop_child(proc, self._conn, timeout)
        self._conn = None
        self._ready = False

    def _recv(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"ok": False, "error": "the MIDI process did not answer in time"}
            try:
                if self._conn.poll(min(remaining, 0.1)):
                    return self._conn.recv()
            except (EOFError, OSError):
                return {"ok": False, "error": "the MIDI process exited"}
            if self._proc is None or not self._proc.is_alive():
                code = None if self._proc is None else self._proc.exitcode
                return {"ok": False, "error": f"the MIDI process exited (code {code})"}

    def command(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply; raises MidiError on failure."""
        if not self.alive:
            raise MidiError(self.error or "MIDI is not running")
        self.ready(timeout=max(timeout, 15.0))
        with self._lock:
            self._conn.send({"cmd": cmd, **args})
            reply = self._recv(timeout)
        if not reply.get("ok"):
            raise MidiError(reply.get("error", f"MIDI {cmd} failed"))
        return reply

    # ------------------------------------------------------------ convenience

    def status(self) -> dict[str, Any]:
        """Port state, API, counters, learn state, and ``knobs`` (see :meth:`knobs`)."""
        reply = self.command("status")
        return {**reply["status"], "knobs": reply["knobs"]}

    def knobs(self) -> dict[str, dict[str, Any]]:
        """{control: {"knob", "value", "picked_up", "source", "controller"}} for absolute knobs."""
        return self.command("knobs")["knobs"]

    def learn_start(self, control: str, timeout: float | None = None) -> dict[str, Any]:
        return self.command("learn", control=control, learn_timeout=timeout)["learn"]

    def learn_status(self) -> dict[str, Any]:
        return self.command("learn_status")["learn"]

    def learn_cancel(self) -> dict[str, Any]:
        return self.command("learn_cancel")["learn"]

    def learn_commit(self, replace: bool = True) -> dict[str, Any]:
        return self.command("learn_commit", replace=replace)["learn"]

    def learn(self, control: str, timeout: float = 30.0, poll: float = 0.02) -> dict[str, Any]:
        """Blocking learn: start, wait until done/conflict/timeout, return the learn state.

        On "conflict" nothing is committed: call ``learn_commit(replace=True)`` or
        ``learn_cancel()``.
        """
        self.learn_start(control, timeout)
        deadline = time.monotonic() + timeout + 1.0
        while True:
            state = self.learn_status()
            if state.get("state") != "waiting":
                return state
            if time.monotonic() > deadline:
                return self.learn_cancel()
            time.sleep(poll)

    def bindings(self, controller: str | None = None) -> dict[str, Any]:
        return self.command("bindings", controller=controller)

    def set_bindings(self, bindings: list[dict[str, Any]], controller: str | None = None) -> Any:
        return self.command("set_bindings", bindings=bindings, controller=controller)

    def export(self, path: str) -> str:
        return self.command("export", path=str(path))["path"]

    def import_(self, path: str) -> list[str]:
        return self.command("import", path=str(path))["controllers"]
