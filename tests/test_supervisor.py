"""One supervisor, one restart policy: proven on real spawned children (and the policy's
arithmetic on a fake clock). Waits are conditions with generous deadlines."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from harness.echo_child import echo_main

from floweq_tui.runtime import (
    ChildError,
    ChildHealth,
    ChildProcess,
    ChildState,
    RestartPolicy,
    Supervisor,
)

FAST = RestartPolicy(base=0.2, factor=2.0, cap=0.8, stable=30.0, start_timeout=30.0)


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


@pytest.fixture
def sup():
    s = Supervisor(FAST, tick=0.02)
    yield s
    for name in list(s.health):
        s.stop(name, timeout=2.0)
    s.close()


def test_killed_child_is_restarted_and_health_says_so(sup: Supervisor) -> None:
    child = ChildProcess("echo", echo_main)
    child.start()
    sup.add("echo", child)
    first = sup.get("echo")
    assert first is not None and first.state is ChildState.RUNNING and first.pid == child.pid
    pid = child.pid
    os.kill(pid, signal.SIGKILL)
    h = wait_for(
        lambda: (h := sup.get("echo")) and h.restarts == 1 and h.up and h, what="a restart"
    )
    assert h.crashes == 1 and h.failures == 0 and not h.handover
    assert h.reason == "echo exited (code -9)" and h.exitcode == -9
    assert h.pid == child.pid != pid and child.alive
    assert child.request("echo", back=1) == {"back": 1}  # the new one answers
    assert "running" in h.summary() and "1 restart" in h.summary()


def test_an_exit_wakes_a_supervisor_that_sleeps_on_its_children() -> None:
    """Every child running with a sentinel, the thread sleeps up to ``idle_tick`` (here far
    longer than the waits below): a child's exit still wakes it at once, and close ends
    it at once."""
    s = Supervisor(FAST, tick=0.02, idle_tick=60.0)
    child = ChildProcess("echo", echo_main)
    try:
        child.start()
        s.add("echo", child)
        time.sleep(0.2)  # (asleep on the sentinel by now)
        pid = child.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        h = wait_for(
            lambda: (h := s.get("echo")) and h.restarts == 1 and h.up and h, 10.0, "a restart"
        )
        assert h.crashes == 1 and h.pid == child.pid != pid
        time.sleep(0.2)
        thread = s._thread
        t0 = time.monotonic()
        s.close()
        assert thread is not None and not thread.is_alive() and time.monotonic() - t0 < 2.0
    finally:
        s.stop("echo", timeout=2.0)
        s.close()


def test_child_failing_every_start_backs_off_and_says_why(sup: Supervisor) -> None:
    child = ChildProcess("echo", echo_main, "no device here")  # fails every start
    child.start(wait=False)
    sup.add("echo", child, ready=False)
    seen: dict[int, ChildHealth] = {}

    def five_failures() -> bool:
        h = sup.get("echo")
        if h is not None and h.state is ChildState.FAILED:
            seen.setdefault(h.failing, h)
        return len(seen) >= 5

    wait_for(five_failures, 60.0, "five failed starts")
    for n in range(1, 6):
        h = seen[n]
        assert h.error == "no device here" and h.restarts == 0 and h.crashes == 0
        assert h.retry_in == FAST.delay(n - 1)  # 0 (at once), 0.2, 0.4, 0.8, 0.8 (capped)
        if n > 1:  # each start waited at least its delay (load can only lengthen it)
            assert h.since - seen[n - 1].since >= seen[n - 1].retry_in
    assert [seen[n].retry_in for n in range(1, 6)] == [0.0, 0.2, 0.4, 0.8, 0.8]
    assert "start 5 failed: no device here" in seen[5].summary()


def test_deliberate_stop_is_never_restarted(sup: Supervisor) -> None:
    a = ChildProcess("a", echo_main)
    b = ChildProcess("b", echo_main)
    for child in (a, b):
        child.start()
    sup.add("a", a)
    sup.add("b", b)
    sup.stop("a")  # through the supervisor
    b.stop()  # by its owner
    wait_for(lambda: sup.get("b").state is ChildState.STOPPED, what="b seen stopped")
    # many supervisor ticks later, neither came back
    ticks = 0
    while ticks < 50:
        time.sleep(FAST.base / 4)
        ticks += 1
        for name, child in (("a", a), ("b", b)):
            h = sup.get(name)
            assert h.state is ChildState.STOPPED and h.restarts == 0 and h.crashes == 0
            assert not child.alive and child.pid is None


def test_handover_exit_restarts_at_once_and_is_no_fault(sup: Supervisor) -> None:
    child = ChildProcess("echo", echo_main)
    child.start()
    sup.add("echo", child, handover={75: "the device was lost"})
    pid = child.pid
    with pytest.raises(ChildError):
        child.request("die", code=75)
    h = wait_for(lambda: (h := sup.get("echo")) and h.restarts == 1 and h.up and h)
    assert h.handover and h.crashes == 0 and h.reason == "the device was lost"
    assert not h.news and child.pid != pid
    # a real crash after it: a fault again
    with pytest.raises(ChildError):
        child.request("die", code=3)
    h = wait_for(lambda: (h := sup.get("echo")) and h.restarts == 2 and h.up and h)
    assert not h.handover and h.crashes == 1 and h.news


def test_restart_by_hand_goes_through_the_supervisor(sup: Supervisor) -> None:
    child = ChildProcess("echo", echo_main)
    child.start()
    sup.add("echo", child)
    pid = child.pid
    h = sup.restart("echo", timeout=30.0)
    assert h.up and h.restarts == 1 and h.crashes == 0 and child.pid != pid
    assert child.request("echo", x=2) == {"x": 2}


# ----------------------------------------------------------------- the policy on a fake clock


class _Toy:
    """A child with no process: exits and starts when told."""

    def __init__(self) -> None:
        self.alive, self.pid, self.exitcode = True, 1, None
        self.fail = 0

    def start(self, wait: bool = True, timeout: float = 30.0) -> None:  # noqa: ARG002
        if self.fail:
            self.fail -= 1
            raise RuntimeError("cannot\n start")
        self.alive, self.pid, self.exitcode = True, self.pid + 1, None

    def stop(self, timeout: float = 5.0) -> None:  # noqa: ARG002
        self.alive, self.pid = False, None

    def crash(self, code: int = 1) -> None:
        self.alive, self.exitcode = False, code


def test_policy_at_once_then_backoff_reset_after_a_stable_run() -> None:
    now = [0.0]
    policy = RestartPolicy(base=0.5, factor=2.0, cap=5.0, stable=10.0)
    sup = Supervisor(policy, threaded=False, clock=lambda: now[0])
    toy = _Toy()
    sup.add("toy", toy)

    def crash_and_step() -> ChildHealth:
        toy.crash()
        sup.step()
        return sup.get("toy")

    h = crash_and_step()
    assert h.up and h.restarts == 1 and h.retry_in == 0.0  # the first retry is at once
    now[0] += 1.0
    h = crash_and_step()  # crashed again soon: wait 0.5 s
    assert h.state is ChildState.RESTARTING and h.retry_in == 0.5
    sup.step()
    assert sup.get("toy").state is ChildState.RESTARTING  # not yet due
    now[0] += 0.5
    toy.fail = 2
    sup.step()
    h = sup.get("toy")
    assert h.state is ChildState.FAILED and h.error == "cannot start" and h.retry_in == 1.0
    now[0] += 1.0
    sup.step()
    assert sup.get("toy").retry_in == 2.0 and sup.get("toy").failing == 2
    for _ in range(3):
        now[0] += 2.0
        sup.step()
    h = sup.get("toy")
    assert h.up and h.restarts == 2 and h.failing == 0 and h.failures == 2
    now[0] += policy.stable  # a stable run: the next crash is retried at once again
    sup.step()
    h = crash_and_step()
    assert h.up and h.restarts == 3 and h.crashes == 3
    assert [policy.delay(n) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_silence_is_stalled_then_resumed_or_replaced_as_hung() -> None:
    """A child watched for signs of life: STALLED after ``stall_after`` of silence (said),
    RUNNING again in the same process when it beats, killed and restarted after
    ``hang_limit``; no sign expected (None) is no silence."""
    now, beat = [0.0], [0.0]
    sup = Supervisor(RestartPolicy(stall_after=0.5, hang_limit=10.0), threaded=False,
                     clock=lambda: now[0])  # fmt: skip
    toy = _Toy()
    toy.kill = lambda: toy.crash(-9)  # type: ignore[attr-defined]
    sup.add("engine", toy, label="the engine process", liveness=lambda: beat[0])

    def at(t: float, sign: float | None = None) -> ChildHealth:
        now[0] = t
        if sign is not None:
            beat[0] = sign
        sup.step()
        return sup.get("engine")

    assert at(0.4).up
    h = at(0.6)
    assert h.state is ChildState.STALLED and h.stalls == 1 and h.pid == 1 and h.news
    assert h.reason == "no sign of life for 0.6 s" and h.retry_in == pytest.approx(9.4)
    assert h.summary() == (
        "engine: stalled (no sign of life for 0.6 s); replaced in 9 s unless it resumes"
    )
    h = at(3.0, sign=3.0)
    assert h.up and h.pid == 1 and h.restarts == 0 and h.crashes == 0 and h.news
    assert h.stalled_for == pytest.approx(3.0)
    assert h.summary() == "engine: resumed after 3.0 s stalled (pid 1)"
    beat[0] = None  # type: ignore[call-overload]  (opening a device: no block expected)
    assert at(20.0).up and at(20.4).up
    h = at(20.9, sign=20.0)  # blocks expected again from 20.4 on: silent since
    assert h.state is ChildState.STALLED and h.stalls == 2
    h = at(30.4)
    assert h.up and h.pid == 2 and h.restarts == 1 and h.crashes == 1
    assert h.reason == "the engine process hung (no sign of life for 10 s)"


def test_looks_paced_by_say_stall_within_and_each_change_told() -> None:
    """With ``say_stall_within`` (longer than ``stall_after``), signs of life coming often:
    the next look is due when a silence since the latest one would reach
    ``say_stall_within``, not ``stall_after``; a stall is still seen at that look, and each
    change of health is told to ``on_change``."""
    now, beat = [0.0], [0.0]
    policy = RestartPolicy(stall_after=0.5, say_stall_within=0.8)
    sup = Supervisor(policy, threaded=False, clock=lambda: now[0])
    told: list[ChildState] = []
    sup.on_change = lambda: told.append(sup.get("engine").state)
    toy = _Toy()
    sup.add("engine", toy, liveness=lambda: beat[0])
    now[0] = beat[0] = 0.3
    sup.step()
    assert sup._next_wait(0.3, []) == pytest.approx(0.8 + 0.001)  # (0.5 + 0.001 without)
    now[0] = 1.1  # silent since 0.3: looked at when due
    sup.step()
    h = sup.get("engine")
    assert h.state is ChildState.STALLED and h.reason == "no sign of life for 0.8 s"
    assert told == [ChildState.STALLED]
    now[0] = beat[0] = 1.2
    sup.step()
    assert told == [ChildState.STALLED, ChildState.RUNNING]


def test_health_wording_for_a_stall() -> None:
    pytest.importorskip("textual")
    from floweq_tui.tui.app import engine_notice, health_notices

    up = ChildHealth("engine", ChildState.RUNNING, pid=7)
    stalled = ChildHealth(
        "engine", ChildState.STALLED, pid=7, stalls=1, reason="no sign of life for 0.5 s",
        retry_in=9.5,
    )  # fmt: skip
    assert engine_notice(stalled) == "engine stalled" and engine_notice(up) == ""
    assert health_notices(up, stalled) == [
        ("engine stalled: no sign of life for 0.5 s (replaced after 10 s)", "warning")
    ]
    resumed = ChildHealth(
        "engine", ChildState.RUNNING, pid=7, stalls=1, stalled_for=3.04,
        reason="no sign of life for 0.5 s",
    )  # fmt: skip
    assert health_notices(stalled, resumed) == [("engine resumed after 3.0 s", "information")]
    # stalled and resumed between two looks: still said
    assert health_notices(up, resumed) == [
        ("engine stalled for a moment (no sign of life for 0.5 s)", "warning")
    ]


# ----------------------------------------------------------------- the engine's supervisor


def test_engine_state_mirrors_the_meters_slot() -> None:
    from floweq_tui.controls import ENGINE_STATES
    from floweq_tui.engine import EngineState, EngineStatus

    assert {s.code: s.value for s in EngineState} == ENGINE_STATES
    assert EngineState.from_code(2.0) is EngineState.SILENT
    assert EngineStatus(state="running").state is EngineState.RUNNING


@pytest.mark.slow
def test_killed_engine_is_restarted_by_its_supervisor() -> None:
    from floweq_tui.engine import Engine, EngineConfig, EngineState

    eng = Engine(EngineConfig(silent=True), mode=2, p0=5.0)
    eng.start()
    try:
        assert eng.health["engine"].up and eng.restarts == 0
        pid = eng.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: eng.alive and eng.pid != pid, 60.0, "a new engine process")
        h = eng.health["engine"]
        assert h.crashes == 1 and h.restarts == 1 == eng.restarts
        assert h.reason == "the engine process exited (code -9)"
        assert eng.get("p0") == 5.0 and eng.state is EngineState.SILENT
        calls = eng.meters["callbacks"]
        wait_for(lambda: eng.meters["callbacks"] > calls + 10, 10.0, "the meters to move")
        assert eng.status.pid == eng.pid
    finally:
        eng.stop()
    assert eng.health["engine"].state is ChildState.STOPPED and not eng.alive


@pytest.mark.slow
def test_engine_stopped_past_the_hang_limit_is_replaced() -> None:
    """SIGSTOP for longer than the hang limit (2 s here, 10 s by default): the supervisor
    kills the stopped process and starts a new one (a crash, said), the controls kept."""
    from floweq_tui.engine import Engine, EngineConfig, EngineState

    eng = Engine(EngineConfig(silent=True), RestartPolicy(hang_limit=2.0), mode=2, p0=5.0)
    eng.start()
    pid = eng.pid
    try:
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        wait_for(lambda: eng.health["engine"].state is ChildState.STALLED, 10.0, "stalled")
        wait_for(lambda: eng.alive and eng.pid != pid, 60.0, "a new engine process")
        print(f"hung engine replaced {time.monotonic() - t0:.1f} s after SIGSTOP")
        h = eng.health["engine"]
        assert h.crashes == 1 and h.restarts == 1 and h.stalls == 1
        assert h.reason == "the engine process hung (no sign of life for 2 s)", h.reason
        assert eng.get("p0") == 5.0 and eng.state is EngineState.SILENT
        calls = eng.meters["callbacks"]
        wait_for(lambda: eng.meters["callbacks"] > calls + 10, 10.0, "the meters to move")
        assert not os.path.exists(f"/proc/{pid}") or "Z" in _proc_state(pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        eng.stop()


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
