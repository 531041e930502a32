"""Ableton Link as the tempo source (the optional ``aalink`` extra; scripts/test.sh installs
it, so under CI a missing aalink fails): a peer in this process and the MIDI process's peer
find each other over loopback, the engine takes the session's tempo and its beat phase, and
a tempo set here is proposed to the session."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest

from floweq_tui.engine import Engine, EngineConfig

aalink = pytest.importorskip("aalink", reason="aalink is not installed (the 'link' extra)")

QUANTUM = 4.0


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def peer():
    loop = asyncio.new_event_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        link = aalink.Link(133.0, loop)
    link.quantum = QUANTUM
    link.enabled = True
    try:
        yield link
    finally:
        link.enabled = False
        loop.close()


def phase_gap(engine_beat: float, peer_beat: float) -> float:
    """The beats between two Link timelines, modulo the quantum (Link aligns phase only)."""
    d = (engine_beat - peer_beat) % QUANTUM
    return min(d, QUANTUM - d)


def test_link_peers_meet_and_the_engine_follows(peer, tmp_path):
    cfg = EngineConfig(
        silent=True,
        midi=True,
        midi_api="alsa",
        midi_in="none",
        midi_config=str(tmp_path / "m.toml"),
    )  # fmt: skip  (ALSA: nobody's JACK server is touched; Link needs no MIDI port)
    eng = Engine(cfg, tempo_source=2.0, bpm=120.0)
    eng.start()
    try:
        wait_for(lambda: peer.num_peers >= 1, what="the engine's Link peer")
        peer.tempo = 133.0  # the session's tempo, set by the other peer
        wait_for(lambda: abs(eng.meters["bpm_now"] - 133.0) < 0.01, what="the session tempo")

        def in_phase() -> bool:
            m = eng.meters.snapshot()
            t = m["heartbeat"] - m["callback_us"] * 1e-6  # the block's start
            now = time.monotonic()
            peer_beat = float(peer.beat) - (now - t) * 133.0 / 60.0  # the peer's beat at t
            return phase_gap(m["beat"], peer_beat) < 0.1

        wait_for(in_phase, what="the engine's beat in phase with the peer's")
        eng.controls["bpm"] = 97.0  # a tempo set here: proposed to the session
        wait_for(lambda: abs(float(peer.tempo) - 97.0) < 0.01, what="the peer taking our tempo")
        status = eng.midi_command("tempo")
        assert status["link_peers"] >= 1 and not status["link_error"]
    finally:
        eng.stop()
