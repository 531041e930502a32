"""One supervisor, one restart policy, for every child process (the engine, the MIDI service).

A :class:`Supervisor` watches the children it is given from one thread. A child that exits
on its own is started again: the first retry at once, then after a delay that doubles up
to a cap, reset once a child has run for a stable period. A child stopped on purpose (by
:meth:`Supervisor.stop` or by its owner calling its ``stop``) is never restarted. Some exit
codes are hand-overs, not faults (the engine leaves with one when its audio device is
lost): those restart at once and do not count towards the backoff.

A child may also be watched for signs of life (a heartbeat it writes, e.g. the engine's
audio thread in the meters block): one silent for ``stall_after`` is STALLED (stopped or
hung; said at once), back to RUNNING when it beats again (the same process), and killed and
started again as a crash once silent for ``hang_limit``.

What the supervisor knows is published as typed health (:class:`ChildHealth`, one per
child), which the UI and headless read and say; they restart nothing themselves.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from multiprocessing.connection import wait as wait_ready
from typing import Any, Protocol

from .child import one_line


class Supervised(Protocol):
    """What the supervisor needs of a child (a :class:`~.child.ChildProcess` is one).

    ``pid`` is None once the owner stopped it (a deliberate stop). Optional extras used
    when present: ``poll_ready()`` (its first reply, never waiting), ``death_note()`` (why
    it is gone, one line), ``kill()`` and ``sentinel`` (a file descriptor readable once
    the process ended: its end is then seen at once, and the thread looks less often).
    """

    @property
    def alive(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None: ...

    def start(self, wait: bool = ..., timeout: float = ...) -> Any: ...

    def stop(self, timeout: float = ...) -> None: ...


class ChildState(Enum):
    """Where a supervised child is."""

    STARTING = "starting"
    """Started by its owner, not yet ready."""
    RUNNING = "running"
    RESTARTING = "restarting"
    """It exited on its own (or is being restarted by hand); a new one is on its way."""
    FAILED = "failed"
    """The last start failed (``error`` says why); next try ``retry_in`` s after ``since``."""
    STALLED = "stalled"
    """It runs but shows no sign of life (stopped or hung): replaced ``retry_in`` s after
    ``since`` unless it resumes."""
    STOPPED = "stopped"
    """Stopped on purpose (or never started): not restarted."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ChildHealth:
    """A child's health as the supervisor last saw it (a new object on every change)."""

    name: str
    state: ChildState = ChildState.STOPPED
    since: float = 0.0
    """``time.monotonic()`` of this change (the state entered, or the latest failure)."""
    pid: int | None = None
    restarts: int = 0
    """Replacements that came up (automatic, hand-overs and by hand)."""
    crashes: int = 0
    """Exits on its own that were not hand-overs."""
    failures: int = 0
    """Failed starts, in all."""
    failing: int = 0
    """Failed starts in a row (0 once it runs)."""
    reason: str = ""
    """Why it last went down, one line ("the engine process exited (code -9)")."""
    error: str = ""
    """Why the last start failed, one line."""
    retry_in: float = 0.0
    """RESTARTING/FAILED: the delay before the next start, from ``since``."""
    exitcode: int | None = None
    """The exit code of the process that last went down."""
    handover: bool = False
    """It is going through a hand-over (an expected exit restarted at once, not a fault)."""
    stalls: int = 0
    """Times it went silent (STALLED), in all."""
    stalled_for: float = 0.0
    """RUNNING again after a stall: how long that stall lasted (0 otherwise)."""

    @property
    def up(self) -> bool:
        """True when it runs."""
        return self.state is ChildState.RUNNING

    @property
    def news(self) -> bool:
        """Worth saying: not a hand-over, nor a first start coming up."""
        return not self.handover and not (self.up and self.restarts == 0 and not self.stalls)

    def summary(self) -> str:
        """One line saying where it is, for logs and headless status."""
        st = self.state
        if st is ChildState.RUNNING:
            again = f", {self.restarts} restart{'s' if self.restarts != 1 else ''}"
            if self.stalled_for:
                return (
                    f"{self.name}: resumed after {self.stalled_for:.1f} s stalled (pid {self.pid})"
                )
            return f"{self.name}: running (pid {self.pid}{again if self.restarts else ''})"
        if st is ChildState.STALLED:
            return (
                f"{self.name}: stalled ({self.reason}); "
                f"replaced in {self.retry_in:.0f} s unless it resumes"
            )
        if st is ChildState.RESTARTING:
            return f"{self.name}: {self.reason or 'exited'}; restarting"
        if st is ChildState.FAILED:
            return (
                f"{self.name}: start {self.failing} failed: {self.error}; "
                f"next try in {self.retry_in:g} s"
            )
        return f"{self.name}: {st.value}"


