"""The MIDI process killed (kill -9): the engine's supervisor starts it again, headless and
the UI say so, its virtual JACK port is back and a knob moves a control again. On a private
JACK server, so killing and restarting clients disturbs no one."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import package_env
from harness.jackctl import SEND_SCRIPT as SEND  # CC 16 (x): 63, 64, 127
from harness.procout import Lines

pytestmark = [pytest.mark.jack, pytest.mark.slow]

RECOVERY_S = 15.0
"""Failure deadline for the port to be back and a knob to answer (measured: about 1 s)."""


def virtual_port() -> str | None:
    """Our virtual MIDI input in `jack_lsp` (floweq-tui:floweq-tui, or -01 while the killed
    client's name is still held), or None."""
    done = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10)
    ports = re.findall(r"^floweq-tui(?:-\d+)?:floweq-tui$", done.stdout, re.M)
    return ports[0] if ports else None


def midi_pid(log: Path) -> int:
    """The pid of the latest MIDI process, from the line its start writes to its log."""
    starts = re.findall(r"^==== the MIDI process: pid (\d+) started", log.read_text(), re.M)
    return int(starts[-1])


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def test_headless_midi_killed_restarted_and_said(tmp_path, private_jack, capsys) -> None:  # noqa: ARG001
    cfg, state = tmp_path / "cfg", tmp_path / "state"
    env = package_env(XDG_CONFIG_HOME=str(cfg), XDG_STATE_HOME=str(state))
    proc = subprocess.Popen(
        [sys.executable, "-m", "floweq_tui", "--headless", "--silent", "--status-every", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out = Lines(proc)
    try:
        at, line = out.wait("floweq-tui: MIDI (jack)")
        assert "virtual input floweq-tui:floweq-tui" in line, line
        log = state / "floweq-tui" / "logs" / "midi.log"
        old = midi_pid(log)
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        _, said = out.wait("midi: the MIDI process exited (code -9)", at)
        assert "restart" in said, said
        port = wait_for(virtual_port, RECOVERY_S, "the virtual port back in jack_lsp")
        t_port = time.monotonic() - t0
        new = midi_pid(log)
        assert new != old
        subprocess.run(
            [sys.executable, "-c", SEND, port, "B0,10,3F", "B0,10,40", "B0,10,7F"],
            check=True,
            timeout=30,
            env=env,
        )
        _, status = out.wait("z (+2.00, +0.00", at)  # the knob moved x
        t_knob = time.monotonic() - t0
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    saved = json.loads((cfg / "floweq-tui" / "session.json").read_text())["controls"]
    assert saved["x"] == 2.0
    with capsys.disabled():
        print(
            f"\nMIDI kill -9: {said!r}; virtual port {port} back after {t_port:.2f} s, "
            f"a knob moved x after {t_knob:.2f} s (incl. the sender's start)"
        )


def test_ui_says_midi_was_killed_and_restarted(tmp_path, private_jack) -> None:  # noqa: ARG001
    """Pilot on the real Engine with its MIDI process: kill -9 it; the app says it went and
    that it is back, and the status line shows the virtual port again."""
    pytest.importorskip("textual")
    from pilot_helpers import record_notices, until

    from floweq_tui.engine import Engine, EngineConfig
    from floweq_tui.tui.app import FloweqApp

    cfg = EngineConfig(silent=True, midi=True, midi_config=str(tmp_path / "midi.toml"))
    eng = Engine(cfg)
    eng.start()
    notes: list[str] = []
    try:
        app = FloweqApp(eng)
        notes = record_notices(app)

        async def run() -> None:
            async with app.run_test(size=(200, 50)) as pilot:
                status = lambda: app.screen.query_one("#status").plain  # noqa: E731
                await until(pilot, lambda: "floweq-tui:floweq-tui" in status(), 20, "MIDI up")
                pid = eng.midi.pid
                os.kill(pid, signal.SIGKILL)
                await until(pilot, lambda: "MIDI restarted" in notes, RECOVERY_S, "restarted")
                assert "the MIDI process exited (code -9): restarting it" in notes, notes
                await until(
                    pilot,
                    lambda: eng.midi.pid != pid and virtual_port() is not None,
                    RECOVERY_S,
                    "the virtual port back",
                )
                await until(pilot, lambda: ":floweq-tui" in status(), 10, "status line")

        asyncio.run(run())
    finally:
        eng.stop()
