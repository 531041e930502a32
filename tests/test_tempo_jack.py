"""Tempo over real JACK MIDI on a private dummy server: a MIDI clock from another process
(a native sender stamping the wire at frame offsets, with +-1 ms jitter) followed into the
tempo slots; MIDI clock out received by another process."""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import pytest
from harness import jack, tempo_rig
from test_midi_jack import wait_for

from floweq_tui.tempo.clock_in import PPQN
from floweq_tui.tempo.slots import MIDI_CLOCK

pytestmark = pytest.mark.jack
BLOCK = 128 / 48000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("jackd") / "jackd.log"
    try:
        with jack.private_server(48000, 128, log, name=f"fq_tempo_{os.getpid()}") as srv:
            yield srv
    except jack.ServerError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def clock_tool(tmp_path_factory):
    tool = tempo_rig.build_clock_tool(tmp_path_factory.mktemp("clock"))
    if tool is None:
        pytest.skip("no C compiler to build the clock sender (cc/gcc is not installed)")
    return tool


@pytest.fixture
def rig(server, tmp_path):  # noqa: ARG001
    r = tempo_rig.ServiceThread({"midi_clock_out": True}, tmp_path / "midi.toml")
    yield r
    r.close()


def test_midi_clock_from_another_process_sets_tempo_and_phase(rig, clock_tool):
    """120 BPM, +-1 ms jitter, 12 beats: the tempo within 0.2 BPM, and the beat the engine
    would compute at each block start within one block of the sender's beat (p99), from
    the second beat on; Stop holds the transport. (The sender's schedule is in
    CLOCK_MONOTONIC and JACK's clock is not: this also checks our stamps' conversion.)"""
    bpm = 120.0
    sender = subprocess.Popen(
        [clock_tool, "send", "fq-clock", rig.virtual_port, str(bpm), "12", "1.0", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        t0 = float(sender.stdout.readline().split()[1])
        samples = tempo_rig.sample(rig.slots, 6.6)
        out, err = sender.communicate(10)
    finally:
        if sender.poll() is None:
            sender.kill()
    assert sender.returncode == 0, err
    blocks, beats = tempo_rig.block_beats(samples, t0 + 1.0, t0 + 5.9, BLOCK)
    true = (blocks - t0) * bpm / 60
    err_blocks = np.abs(beats - true) * 60 / bpm / BLOCK
    p99 = float(np.percentile(err_blocks, 99))
    assert p99 < 1.0, p99
    running = [st for t, st in samples if t0 + 1.0 < t < t0 + 5.9]
    assert all(st.source == MIDI_CLOCK and st.transport for st in running)
    assert max(abs(st.bpm - bpm) for st in running) < 0.2
    wait_for(lambda: not rig.slots.read().transport, 5, "Stop")
    assert rig.slots.read().beat_origin == pytest.approx(12.0)
    print(f"clock in: p99 {p99:.3f} blocks, max {err_blocks.max():.3f}")


def test_midi_clock_out_reaches_another_process_on_the_beat(rig, clock_tool):
    """A restart sends Start; then 24 ticks a beat at the tempo, each (but the first, sent
    at the next look) within 0.2 ms of the beat grid (stamped by the receiver from its frame
    offsets); Stop on stop."""
    recv = subprocess.Popen(
        [clock_tool, "recv", "fq-clock-rx", rig.clock_port(), "2.0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert recv.stdout.readline().strip() == "ready"
        rig.service.tempo.set_bpm(100.0)
        rig.service.tempo.transport(True, restart=True)
        anchor = rig.slots.read()
        time.sleep(1.2)  # (the receiver records for 2 s whatever happens)
        rig.service.tempo.transport(False)
        out, err = recv.communicate(10)
    finally:
        if recv.poll() is None:
            recv.kill()
    assert recv.returncode == 0, err
    got = [(float(t), int(s)) for t, s in (line.split() for line in out.splitlines())]
    statuses = [s for _, s in got]
    assert 0xFA in statuses and 0xFC in statuses, statuses[:10]
    start = statuses.index(0xFA)
    ticks = np.array([t for t, s in got[start:] if s == 0xF8])
    ticks = ticks[ticks < got[statuses.index(0xFC)][0]]
    period = 60 / (100.0 * PPQN)
    assert len(ticks) >= 40
    grid = anchor.beat_time + np.arange(len(ticks)) * period
    # Start and tick 0 go out at the service's next look (every 10 ms), then every tick is
    # on the beat grid of the restart
    assert 0 <= ticks[0] - anchor.beat_time < 0.015 + BLOCK
    assert np.max(np.abs(ticks[1:] - grid[1:])) < 0.0002, np.abs(ticks[1:] - grid[1:]).max()