@dataclass(frozen=True)
class RestartPolicy:
    """When to start a child again: at once, then ``base`` doubling up to ``cap`` seconds."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 5.0
    stable: float = 10.0
    """A child that ran this long starts over with an immediate retry."""
    start_timeout: float = 30.0
    """A restarted child that is not ready by then is killed and counts as a failed start."""
    stall_after: float = 0.5
    """A child watched for signs of life that shows none this long is STALLED."""
    say_stall_within: float = 0.0
    """... and is said so at most this long after its latest sign of life (0: as soon as
    its silence reaches ``stall_after``). Longer than ``stall_after``: the thread, between
    two signs of life, wakes only at the last moment that still says a stall on time,
    not each time a silence would reach ``stall_after`` (fewer wake-ups when signs of
    life come often)."""
    hang_limit: float = 10.0
    """A child that shows no sign of life this long is killed and started again (a crash)."""

    def delay(self, strikes: int) -> float:
        """The wait before the next start after ``strikes`` faults since it was last stable."""
        if strikes <= 0:
            return 0.0
        return min(self.cap, self.base * self.factor ** (strikes - 1))


@dataclass
class _Entry:
    name: str
    child: Any
    label: str
    handover: Mapping[int, str]
    health: ChildHealth
    lock: threading.Lock = field(default_factory=threading.Lock)
    wanted: bool = True
    """False once stopped on purpose."""
    strikes: int = 0
    running_since: float = 0.0
    due: float = 0.0
    """When the next start is due (RESTARTING/FAILED, not yet spawned)."""
    spawned_at: float | None = None
    """When the replacement was spawned (it is starting; waiting for its first reply)."""
    liveness: Callable[[], float | None] | None = None
    stall_after: Callable[[], float] | None = None
    excused_at: float = 0.0
    """When the liveness probe last said no sign of life is expected now."""
    silent_from: float = 0.0
    """STALLED: the latest sign of life before the silence."""


class Supervisor:
    """Watch children, restart the ones that exit unexpectedly, publish their health.

    The thread looks every ``tick`` seconds, and exactly when a watched child's silence
    would reach ``stall_after`` (so a stall is seen on time with few wake-ups). While
    every child runs and gives a ``sentinel``, it sleeps on their sentinels instead: an
    exit wakes it at once, and it looks only every ``idle_tick`` (or when a silence is
    due). ``threaded=False`` runs no thread: the owner calls :meth:`step` (test doubles do).
    """

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        tick: float = 0.25,
        threaded: bool = True,
        clock: Callable[[], float] = time.monotonic,
        idle_tick: float = 2.0,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.tick = tick
        self.idle_tick = max(tick, idle_tick)
        self._threaded = threaded
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._wake: tuple[int, int] | None = None
        """A pipe that ends the thread's sleep on its children's sentinels (close)."""
        self._resumed_at = 0.0
        """When the watching thread last woke late (this process was stopped)."""
        self.on_change: Callable[[], None] | None = None
        """Called (on whichever thread published it) after each change of a child's health:
        an owner that waits on news instead of reading :attr:`health` often (the UI)."""

    # ------------------------------------------------------------ children

    def add(
        self,
        name: str,
        child: Supervised,
        *,
        ready: bool = True,
        label: str = "",
        handover: Mapping[int, str] | None = None,
        liveness: Callable[[], float | None] | None = None,
        stall_after: Callable[[], float] | None = None,
    ) -> None:
        """Watch ``child`` under ``name``; its owner has started it.

        ``ready``: it has said so (else the supervisor waits for its first reply, as for a
        restart). ``label`` names it in messages; ``handover``: exit codes that mean "start
        me again at once", with what each means ("the audio device was lost").
        ``liveness``: the clock time (``time.monotonic``, system-wide) of its latest sign of
        life, or None when none is expected now; ``stall_after`` overrides the policy's
        silence before STALLED (e.g. a few of its blocks).
        """
        now = self._clock()
        entry = _Entry(
            name,
            child,
            label or getattr(child, "label", "") or name,
            dict(handover or {}),
            ChildHealth(name, ChildState.RUNNING if ready else ChildState.STARTING, now),
            running_since=now,
            due=now,
            spawned_at=None if ready else now,
            liveness=liveness,
            stall_after=stall_after,
        )
        entry.health = replace(entry.health, pid=child.pid)
        self._entries[name] = entry
        self._ensure_thread()

    def child(self, name: str) -> Any:
        """The child watched under ``name`` (KeyError if none)."""
        return self._entries[name].child

    @property
    def health(self) -> dict[str, ChildHealth]:
        """{name: ChildHealth} for every child watched (a snapshot)."""
        return {name: e.health for name, e in list(self._entries.items())}

    def get(self, name: str) -> ChildHealth | None:
        """One child's health, or None if it is not watched."""
        entry = self._entries.get(name)
        return entry.health if entry is not None else None

    # ------------------------------------------------------------ deliberate acts

    def restart(self, name: str, timeout: float = 30.0) -> ChildHealth:
        """Start ``name`` again now (by hand): stop it (killing a hung one), start, wait.

        The backoff starts over (this is the immediate try). Raises what its start raised;
        it then stays under the policy (FAILED, retried after ``policy.base``).
        """
        entry = self._entries[name]
        with entry.lock:
            entry.wanted = True
            child = entry.child
            self._publish(entry, ChildState.RESTARTING, handover=False)
            kill = getattr(child, "kill", None)
            if kill is not None and child.alive:
                kill()
            child.stop(timeout=2.0)
            entry.strikes = 1  # if this fails, the next try waits policy.base
            entry.spawned_at = None
            try:
                child.start(wait=True, timeout=timeout)
            except Exception as exc:
                if entry.wanted:
                    self._failed(entry, one_line(exc))
                else:
                    self._publish(entry, ChildState.STOPPED)
                raise
            if not entry.wanted:  # stopped while it started
                child.stop(timeout=2.0)
                self._publish(entry, ChildState.STOPPED)
                return entry.health
            self._came_up(entry)
            return entry.health

    def stop(self, name: str, timeout: float = 5.0) -> None:
        """Stop ``name`` on purpose: it is not restarted. Idempotent."""
        entry = self._entries.get(name)
        if entry is None:
            return
        entry.wanted = False
        child = entry.child
        if not entry.lock.acquire(timeout=0.5):
            # a start by hand is waiting on it: end that wait
            kill = getattr(child, "kill", None)
            if kill is not None:
                kill()
            entry.lock.acquire()
        try:
            child.stop(timeout=timeout)
            entry.spawned_at = None
            self._publish(entry, ChildState.STOPPED, pid=None)
        finally:
            entry.lock.release()

    def close(self) -> None:
        """End the watching thread (the children are left as they are)."""
        self._closing.set()
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(OSError):
                os.write(wake[1], b"x")
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        if wake is not None and (thread is None or not thread.is_alive()):
            self._wake = None
            for fd in wake:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # ------------------------------------------------------------ the policy

    def step(self) -> None:
        """One look at every child: notice exits, start what is due, see who is ready."""
        for entry in list(self._entries.values()):
            if not entry.wanted or not entry.lock.acquire(blocking=False):
                continue  # stopped, or being restarted or stopped by hand
            try:
                self._step(entry)
            except Exception as exc:  # the supervisor itself must never die
                with contextlib.suppress(Exception):
                    self._failed(entry, f"supervisor: {one_line(exc)}")
            finally:
                entry.lock.release()

    def _step(self, entry: _Entry) -> None:
        child, now = entry.child, self._clock()
        state = entry.health.state
        if state is ChildState.STOPPED or not entry.wanted:
            return
        if state in (ChildState.RUNNING, ChildState.STALLED):
            hung = ""
            if child.alive:
                hung = self._check_life(entry, now)
                if not hung:
                    if entry.strikes and now - entry.running_since >= self.policy.stable:
                        entry.strikes = 0
                    return
                kill = getattr(child, "kill", None)
                if kill is not None:
                    kill()
                else:
                    child.stop(timeout=1.0)
            elif child.pid is None:  # its owner stopped it: a deliberate stop
                entry.wanted = False
                self._publish(entry, ChildState.STOPPED)
                return
            self._exited(entry, now, hung)
        if entry.spawned_at is None:
            if now < entry.due:
                return
            try:
                child.start(wait=False)
            except Exception as exc:
                self._failed(entry, one_line(exc))
                return
            entry.spawned_at = now
        self._check_ready(entry, now)

    def _check_life(self, entry: _Entry, now: float) -> str:
        """Watch a running child's signs of life: STALLED, RUNNING again, or hung ("why")."""
        probe = entry.liveness
        if probe is None:
            return ""
        try:
            beat = probe()
        except Exception:  # a broken probe must not make a child look dead
            beat = None
        h = entry.health
        if beat is None:  # none expected now (opening a device, handing over)
            entry.excused_at = now
            beat = now
        silent = now - max(beat, entry.running_since, entry.excused_at, self._resumed_at)
        limit = self._stall_limit(entry)
        if silent >= max(self.policy.hang_limit, limit):
            return f"{entry.label} hung (no sign of life for {silent:.0f} s)"
        if silent >= limit and h.state is ChildState.RUNNING:
            entry.silent_from = now - silent
            self._publish(
                entry,
                ChildState.STALLED,
                reason=f"no sign of life for {silent:.1f} s",
                retry_in=max(0.0, self.policy.hang_limit - silent),
                stalls=h.stalls + 1,
                stalled_for=0.0,
                handover=False,
            )
        elif silent < limit and h.state is ChildState.STALLED:
            stalled_for = max(0.0, now - silent - entry.silent_from)
            self._publish(entry, ChildState.RUNNING, stalled_for=stalled_for)
        return ""

    def _stall_limit(self, entry: _Entry) -> float:
        return entry.stall_after() if entry.stall_after is not None else self.policy.stall_after

    def _exited(self, entry: _Entry, now: float, hung: str = "") -> None:
        """A running child is gone (or was killed as ``hung``): decide when to start it again."""
        child = entry.child
        code = child.exitcode
        if code in entry.handover and not hung:
            reason, delay, handover, crashes = entry.handover[code], 0.0, True, 0
        else:
            if now - entry.running_since >= self.policy.stable:
                entry.strikes = 0
            delay = self.policy.delay(entry.strikes)
            entry.strikes += 1
            reason, handover, crashes = hung or self._death_note(entry), False, 1
        entry.due, entry.spawned_at = now + delay, None
        self._publish(
            entry,
            ChildState.RESTARTING,
            reason=reason,
            retry_in=delay,
            exitcode=code,
            handover=handover,
            crashes=entry.health.crashes + crashes,
        )

    def _check_ready(self, entry: _Entry, now: float) -> None:
        """A replacement was spawned: is it up, failed, or late?"""
        child = entry.child
        poll = getattr(child, "poll_ready", None)
        first = poll() if poll is not None else None
        if first is None:
            if child.alive and poll is None:
                self._came_up(entry)  # no way to ask: running is ready
            elif not child.alive:
                self._failed(entry, self._death_note(entry))
            elif entry.spawned_at is not None and now - entry.spawned_at > (
                self.policy.start_timeout
            ):
                child.stop(timeout=1.0)
                self._failed(entry, f"{entry.label} did not start in time")
            return
        if getattr(first, "ok", True):
            self._came_up(entry)
        else:
            child.stop(timeout=2.0)
            self._failed(entry, getattr(first, "error", "") or f"{entry.label} failed to start")

    def _came_up(self, entry: _Entry) -> None:
        entry.running_since, entry.spawned_at = self._clock(), None
        h = entry.health
        self._publish(
            entry,
            ChildState.RUNNING,
            pid=entry.child.pid,
            restarts=h.restarts + (h.state is not ChildState.STARTING),
            failing=0,
            retry_in=0.0,
            stalled_for=0.0,
        )

    def _failed(self, entry: _Entry, error: str) -> None:
        now = self._clock()
        delay = self.policy.delay(entry.strikes)
        entry.strikes += 1
        entry.due, entry.spawned_at = now + delay, None
        self._publish(
            entry,
            ChildState.FAILED,
            pid=None,
            failures=entry.health.failures + 1,
            failing=entry.health.failing + 1,
            error=error,
            retry_in=delay,
            handover=False,  # a failed start is a fault, whatever came before
        )

    def _death_note(self, entry: _Entry) -> str:
        note = getattr(entry.child, "death_note", None)
        if note is not None:
            with contextlib.suppress(Exception):
                return one_line(note())
        return f"{entry.label} exited (code {entry.child.exitcode})"

    def _publish(self, entry: _Entry, state: ChildState, **changes: Any) -> None:
        entry.health = replace(entry.health, state=state, since=self._clock(), **changes)
        told = self.on_change
        if told is not None:
            with contextlib.suppress(Exception):  # (the owner's business, never the watch's)
                told()

    # ------------------------------------------------------------ the thread

    def _ensure_thread(self) -> None:
        if not self._threaded or (self._thread is not None and self._thread.is_alive()):
            return
        self._closing.clear()
        if self._wake is None:
            self._wake = os.pipe()
            os.set_blocking(self._wake[0], False)
        self._thread = threading.Thread(target=self._run, name="floweq-supervisor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last, wait, fds = self._clock(), self.tick, None
        while not self._sleep(wait, fds):
            now = self._clock()
            if now - last > wait + self.policy.stall_after:
                self._resumed_at = now  # this process was stopped: nobody could be seen
            self.step()
            last = self._clock()
            fds = self._sentinels()
            wait = self._next_wait(last, fds)

    def _sentinels(self) -> list[int] | None:
        """The sentinels of every child, if every one runs and has one; else None."""
        found = []
        for entry in list(self._entries.values()):
            if not entry.wanted:
                continue
            if entry.health.state is not ChildState.RUNNING:
                return None
            child = entry.child
            fd = getattr(child, "sentinel", None)
            if not isinstance(fd, int) or not child.alive:
                return None
            found.append(fd)
        return found

    def _sleep(self, wait: float, fds: list[int] | None) -> bool:
        """Wait ``wait`` s, or until a child's process ends (``fds``: their sentinels, None
        to just wait) or :meth:`close`; True if closing."""
        wake = self._wake
        if fds is None or wake is None:
            return self._closing.wait(wait)
        with contextlib.suppress(OSError, ValueError):
            if wake[0] in wait_ready([*fds, wake[0]], wait):
                os.read(wake[0], 64)
        return self._closing.is_set()

    def _next_wait(self, now: float, fds: list[int] | None = None) -> float:
        """Until the next look: ``tick`` (``idle_tick`` while every child runs and its exit
        would wake the thread), or sooner when a child's silence would reach its
        ``stall_after`` before that."""
        wait = self.tick if fds is None else self.idle_tick
        for entry in list(self._entries.values()):
            if entry.liveness is None or entry.health.state is not ChildState.RUNNING:
                continue
            try:
                beat = entry.liveness()
            except Exception:
                continue
            if beat is None:  # excused for now: look at the usual pace for its end
                wait = min(wait, self.tick)
                continue
            limit = (
                entry.stall_after() if entry.stall_after is not None else self.policy.stall_after
            )
            limit = max(limit, self.policy.say_stall_within)  # (the latest look on time)
            due = max(beat, entry.running_since, entry.excused_at, self._resumed_at) + limit
            wait = min(wait, max(0.005, due - now + 0.001))
        return wait
