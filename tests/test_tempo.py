"""Tempo, pure: tap tempo, the slots' anchor, MIDI clock in (jitter), MIDI clock out."""

from __future__ import annotations

import numpy as np
import pytest

from floweq_tui.tempo.clock_in import (
    CLOCK,
    CONTINUE,
    PPQN,
    SONG_POSITION,
    START,
    STOP,
    MidiClockFollower,
)
from floweq_tui.tempo.clock_out import ClockOut
from floweq_tui.tempo.service import TempoError, TempoService
from floweq_tui.tempo.slots import INTERNAL, MIDI_CLOCK, SLOT_NAMES, TempoSlots, TempoState
from floweq_tui.tempo.tap import TapTempo, tap_bpm

INDEX = {n: 3 + i for i, n in enumerate(SLOT_NAMES)}
"""A layout with the five slots (the controls block's own is used when it has them)."""


def block() -> np.ndarray:
    return np.zeros(3 + len(SLOT_NAMES))


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ----------------------------------------------------------------- tap tempo


def test_tap_bpm_from_steady_taps():
    taps = [10 + 0.5 * i for i in range(6)]
    assert tap_bpm(taps) == pytest.approx(120.0)
    assert tap_bpm(taps[:1]) is None and tap_bpm([]) is None


def test_tap_bpm_survives_a_missed_tap_and_a_late_one():
    taps = [0.0, 0.5, 1.0, 2.0, 2.5, 3.0]  # the tap at 1.5 was missed
    assert tap_bpm(taps) == pytest.approx(120.0)
    taps = [0.0, 0.5, 1.03, 1.5, 2.0, 2.5]  # one 30 ms late
    assert tap_bpm(taps) == pytest.approx(120.0, abs=1.0)
    assert tap_bpm([0.0, 0.6, 1.2, 1.2 + 5 * 0.6]) == pytest.approx(100.0)  # a stray gap


def test_tap_tempo_starts_again_after_a_pause():
    tap = TapTempo()
    for t in (0.0, 0.5, 1.0):
        bpm = tap.tap(t)
    assert bpm == pytest.approx(120.0)
    assert tap.tap(10.0) is None  # a new count
    assert tap.tap(10.4) == pytest.approx(150.0)


def test_taps_write_the_tempo_and_land_the_last_tap_on_a_beat():
    clock = Clock(100.0)
    ctl = block()
    svc = TempoService(ctl, {}, clock, INDEX)
    assert svc.slots.read() == TempoState(120.0, 0.0, 100.0, True, INTERNAL)
    for t in (101.1, 101.6, 102.1, 102.6):
        svc.tap(t)
    st = svc.slots.read()
    assert st.bpm == pytest.approx(120.0)
    assert st.beat(102.6) == pytest.approx(round(st.beat(102.6)))  # the tap is on a beat
    assert ctl[INDEX["bpm"]] == pytest.approx(120.0)


def test_a_tempo_change_keeps_the_beat_continuous():
    clock = Clock(50.0)
    svc = TempoService(block(), {}, clock, INDEX)
    before = svc.slots.read().beat(53.0)
    svc.set_bpm(90.0, t=53.0)
    st = svc.slots.read()
    assert st.bpm == 90.0 and st.beat(53.0) == pytest.approx(before)
    assert st.beat(55.0) - st.beat(53.0) == pytest.approx(3.0)  # 2 s at 90 BPM
    svc.set_bpm(1000.0, t=53.0)
    assert svc.slots.read().bpm == 300.0  # the slot's range
    with pytest.raises(TempoError):
        svc.set_bpm(float("nan"))


def test_slots_missing_from_a_layout_are_kept_aside():
    ctl = np.zeros(2)
    slots = TempoSlots(ctl, {"bpm": 0})
    slots.write(TempoState(140.0, 3.0, 7.0, False, MIDI_CLOCK))
    assert ctl[0] == 140.0 and not slots.shared
    assert slots.read() == TempoState(140.0, 3.0, 7.0, False, MIDI_CLOCK)


def test_internal_transport_start_and_stop():
    clock = Clock(10.0)
    svc = TempoService(block(), {}, clock, INDEX)
    clock.t = 12.0
    svc.transport(False)
    st = svc.slots.read()
    assert not st.transport and st.beat(20.0) == pytest.approx(4.0)  # held while stopped
    clock.t = 13.0
    svc.transport(True, restart=True)
    assert svc.slots.read().beat(13.5) == pytest.approx(1.0)


# ----------------------------------------------------------------- MIDI clock in


def clock_times(bpm, ticks, t0=0.0, jitter=0.0, seed=1):
    rng = np.random.default_rng(seed)
    period = 60.0 / (bpm * PPQN)
    return t0 + np.arange(ticks) * period + rng.uniform(-jitter, jitter, ticks)


def test_start_resets_the_phase_and_ticks_count_24_a_beat():
    f = MidiClockFollower()
    st = f.feed(5.0, START)
    assert st is not None and st.beat_origin == 0.0 and st.beat_time == 5.0 and st.transport
    times = clock_times(120.0, 49, t0=5.0)
    for t in times:
        st = f.feed(float(t), CLOCK)
    assert st.source == MIDI_CLOCK and st.bpm == pytest.approx(120.0)
    assert st.beat(float(times[-1])) == pytest.approx(2.0)  # tick 48 is beat 2
    assert st.beat(5.0) == pytest.approx(0.0)


