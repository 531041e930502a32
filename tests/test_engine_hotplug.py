"""Hot-plug: the audio server is absent at start and comes up later, or vanishes mid-stream
and comes back; the engine follows, keeping the controls.

Each test runs its own, privately named JACK dummy server (JACK_DEFAULT_SERVER), so
starting and killing it does not disturb the server the other tests share. Engines are
stopped before their server (PortAudio aborts a process whose JACK server vanished under
it when it shuts down).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import package_env
from harness import jack
from test_engine import _children, _Lines

from floweq_tui.engine import Engine, EngineConfig

pytestmark = [
    pytest.mark.jack,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd is not installed"),
]
SILENT = "no audio device: silent clock"


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _server_name(what: str) -> str:
    name = f"floweq-{what}-{os.getpid()}"
    assert not jack.running(name)
    return name


def _start_server(name: str, log) -> subprocess.Popen[bytes]:
    server = jack.start_dummy(48000, 128, log, name=name)
    if server is None:
        pytest.skip(f"cannot start a private JACK dummy server here (see {log})")
    return server


def test_server_unplugged_and_replugged_is_picked_up_again(monkeypatch, tmp_path):
    name = _server_name("hotplug")
    server = _start_server(name, tmp_path / "jackd.log")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    engine = Engine(EngineConfig(), mode=2, p0=6.0)
    try:
        engine.start()
        assert engine.status.state == "running" and engine.status.device == "system"
        jack.stop(server)  # unplug
        t0 = time.monotonic()
        assert wait_for(lambda: engine.state == SILENT, 20)
        print(f"on the silent clock {time.monotonic() - t0:.2f} s after jackd stopped")
        before = engine.meters["callbacks"]
        assert wait_for(lambda: engine.meters["callbacks"] > before + 50, 5)  # meters still move
        assert engine.get("p0") == 6.0  # the controls survived the hand-over
        pid = engine.pid
        server = _start_server(name, tmp_path / "jackd2.log")
        t0 = time.monotonic()
        assert wait_for(lambda: engine.state == "running", 30)  # plugged back in
        print(f"back on JACK {time.monotonic() - t0:.2f} s after jackd answered")
        assert engine.restarts >= 1 and engine.pid == pid  # reopened in place
        count = engine.meters["callbacks"]
        assert wait_for(lambda: engine.meters["callbacks"] > count + 100, 5)
    finally:
        engine.stop()
        jack.stop(server)


def test_server_absent_at_start_is_opened_when_it_comes_up(monkeypatch, tmp_path):
    """The default device: no JACK server when the engine starts (a box booting), then
    jackd starts: the same engine process rescans and plays on it, the UI says so (a notice,
    the status line), the controls are kept."""
    pytest.importorskip("textual")
    from pilot_helpers import record_notices, until

    from floweq_tui.tui.app import FloweqApp

    name = _server_name("absent")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    engine = Engine(EngineConfig(), mode=2, p0=6.0)
    servers: list[subprocess.Popen[bytes]] = []
    notes: list[str] = []
    try:
        engine.start()
        assert engine.state == SILENT and "no audio devices found" in engine.status.message
        pid = engine.pid
        app = FloweqApp(engine)
        notes = record_notices(app)

        async def run() -> None:
            async with app.run_test(size=(120, 30)) as pilot:
                status = lambda: app.screen.query_one("#status").plain  # noqa: E731
                await until(pilot, lambda: "silent clock" in status(), 10, "the status line")
                servers.append(await asyncio.to_thread(_start_server, name, tmp_path / "j.log"))
                t0 = time.monotonic()
                await until(pilot, lambda: engine.state == "running", 20, "the engine on JACK")
                print(f"on JACK {time.monotonic() - t0:.2f} s after jackd answered")
                said = "audio on system (JACK Audio Connection Kit)"
                await until(pilot, lambda: said in notes, 10, "the notice")
                await until(pilot, lambda: "running" in status() and "system" in status(), 10)

        asyncio.run(run())
        st = engine.status
        assert st.device == "system" and "JACK" in st.hostapi and st.message == ""
        h = engine.health["engine"]
        assert engine.pid == pid and h.restarts == 0 and h.crashes == 0  # no new process
        assert engine.get("p0") == 6.0 and engine.meters["p0"] == 6.0
        count = engine.meters["callbacks"]
        assert wait_for(lambda: engine.meters["callbacks"] > count + 100, 5)
    finally:
        engine.stop()
        for server in servers:
            jack.stop(server)


def test_headless_named_device_absent_at_start_comes_up_and_says_so(tmp_path):
    """``-d system`` with no JACK server yet: headless says silent clock, then the line for
    the device once jackd runs; the latent point set on the command line is in effect."""
    name = _server_name("absent-d")
    env = package_env(
        JACK_DEFAULT_SERVER=name,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    cmd = [sys.executable, "-m", "floweq_tui", "--headless", "--no-midi", "-d", "system"]
    proc = subprocess.Popen(
        [*cmd, "-x", "0.5", "-y", "-0.25", "--status-every", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out = _Lines(proc)
    server = None
    try:
        assert SILENT in out.until("floweq-tui: ")
        out.until("LUFS")
        engines = _children(proc.pid)
        server = _start_server(name, tmp_path / "jackd.log")
        t0 = time.monotonic()
        line = out.until("floweq-tui: running on system (JACK")
        print(f"headless: {line!r} {time.monotonic() - t0:.2f} s after jackd answered")
        line = out.until("LUFS")
        while "running" not in line:
            line = out.until("LUFS")
        assert "z (+0.50, -0.25" in line  # the controls in effect on the device
        assert _children(proc.pid) == engines  # the same engine process
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15.0) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        jack.stop(server)
    assert not any("restart" in s for s in out.seen), out.seen
