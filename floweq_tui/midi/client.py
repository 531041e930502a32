"""Start, stop and talk to the MIDI process (used by Engine; UI-agnostic).

:class:`MidiProcess` owns a :class:`floweq_tui.runtime.ChildProcess`: spawning, the request
pipe, stopping and the exit status are the base's. What it adds is the MIDI requests as
methods returning the typed objects of :mod:`.state` (:class:`~.state.MidiStatus`,
:class:`~.state.KnobInfo`, :class:`~.state.LearnState`), and :class:`MidiError` for every
failure. Requests are serialised by the base's lock, so any thread may call them; each
answers within milliseconds (the MIDI process reads its pipe between batches, every 5 ms).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from typing import Any

from ..runtime import ChildError, ChildProcess, Reply
from .state import KnobInfo, LearnPhase, LearnState, MidiStatus

NAME = "the MIDI process"
"""How messages name it ("the MIDI process exited (code -9)")."""


class MidiError(ChildError):
    """The MIDI process could not do what was asked, or is gone (one-line message)."""


class MidiProcess:
    """The MIDI service process attached to a controls block by name.

    A thin owner of one :class:`~floweq_tui.runtime.ChildProcess` (:attr:`child`, what a
    supervisor watches): start, stop, kill and health are the base's, under the same names;
    the base's request plumbing carries the commands. ``options``: see
    :class:`~.service.MidiService`. The first reply (:meth:`ready`) carries the service's
    first :class:`~.state.MidiStatus` (it has chosen an API and opened ports).
    """

    def __init__(self, ctl_name: str, options: dict[str, Any]) -> None:
        from .service import midi_main

        self.ctl_name = ctl_name
        self.options = dict(options)
        # news: a byte from the process when something the parent shows moved (see
        # MidiService.run); both ends stay here for every process the child starts
        self._news, news_out = mp.get_context("spawn").Pipe(duplex=False)
        os.set_blocking(self._news.fileno(), False)
        self.child = ChildProcess(NAME, midi_main, ctl_name, self.options, news_out)

    # ------------------------------------------------------------ lifecycle (the base's)

    def start(self, wait: bool = False, timeout: float = 15.0) -> None:
        """Spawn the process; with ``wait`` block until it has opened its ports."""
        try:
            self.child.start(wait=wait, timeout=timeout)
        except ChildError as exc:
            raise MidiError(str(exc)) from None

    def ready(self, timeout: float = 15.0) -> Reply:
        """Wait for the process's first message; raises MidiError if it failed to start."""
        try:
            return self.child.ready(timeout)
        except ChildError as exc:
            raise MidiError(str(exc)) from None

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the process to stop, then terminate, then kill. Idempotent."""
        self.child.stop(timeout)

    def kill(self) -> None:
        self.child.kill()

    def poll_ready(self) -> Reply | None:
        """Its first reply if it came (for the supervisor: a failed start is not a crash)."""
        return self.child.poll_ready()

    @property
    def alive(self) -> bool:
        return self.child.alive

    @property
    def pid(self) -> int | None:
        return self.child.pid

    @property
    def exitcode(self) -> int | None:
        return self.child.exitcode

    @property
    def news_fd(self) -> int:
        """Readable when the process has news (a MIDI message applied, a port or the
        mapping file moved): wait on it, then :meth:`take_news` and ask for the status."""
        return self._news.fileno()

    def take_news(self) -> bool:
        """Empty the news pipe; True if there was news."""
        got = False
        with contextlib.suppress(OSError):
            while os.read(self._news.fileno(), 4096):
                got = True
        return got

    @property
    def sentinel(self) -> int | None:
        """Readable once the process ended (the supervisor sleeps on it)."""
        return self.child.sentinel

    def death_note(self) -> str:
        """Why the process is not there, in one line."""
        return self.child.death_note()

    def command(self, cmd: str, timeout: float = 5.0, **args: Any) -> Any:
        """Send one request and return its reply's data; raises MidiError on failure."""
        try:
            return self.child.request(cmd, timeout, **args)
        except ChildError as exc:
            raise MidiError(str(exc)) from None

    # ------------------------------------------------------------ convenience

    def status(self) -> MidiStatus:
        """API, both links, the mapping file, counters, the learn, and the knobs."""
        return self.command("status")

    def knobs(self) -> dict[str, KnobInfo]:
        """Every absolute knob by control (position, value, picked up, source, controller)."""
        return self.command("knobs")

    def learn_start(self, control: str, timeout: float | None = None) -> LearnState:
        return self.command("learn", control=control, learn_timeout=timeout)

    def learn_status(self) -> LearnState:
        return self.command("learn_status")

    def learn_cancel(self) -> LearnState:
        return self.command("learn_cancel")

    def learn_commit(self, replace: bool = True) -> LearnState:
        return self.command("learn_commit", replace=replace)

    def learn(self, control: str, timeout: float = 30.0, poll: float = 0.02) -> LearnState:
        """Blocking learn: start, wait until done/conflict/timeout, return the learn state.

        On CONFLICT nothing is committed: call ``learn_commit(replace=True)`` or
        ``learn_cancel()``.
        """
        self.learn_start(control, timeout)
        deadline = time.monotonic() + timeout + 1.0
        while True:
            state = self.learn_status()
            if state.phase is not LearnPhase.WAITING:
                return state
            if time.monotonic() > deadline:
                return self.learn_cancel()
            time.sleep(poll)

    def bindings(self, controller: str | None = None) -> dict[str, Any]:
        """{"controller", "custom": bool, "bindings": [Binding.to_dict()]}."""
        return self.command("bindings", controller=controller)

    def set_bindings(
        self, bindings: list[dict[str, Any]], controller: str | None = None
    ) -> dict[str, Any]:
        """Replace a controller's bindings (saved): {"saved": bool, "error": str}."""
        return self.command("set_bindings", bindings=bindings, controller=controller)

    def export(self, path: str) -> str:
        return self.command("export", path=str(path))

    def import_(self, path: str) -> list[str]:
        return self.command("import", path=str(path))["controllers"]