def test_clock_jitter_is_rejected():
    """+-1 ms of uniform jitter on a 120 BPM clock: the tempo within 0.1 BPM and the beat
    within 0.5 ms of the sender's schedule (a raw tick is off by up to 1 ms)."""
    bpm, t0 = 120.0, 1.0
    times = clock_times(bpm, 24 * 40, t0=t0, jitter=0.001)
    f = MidiClockFollower()
    f.feed(t0, START)
    bpm_err, phase_err = [], []
    for i, t in enumerate(times):
        st = f.feed(float(t), CLOCK)
        if i >= 96:
            true_t = t0 + i * 60.0 / (bpm * PPQN)
            bpm_err.append(abs(st.bpm - bpm))
            phase_err.append(abs(st.beat(true_t) - i / PPQN) * 60.0 / bpm)
    assert max(bpm_err) < 0.1, max(bpm_err)
    assert np.percentile(phase_err, 99) < 0.0005, np.percentile(phase_err, 99)


def test_a_tempo_change_is_followed_within_a_few_ticks():
    f = MidiClockFollower()
    f.feed(0.0, START)
    times = list(clock_times(120.0, 96))
    period = 60.0 / (90.0 * PPQN)
    times += [times[-1] + period * (i + 1) for i in range(12)]
    for t in times:
        st = f.feed(t, CLOCK)
    assert st.bpm == pytest.approx(90.0, abs=0.5)


def test_stop_continue_and_song_position():
    f = MidiClockFollower()
    f.feed(0.0, START)
    times = clock_times(120.0, 24)
    for t in times:
        f.feed(float(t), CLOCK)
    st = f.feed(0.6, STOP)
    assert not st.transport and st.beat(9.0) == 1.0  # 24 ticks: held at beat 1
    st = f.feed(0.7, CLOCK)  # the clock goes on while stopped: the position does not
    assert f.position == 24
    st = f.feed(0.8, SONG_POSITION, 32, 0)  # sixteenth 32 = beat 8
    assert st.beat_origin == 8.0 and not st.transport
    st = f.feed(1.0, CONTINUE)
    assert st.transport and st.beat_origin == 8.0
    st = f.feed(1.0, CLOCK)
    assert st.beat_origin == 8.0 and f.position == 8 * PPQN + 1


def test_the_service_follows_a_clock_and_falls_back_when_it_goes():
    clock = Clock(0.0)
    svc = TempoService(block(), {}, clock, INDEX)
    svc.feed(1.0, START)
    for t in clock_times(100.0, 48, t0=1.0):
        svc.feed(float(t), CLOCK)
    st = svc.slots.read()
    assert st.source == MIDI_CLOCK and st.bpm == pytest.approx(100.0)
    clock.t = 4.0  # the clock stopped arriving
    svc.poll(clock.t)
    after = svc.slots.read()
    assert after.source == INTERNAL and after.bpm == pytest.approx(100.0)
    assert after.beat(4.0) == pytest.approx(st.beat(4.0))  # the beat carries on
    internal = TempoService(block(), {"tempo_source": "internal"}, clock, INDEX)
    internal.feed(5.0, START)
    assert internal.slots.read().source == INTERNAL


# ----------------------------------------------------------------- MIDI clock out


def test_clock_out_ticks_fall_on_the_beat_grid():
    state = TempoState(120.0, 0.0, 10.0, True, INTERNAL)
    out = ClockOut()
    sent: list[tuple[float, list[int]]] = []
    now = 10.0
    while now < 12.0:
        sent += out.due(state, now)
        now += 0.01
    assert sent[0] == (10.0, [START])
    ticks = [t for t, m in sent if m == [CLOCK]]
    assert np.allclose(np.diff(ticks), 60.0 / (120 * PPQN))
    assert ticks[0] == 10.0 and len(ticks) == len(set(ticks))
    sent = out.due(TempoState(120.0, 4.0, 12.0, False, INTERNAL), 12.0)
    assert sent[0] == (12.0, [STOP])


def test_clock_out_continues_from_a_song_position_without_a_burst():
    out = ClockOut()
    out.due(TempoState(120.0, 0.0, 0.0, False, INTERNAL), 0.0)
    state = TempoState(120.0, 2.1, 1.0, True, INTERNAL)
    sent = out.due(state, 1.0)
    assert not [m for t, m in sent if m == [CLOCK]]  # none before beat 2.25 (1.075 s)
    sent += out.due(state, 1.06)
    assert sent[0] == (1.0, [SONG_POSITION, 9, 0])  # the next sixteenth: 9 (beat 2.25)
    assert sent[1] == (1.0, [CONTINUE])
    ticks = [t for t, m in sent if m == [CLOCK]]
    assert ticks and ticks[0] == pytest.approx(1.0 + 0.15 * 0.5)  # beat 2.25, ahead


def test_lost_ticks_keep_the_song_position():
    f = MidiClockFollower()
    f.feed(0.0, START)
    times = list(clock_times(120.0, 97, jitter=0.0005))
    del times[50], times[70]  # two ticks lost on the way
    for t in times:
        st = f.feed(t, CLOCK)
    assert f.missed == 2 and st.beat_origin == pytest.approx(96 / PPQN)
