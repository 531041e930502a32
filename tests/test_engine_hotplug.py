"""Hot-plug: the audio server vanishes mid-stream and comes back; the engine follows.

Runs its own, privately named JACK dummy server (JACK_DEFAULT_SERVER), so killing it
does not disturb the server the other tests share.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from harness import jack

from floweq_tui.engine import Engine, EngineConfig

pytestmark = [pytest.mark.jack, pytest.mark.slow]
NAME = f"floweq-hotplug-{os.getpid()}"


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd is not installed")
def test_server_unplugged_and_replugged_is_picked_up_again(monkeypatch, tmp_path):
    server = jack.start_dummy(48000, 128, tmp_path / "jackd.log", name=NAME)
    if server is None:
        pytest.skip("cannot start a private JACK dummy server here")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", NAME)
    engine = Engine(EngineConfig(reopen_seconds=0.5), mode=2, p0=6.0)
    try:
        engine.start()
        assert engine.status.state == "running" and engine.status.device == "system"
        jack.stop(server)  # unplug
        assert wait_for(lambda: engine.state == "no audio device: silent clock", 20)
        before = engine.meters["callbacks"]
        assert wait_for(lambda: engine.meters["callbacks"] > before + 50, 5)  # meters still move
        assert engine.get("p0") == 6.0  # the controls survived the hand-over
        server = jack.start_dummy(48000, 128, tmp_path / "jackd2.log", name=NAME)
        assert server is not None
        assert wait_for(lambda: engine.state == "running", 30)  # plugged back in
        assert engine.restarts >= 1
        count = engine.meters["callbacks"]
        assert wait_for(lambda: engine.meters["callbacks"] > count + 100, 5)
    finally:
        engine.stop()
        jack.stop(server)
