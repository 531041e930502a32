"""Faults seen the way a user over SSH sees them: the real `floweq-tui` in an 80x24 tmux pane.

- jackd killed under it: libjack's complaints go to the children's logs, not over the
  screen; the status line stays whole and a notice names the log.
- the SSH session drops (the tmux session is killed: SIGHUP to the whole process group):
  the UI stops cleanly, saves the session, unlinks its shared memory, leaves no process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import shlex
import signal
import struct
import subprocess
import termios
import threading
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


def _state(pid: int) -> str:
    """A process's state letter (R, S, T for stopped, ...), "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _ui_log(tmp_path: Path, ui_pid: int) -> str:
    """The UI's every thread's stack (SIGUSR2 writes them to its log), and the other logs'
    tails: for the message of a UI that did not stop."""
    logs = tmp_path / "state" / "floweq-tui" / "logs"
    ui_log = logs / "ui.log"
    with contextlib.suppress(ProcessLookupError, AssertionError):
        os.kill(ui_pid, signal.SIGUSR2)
        wait_for(lambda: ui_log.exists() and "File" in ui_log.read_text(), 5, "the stacks")
    tails = {f.name: f.read_text()[-6000:] for f in logs.glob("*.log")}
    return "logs: " + "\n".join(f"== {name}\n{text}" for name, text in tails.items())


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
            raise AssertionError(
                f"still running 20 s after the hang-up:\n{describe(procs_with_env(p.marker))}"
                f"\n{_ui_log(tmp_path, _ui_pid(pids))}"
            ) from None
        took = time.monotonic() - t0
    session = tmp_path / "config" / "floweq-tui" / "session.json"
    assert json.loads(session.read_text())["controls"]["x"] == 0.5
    assert [b for b in blocks if Path(b).exists()] == []  # unlinked: no leak to warn about
    with capsys.disabled():
        print(f"\nSIGHUP (tmux kill-session): every process gone after {took:.2f} s")


def test_tmux_suspend_and_continue_keeps_playing(
    tmp_path, private_jack, floweq_tui_command
) -> None:
    """SIGTSTP (a suspend), then the SIGCONT tmux sends a pane's stopped process: the UI
    leaves application mode on its event loop, stops, and comes back whole; keys work and q
    quits. Then a SIGCONT that follows no suspend changes nothing, and SIGUSR2 writes the
    stacks to the UI's log, not over the screen."""
    with pane(tmp_path, "--silent", floweq_tui_command, private_jack.name) as p:
        p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
        ui = _ui_pid(procs_with_env(p.marker))
        server = int(p.tmux("display-message", "-p", "#{pid}").stdout)
        os.kill(server, signal.SIGSTOP)  # (so that the UI stays stopped until we look)
        try:
            os.kill(ui, signal.SIGTSTP)
            wait_for(lambda: _state(ui) == "T", 10, "the UI to stop")
        finally:
            os.kill(server, signal.SIGCONT)  # tmux continues its pane's process
        wait_for(lambda: _state(ui) in "RS", 10, "tmux to continue the UI")
        p.keys("S-Right", "S-Right")
        screen = p.wait(lambda t: "x+0.50" in t and "BANDS" in t, 20, "x to move after it")
        assert screen.split("\n")[0].startswith(" TRAVERSE "), screen
        os.kill(ui, signal.SIGCONT)
        p.keys("S-Left")
        p.wait(lambda t: "x+0.25" in t, 20, "x to move after a lone SIGCONT")
        # kill -USR2: every thread's stack into the UI's log, nothing over the screen
        ui_log = tmp_path / "state" / "floweq-tui" / "logs" / "ui.log"
        os.kill(ui, signal.SIGUSR2)
        wait_for(lambda: ui_log.exists() and "Current thread" in ui_log.read_text(), 10, "stacks")
        assert "in run_until_complete" in ui_log.read_text()  # (the UI thread's event loop)
        screen = p.wait(lambda t: "BANDS" in t, 5, "the screen")
        assert "Thread 0x" not in screen and "Current thread" not in screen, screen
        p.keys("q")
        wait_for(lambda: not p.alive(), 20, "q to quit")


def test_ssh_drop_while_the_ui_is_stopped(tmp_path, private_jack, floweq_tui_command) -> None:
    """sshd's side of an SSH drop: the pseudo-terminal's master closed, while the UI is
    stopped (SIGSTOP: a pane of tmux would be continued by tmux at once). The kernel sends
    the UI, its session's leader, SIGHUP and SIGCONT, which it handles once the terminal is
    gone. That SIGCONT, though nothing had suspended the UI, restarted Textual's application
    mode on the dead terminal, with a writer thread that died at its first write (EIO) and a
    quit that waited on it for good; the tmux hang-up above did so in one run out of a few.
    Now it stops as for q."""
    script, path_env = floweq_tui_command
    marker = f"FLOWEQ_TUI_TEST_MARK={tmp_path}"
    mine = str(tmp_path)  # (in the environment of each process it starts)
    argv = [
        "env", *shlex.split(path_env), marker,
        f"XDG_CONFIG_HOME={tmp_path / 'config'}", f"XDG_STATE_HOME={tmp_path / 'state'}",
        f"JACK_DEFAULT_SERVER={private_jack.name}", "TERM=xterm-256color", "COLORTERM=",
        script, "--silent",
    ]  # fmt: skip
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = bytearray()
    hang_up = threading.Event()

    def drain() -> None:  # (sshd reads what the UI draws; a read in progress would keep
        with contextlib.suppress(OSError):  # the master open after close: it polls)
            while not hang_up.is_set():
                if select.select([master], [], [], 0.05)[0]:
                    seen.extend(os.read(master, 65536))

    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # (its controlling terminal)
    )  # fmt: skip
    os.close(slave)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        wait_for(lambda: b"TRAVERSE" in seen and b"BANDS" in seen, 40, "the UI")
        wait_for(virtual_port_up, 20, "the MIDI process")
        pids = procs_with_env(mine)
        assert len(pids) >= 3, "the UI, the engine and the MIDI process should run"
        proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T", 10, "the UI to stop")
        hang_up.set()
        reader.join(5)
        os.close(master)  # the connection drops
        master = -1
        try:
            wait_for(lambda: not procs_with_env(mine), 20, "every process to stop")
        except AssertionError:
            raise AssertionError(
                f"still running 20 s after the hang-up:\n"
                f"{describe(procs_with_env(mine))}\n{_ui_log(tmp_path, proc.pid)}"
            ) from None
        assert proc.wait(5) == 0
    finally:
        hang_up.set()
        reader.join(5)
        if master >= 0:
            os.close(master)
        for pid in procs_with_env(mine):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
