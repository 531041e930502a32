"""Faults seen the way a user over SSH sees them: the real `floweq-tui` in an 80x24 tmux pane.

- jackd killed under it: libjack's complaints go to the children's logs, not over the
  screen; the status line stays whole and a notice names the log.
- the SSH session drops (the tmux session is killed: SIGHUP to the whole process group):
  the UI stops cleanly, saves the session, unlinks its shared memory, leaves no process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from harness.procs import describe, procs_with_env
from test_tui_tmux import REPO, TMUX, Pane, _ui_pid, floweq_tui_command

__all__ = ["floweq_tui_command"]  # the fixture, shared with test_tui_tmux

pytestmark = [
    pytest.mark.slow,
    pytest.mark.jack,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
]

LIBJACK = ("Cannot read socket", "CheckRes error", "JackSocketClientChannel", "Server is not")


@contextlib.contextmanager
def pane(tmp_path: Path, args: str, command: tuple[str, str], server: str):
    """`floweq-tui ARGS` in an 80x24 pane on JACK server ``server``, with private XDG config
    and state directories; everything it started is killed after."""
    name = f"fqfault{os.getpid()}"
    marker = f"FLOWEQ_TUI_TEST_MARK={tmp_path}"
    script, path_env = command
    env = {
        "XDG_CONFIG_HOME": tmp_path / "config",
        "XDG_STATE_HOME": tmp_path / "state",
        "JACK_DEFAULT_SERVER": server,
    }
    env_args = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
    cmd = (
        f"cd {shlex.quote(str(REPO))} && env {path_env} {shlex.quote(marker)} {env_args} "
        f"TERM=xterm-256color COLORTERM= {shlex.quote(script)} {args}"
    )
    subprocess.run([TMUX, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd], check=True)
    p = Pane(name)
    p.marker = marker.split("=", 1)[1]  # type: ignore[attr-defined]
    try:
        yield p
    finally:
        if p.alive():
            p.tmux("kill-session", "-t", name, check=False)
        for pid in procs_with_env(marker):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


def virtual_port_up() -> bool:
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout
    return re.search(r"^floweq-tui(-\d+)?:floweq-tui$", out, re.M) is not None


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def test_tmux_jackd_killed_keeps_the_screen_whole(
    tmp_path, private_jack, floweq_tui_command
) -> None:
    with pane(tmp_path, "", floweq_tui_command, private_jack.name) as p:
        screen = p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
        assert "running" in screen.split("\n")[0] and "JACK" in screen.split("\n")[0]
        wait_for(virtual_port_up, 20, "the MIDI process's JACK client")
        private_jack.proc.kill()
        private_jack.proc.wait(10)
        logs = tmp_path / "state" / "floweq-tui" / "logs"
        wait_for(
            lambda: any(x in f.read_text() for f in logs.glob("*.log") for x in LIBJACK),
            20,
            "libjack's lines in a log",
        )
        screen = p.wait(lambda t: " says: " in t, 20, "the notice naming the log")
        lines = screen.split("\n")
        outside = [line.split("▌")[0] for line in lines]  # the notice is right of its border
        assert not any(x in line for line in outside for x in LIBJACK), screen
        assert lines[0].startswith(" TRAVERSE ") and all(len(x) <= 80 for x in lines), screen
        assert any(x.startswith(" m Mode") for x in lines[-3:]), screen  # the key bar too
        p.keys("q")
        wait_for(lambda: not p.alive(), 20, "q to quit")


def test_tmux_hangup_stops_cleanly(tmp_path, private_jack, floweq_tui_command, capsys) -> None:
    """An SSH drop: tmux kill-session hangs up the pane's terminal (SIGHUP to every process
    of the group, the engine and MIDI processes too). The UI stops as for q: the session
    is saved, the shared-memory blocks (controls, meters, input history) are unlinked, no
    process is left."""
    with pane(tmp_path, "--silent", floweq_tui_command, private_jack.name) as p:
        p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
        wait_for(virtual_port_up, 20, "the MIDI process")
        p.keys("S-Right", "S-Right")
        p.wait(lambda t: "x+0.50" in t, 10, "x to move")
        pids = procs_with_env(p.marker)
        assert len(pids) >= 3, "the UI, the engine and the MIDI process should run"
        maps = Path(f"/proc/{_ui_pid(pids)}/maps").read_text()
        blocks = sorted(set(re.findall(r"/dev/shm/\S+", maps)))
        assert len(blocks) == 3, blocks
        p.tmux("kill-session", "-t", p.name)
        t0 = time.monotonic()
        try:
            wait_for(lambda: not procs_with_env(p.marker), 20, "every process to stop")
        except AssertionError:
            logs = tmp_path / "state" / "floweq-tui" / "logs"
            tails = {f.name: f.read_text()[-1500:] for f in logs.glob("*.log")}
            raise AssertionError(
                f"still running 20 s after the hang-up:\n{describe(procs_with_env(p.marker))}"
                f"\nlogs: {tails}"
            ) from None
        took = time.monotonic() - t0
    session = tmp_path / "config" / "floweq-tui" / "session.json"
    assert json.loads(session.read_text())["controls"]["x"] == 0.5
    assert [b for b in blocks if Path(b).exists()] == []  # unlinked: no leak to warn about
    with capsys.disabled():
        print(f"\nSIGHUP (tmux kill-session): every process gone after {took:.2f} s")
