"""Tempo sync over real JACK MIDI ports on a private dummy server, end to end through the Engine.

The MIDI clock comes from another process (``harness/clocksend.c``: a C JACK client that
writes its Clocks at exact frames and says when each beat went out) into the engine's
virtual input; the engine's beat (meters) must follow it. MIDI clock out is read by a JACK
client of this process; Link by an ``aalink`` peer of this process.

The checks are behaviour, not precision (the strict figure is benchmarks/tempo_sync.py):
the tempo locks within a few BPM of the clock's own (a dummy server under load runs its
frames a little slow against CLOCK_MONOTONIC), the beat within a tenth of a beat, each
waited for with a generous timeout.
"""

from __future__ import annotations

import time

import pytest
from harness import jack as jackserver
from harness.clock import ClockSender

from floweq_tui.engine import Engine, EngineConfig

pytestmark = pytest.mark.jack

TOL_BEAT = 0.1
"""The beat's allowed error in these checks (50 ms at 120 BPM; measured: well under 1 ms)."""


def wait_for(pred, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


RESEND_AFTER = 1.0
"""Seconds after which a transport message that has not taken is sent again, if jackd
logged a late cycle of the sender or of our MIDI client meanwhile (it takes milliseconds)."""


LOSERS = ("fq-clock", "floweq-tui")
"""The clients whose late cycle loses a transport message: the sender, our MIDI client."""


def tell(server, eng: Engine, sender: ClockSender, command: str, took, what: str) -> None:
    """Send ``command`` and wait until ``took()`` holds.

    JACK drops the MIDI events of a cycle in which their writer or reader was late (the
    machine's doing on this VM: see docs/performance.md), and a lost Start or Stop is lost
    for good. So when ``command`` has not taken after RESEND_AFTER and jackd logged such a
    late cycle since it was sent, it is sent again (at most 3 times); with no late cycle
    the wait is the plain 15 s, and a timeout names the late cycles and the tempo status.
    """
    for attempt in range(4):
        offset = jackserver.log_size(server.log)
        if command == "start":
            sender.beats.clear()  # (the sender counts from beat 0 again)
        sender.send(command)
        sent = time.monotonic()
        late: list[str] = []
        while True:
            if took():
                return
            now = time.monotonic()
            lines = jackserver.xrun_lines(server.log, offset)
            late = [ln for ln in lines if any(jackserver.is_late(ln, c) for c in LOSERS)]
            if late and attempt < 3 and now - sent > RESEND_AFTER:
                break  # lost in a late cycle: again
            if now - sent > 15.0:
                status = eng.midi_command("tempo")
                raise AssertionError(f"timed out waiting for {what}: {status}; late: {late}")
            time.sleep(0.02)


def engine_beat(eng: Engine) -> tuple[float, float, float]:
    """(beat, the monotonic time it was computed at (the block's start), bpm_now)."""
    m = eng.meters.snapshot()
    return m["beat"], m["heartbeat"] - m["callback_us"] * 1e-6, m["bpm_now"]


def reference_beat(beats: dict[int, float], t: float) -> float | None:
    """The sender's beat at monotonic ``t``: between two beats it sent, interpolated; after
    the last one (usually: the engine's newest block is at least as new), extrapolated with
    the last beat's length, up to one beat on."""
    ks = sorted(beats)
    for a, b in zip(ks, ks[1:], strict=False):
        if beats[a] <= t <= beats[b] and b == a + 1:
            return a + (t - beats[a]) / (beats[b] - beats[a])
    if len(ks) >= 2 and ks[-1] == ks[-2] + 1:
        last, length = ks[-1], beats[ks[-1]] - beats[ks[-2]]
        if 0 <= t - beats[last] <= length:
            return last + (t - beats[last]) / length
    return None


def phase_error(eng: Engine, sender: ClockSender, offset: float = 0.0) -> float | None:
    beat, t, _ = engine_beat(eng)
    ref = reference_beat(sender.beats, t)
    return None if ref is None else beat - (ref + offset)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    try:
        with jackserver.private_server(48000, 128, log, name=f"fq_tempo_{id(log)}") as srv:
            yield srv
    except jackserver.ServerError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def rig(server, tmp_path_factory):  # noqa: ARG001
    path = tmp_path_factory.mktemp("midi") / "midi.toml"
    cfg = EngineConfig(
        samplerate=48000, blocksize=128, midi=True, midi_api="jack", midi_in="none",
        midi_config=str(path), midi_clock_out=True,
    )  # fmt: skip
    eng = Engine(cfg, tempo_source=1.0)
    eng.start()
    try:
        st = wait_for(
            lambda: (s := eng.midi.status()).virtual.port and s, 20, "the virtual MIDI port"
        )  # fmt: skip
        sender = ClockSender("fq-clock", 120.0, st.virtual.port)
        try:
            yield eng, sender
        finally:
            sender.close()
    finally:
        eng.stop()


def test_clock_in_locks_tempo_and_beat(rig, server):
    eng, sender = rig
    tell(server, eng, sender, "start", lambda: eng.controls["transport"] == 1.0, "the start")
    sender.wait_beat(0)
    wait_for(lambda: abs(engine_beat(eng)[2] - 120.0) < 6.0, what="the tempo near 120 BPM")
    sender.wait_beat(6)  # (the follower's window filled)
    wait_for(
        lambda: (e := phase_error(eng, sender)) is not None and abs(e) < TOL_BEAT,
        what="the engine's beat on the clock's beat",
    )  # fmt: skip
    tempo = eng.midi_command("tempo")
    assert tempo["clock_running"] and tempo["clock_in"] > 100


def test_start_resets_the_phase(rig, server):
    eng, sender = rig
    wait_for(lambda: engine_beat(eng)[0] > 4.0, what="a few beats into the song")
    tell(server, eng, sender, "stop", lambda: eng.controls["transport"] == 0.0, "the stop")
    tell(server, eng, sender, "start", lambda: eng.controls["transport"] == 1.0, "the start")
    sender.wait_beat(1)
    wait_for(lambda: 0.0 <= engine_beat(eng)[0] < 3.0, what="the beat back at the start")
    wait_for(
        lambda: (e := phase_error(eng, sender)) is not None and abs(e) < TOL_BEAT,
        what="the beat on the restarted clock",
    )  # fmt: skip


def test_stop_holds_and_song_position_moves_it(rig, server):
    eng, sender = rig
    tell(server, eng, sender, "start", lambda: eng.controls["transport"] == 1.0, "the start")
    sender.wait_beat(2)
    tell(server, eng, sender, "stop", lambda: eng.controls["transport"] == 0.0, "the stop")
    held = wait_for(lambda: (b := engine_beat(eng)[0]) and b, what="a beat")
    # held: the beat stays where it is, block after block, for half a second
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        assert engine_beat(eng)[0] == pytest.approx(held, abs=1e-9)
        time.sleep(0.02)
    at_16 = lambda: eng.controls["beat_origin"] == 16.0  # noqa: E731
    tell(server, eng, sender, "spp 64", at_16, "the song position")  # 64 16ths: beat 16
    tell(server, eng, sender, "continue", lambda: eng.controls["transport"] == 1.0, "Continue")
    wait_for(lambda: 16.0 <= engine_beat(eng)[0] < 19.0, what="the beat running on from 16")
    sender.beats.clear()
    sender.wait_beat(18)  # (the sender counts on from the position too)
    wait_for(
        lambda: (e := phase_error(eng, sender)) is not None and abs(e) < TOL_BEAT,
        what="the beat on the clock after Continue",
    )  # fmt: skip


def test_clock_out_follows_the_tempo_in_effect(rig, server):
    from harness.jackctl import ClockReceiver

    eng, sender = rig
    out = eng.midi.status().virtual.output
    rx = ClockReceiver(out)  # (another process, as other gear would be)
    try:
        # the followed clock stops: so does the clock out
        tell(server, eng, sender, "stop", lambda: eng.controls["transport"] == 0.0, "the stop")
        wait_for(lambda: any(s == 0xFC for _, s, _ in rx.read_clock()), 10, "Stop")
        eng.controls["tempo_source"] = 0.0  # internal: the clock out leads at 100 BPM
        eng.controls["bpm"] = 100.0
        eng.controls["transport"] = 1.0
        ticks: list[float] = []
        statuses: set[int] = set()

        def enough() -> bool:
            for t, status, _ in rx.read_clock():
                statuses.add(status)
                if status == 0xF8:
                    ticks.append(t)
            if len(ticks) < 97:
                return False
            span = ticks[-1] - ticks[-97]  # four beats
            return abs(60.0 * 4 / span - 100.0) < 5.0

        wait_for(enough, 20, "clock out at 100 BPM")
        assert statuses & {0xFA, 0xFB}  # Start (or Song Position + Continue) before the Clocks
        eng.controls["transport"] = 0.0
        wait_for(lambda: any(s == 0xFC for _, s, _ in rx.read_clock()), 10, "Stop")
        assert eng.midi_command("tempo")["clock_ticks_sent"] > 0
    finally:
        rx.close()
        eng.controls["tempo_source"] = 1.0
        eng.controls["transport"] = 1.0
