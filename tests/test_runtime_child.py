"""The child-process base: real spawned children, typed replies, failures as one line."""

from __future__ import annotations

import os
import signal

import pytest
from harness.echo_child import EchoStatus, echo_main

from floweq_tui.runtime import ChildError, ChildProcess, one_line
from floweq_tui.runtime.child import log_slug


@pytest.fixture
def child():
    c = ChildProcess("echo", echo_main)
    yield c
    c.stop(timeout=2.0)


def test_ready_request_and_typed_status(child: ChildProcess) -> None:
    first = child.start(wait=True, timeout=30)
    assert first is not None and first.ok and first.data == {"hello": "parent"}
    assert isinstance(first.status, EchoStatus) and first.status.pid == child.pid
    assert child.request("echo", a=1, b=[2, 3]) == {"a": 1, "b": [2, 3]}
    assert child.status == EchoStatus(child.pid, 1)


def test_handler_error_is_one_line_and_child_survives(child: ChildProcess) -> None:
    child.start()
    with pytest.raises(ChildError) as err:
        child.request("fail", why="because")
    assert str(err.value) == "asked to fail: because"
    with pytest.raises(ChildError, match="unknown command 'nope'"):
        child.request("nope")
    assert child.request("echo", ok=True) == {"ok": True}


def test_failed_start_raises_with_reason() -> None:
    c = ChildProcess("echo", echo_main, "no device here")
    try:
        with pytest.raises(ChildError, match="no device here"):
            c.start(wait=True, timeout=30)
    finally:
        c.stop(timeout=2.0)


def test_death_mid_request_is_reported(child: ChildProcess) -> None:
    child.start()
    with pytest.raises(ChildError, match=r"echo exited \(code 7\)"):
        child.request("die", code=7)
    assert not child.alive and child.exitcode == 7
    with pytest.raises(ChildError, match="exited"):
        child.request("echo")


def test_silent_child_times_out(child: ChildProcess) -> None:
    child.start()
    with pytest.raises(ChildError, match="did not answer in time"):
        child.request("sleep", timeout=0.2, seconds=1.0)


def test_stop_is_clean_and_idempotent(child: ChildProcess) -> None:
    child.start()
    pid = child.pid
    child.stop()
    assert not child.alive and child.pid is None and pid is not None
    child.stop()


def test_one_line() -> None:
    assert one_line(ValueError("a\n  b")) == "a b"
    assert one_line(KeyError()) == "KeyError"


def test_child_ignores_hangup_and_interrupt(child: ChildProcess) -> None:
    """A dropped SSH session (SIGHUP) or ctrl+c (SIGINT) reaches the whole process group: the
    children stay, and the parent stops them when it is ready."""
    child.start()
    for sig in (signal.SIGHUP, signal.SIGINT):
        os.kill(child.pid, sig)
    assert child.request("echo", still="here") == {"still": "here"}
    assert child.alive


def test_log_names_and_where_output_goes(tmp_path) -> None:
    assert [log_slug(n) for n in ("floweq-engine", "the MIDI process", "echo")] == [
        "engine",
        "midi",
        "echo",
    ]
    assert ChildProcess("x", echo_main, log=None).log is None  # output left to the terminal
    c = ChildProcess("floweq-engine", echo_main, log=tmp_path / "e.log")
    assert c.log is not None and c.log.path == tmp_path / "e.log" and c.log.name == "engine"
