"""Tempo sources without ports: tap tempo, the MIDI clock follower, ALSA delta stamps, the
MIDI service's tempo handling (tap from a learned button, clock followed only when chosen),
and the command line's tempo flags. The real-port tests are in test_tempo_jack.py."""

from __future__ import annotations

import random

import numpy as np
import pytest

from floweq_tui.automation.tempo import (
    AFTER_SKIP,
    CLOCK,
    CONTINUE,
    SPP,
    START,
    STOP,
    BeatLine,
    ClockFollower,
    DeltaStamps,
    TapTempo,
)
from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX
from floweq_tui.midi.mapping import Binding, Event
from floweq_tui.midi.service import MidiService
from floweq_tui.midi.tempo import LINK, MIDI_CLOCK, TempoSync


def controls(**values: float) -> np.ndarray:
    c = CONTROL_DEFAULTS.copy()
    for k, v in values.items():
        c[CONTROL_INDEX[k]] = v
    return c


def get(c: np.ndarray, name: str) -> float:
    return float(c[CONTROL_INDEX[name]])


# ------------------------------------------------------------------ tap tempo


def test_taps_set_the_tempo_and_the_beat_anchor():
    tap = TapTempo()
    line = tap.tap(100.0, 120.0)
    assert line == BeatLine(120.0, 0.0, 100.0)  # the first tap: a downbeat, tempo kept
    for k in range(1, 5):
        line = tap.tap(100.0 + 0.6 * k, 120.0)
    assert line.bpm == pytest.approx(100.0)
    assert line.origin == 4.0 and line.time == pytest.approx(102.4)
    assert line.beat_at(103.0) == pytest.approx(5.0)


def test_a_pause_starts_a_new_tap_series():
    tap = TapTempo(reset_s=2.0)
    tap.tap(10.0, 120.0)
    tap.tap(10.5, 120.0)
    line = tap.tap(20.0, 90.0)  # long after: a new downbeat, the tempo in effect kept
    assert line == BeatLine(90.0, 0.0, 20.0)


def test_tap_tempo_is_clamped():
    tap = TapTempo()
    tap.tap(0.0, 120.0)
    assert tap.tap(0.05, 120.0).bpm == 300.0


# ------------------------------------------------------------------ MIDI clock follower


def feed_clock(f: ClockFollower, t0: float, bpm: float, ticks: int, jitter: float = 0.0,
               seed: int = 1) -> BeatLine | None:  # fmt: skip
    rng = random.Random(seed)
    line = None
    for k in range(ticks):
        t = t0 + k * 60.0 / (bpm * 24) + rng.uniform(-jitter, jitter)
        line = f.feed(t, CLOCK) or line
    return line


def test_clock_locks_to_the_tempo_despite_jitter():
    f = ClockFollower()
    assert f.feed(50.0, START) is None
    line = feed_clock(f, 50.0, 120.0, 24 * 8, jitter=0.002)  # +-2 ms on every Clock
    assert line is not None
    assert line.bpm == pytest.approx(120.0, abs=0.5)
    # the beat line follows the clock's beats: beat k at 50 + 0.5 k
    for k in (8, 9, 12):
        assert line.beat_at(50.0 + 0.5 * k) == pytest.approx(k, abs=0.02)


def test_clock_follows_a_tempo_change():
    f = ClockFollower()
    f.feed(0.0, START)
    feed_clock(f, 0.0, 120.0, 24 * 4)
    line = feed_clock(f, 2.0, 90.0, 24 * 6)
    assert line is not None and line.bpm == pytest.approx(90.0, abs=0.5)


def test_start_resets_the_phase_and_stop_holds():
    f = ClockFollower()
    f.feed(0.0, START)
    feed_clock(f, 0.0, 120.0, 24 * 4 + 12)  # four and a half beats
    held = f.feed(2.3, STOP)
    assert held is not None and not held.running
    assert held.beat_at(2.3) == pytest.approx(4.6, abs=0.01)  # (the last Clock, 107/24, + 0.07 s)
    assert held.beat_at(10.0) == held.beat_at(2.3)  # holds while stopped
    assert f.feed(2.4, CLOCK) is None  # clocks while stopped move nothing
    f.feed(5.0, START)
    line = f.feed(5.0, CLOCK)
    assert line is not None and line.origin == 0.0 and line.time == 5.0  # beat 0 again


def test_song_position_pointer_and_continue():
    f = ClockFollower()
    f.feed(0.0, START)
    feed_clock(f, 0.0, 120.0, 48)
    f.feed(1.0, STOP)
    line = f.feed(1.1, SPP, 64)  # 64 16ths: beat 16
    assert line is not None and line.origin == 16.0 and not line.running
    f.feed(2.0, CONTINUE)
    line = feed_clock(f, 2.0, 120.0, 24)
    assert line is not None and line.running
    assert line.beat_at(2.0) == pytest.approx(16.0, abs=0.01)
    assert line.beat_at(2.5) == pytest.approx(17.0, abs=0.01)


def test_song_position_is_ignored_while_running():
    f = ClockFollower()
    f.feed(0.0, START)
    feed_clock(f, 0.0, 120.0, 30)
    assert f.feed(0.7, SPP, 64) is None


def test_delta_stamps_take_the_earliest_reading():
    d = DeltaStamps()
    assert d.stamp(0.0, 10.0) == 10.0
    # read late (10.3 for a message 0.25 s later): stamped at 10.25, not when read
    assert d.stamp(0.25, 10.3) == pytest.approx(10.25, abs=1e-3)
    # a message read at once lowers the offset: the earlier ones were late
    assert d.stamp(0.25, 10.45) == pytest.approx(10.45, abs=1e-3)


# ------------------------------------------------------------------ the MIDI process's side


def test_clock_is_followed_only_when_it_is_the_source():
    c = controls()
    sync = TempoSync(c)
    recs = [(1.0, START, 0)] + [(1.0 + k / 48, CLOCK, 0) for k in range(48)]
    sync.clock_messages(recs)
    assert get(c, "beat_time") == 0.0  # internal: nothing written
    c[CONTROL_INDEX["tempo_source"]] = MIDI_CLOCK
    sync.clock_messages([(2.0 + k / 48, CLOCK, 0) for k in range(48)])
    assert get(c, "bpm") == pytest.approx(120.0, abs=0.1)
    assert get(c, "beat_origin") == pytest.approx(95 / 24)
    assert get(c, "transport") == 1.0 and get(c, "tempo_source") == MIDI_CLOCK


def test_tap_from_a_learned_button_sets_the_internal_tempo():
    c = controls(tempo_source=MIDI_CLOCK)
    now = [100.0]
    svc = MidiService(c, {"midi_api": "none", "midi_virtual": False}, clock=lambda: now[0])
    try:
        svc.map.set(svc.virt.controller, [Binding("tap", "cc", 64, 1, button="toggle")])
        svc.links.rebind(svc.virt)
        for k in range(4):
            now[0] = 100.0 + 0.75 * k
            svc.queue.append((svc.virt, Event("cc", 1, 64, 127)))
            svc.drain()
            svc.queue.append((svc.virt, Event("cc", 1, 64, 0)))  # the release: no tap
            svc.drain()
        assert svc.tempo.taps == 4
        assert get(c, "bpm") == pytest.approx(80.0)
        assert get(c, "beat_origin") == 3.0 and get(c, "beat_time") == pytest.approx(102.25)
        assert get(c, "tempo_source") == 0 and get(c, "tap") == 0.0
    finally:
        svc.close()


class FakeLink:
    """A Link session of one: a fixed line, remembering proposals."""

    def __init__(self, bpm: float) -> None:
        self.bpm = bpm
        self.proposed: list[float] = []
        self.closed = False
        self.peers = 1

    def line(self) -> BeatLine:
        return BeatLine(self.bpm, 7.0, 50.0)

    def propose(self, bpm: float) -> None:
        self.proposed.append(bpm)
        self.bpm = bpm

    def close(self) -> None:
        self.closed = True


def test_link_source_writes_the_session_line_and_proposes_our_tempo():
    c = controls(tempo_source=LINK, bpm=100.0)
    links: list[FakeLink] = []
    sync = TempoSync(c, link_factory=lambda bpm: links.append(FakeLink(bpm)) or links[-1])
    sync.step(1.0)
    assert links[0].bpm == 100.0 and get(c, "beat_origin") == 7.0 and get(c, "beat_time") == 50.0
    c[CONTROL_INDEX["bpm"]] = 140.0  # the UI sets a tempo: offered to the session
    sync.step(2.0)
    assert links[0].proposed == [140.0] and get(c, "bpm") == 140.0
    c[CONTROL_INDEX["tempo_source"]] = 0
    sync.step(3.0)
    assert links[0].closed and sync.link is None


def test_clock_out_gets_the_line_in_effect_anchored_on_the_monotonic_clock():
    c = controls(bpm=100.0)
    sent: list[tuple[float, float, float, bool]] = []
    sync = TempoSync(c)
    sync.clock_out = lambda *a: sent.append(a)
    sync.step(10.0)
    assert sent == [(100.0, 0.0, 10.0, True)]  # never anchored: the song starts now
    c[CONTROL_INDEX["transport"]] = 0
    sync.step(10.5)
    assert sent[-1][3] is False


def test_tempo_flags():
    import argparse

    from floweq_tui.cli.options import add_control_options, automation_values

    p = argparse.ArgumentParser()
    add_control_options(p)
    assert automation_values(p.parse_args(["--tempo-source", "link"])) == {"tempo_source": 2.0}
    with pytest.raises(SystemExit):
        p.parse_args(["--tempo-source", "wobble"])


def test_headless_tap_writes_the_internal_tempo():
    from types import SimpleNamespace

    from floweq_tui.headless import tap

    c = {"bpm": 120.0, "beat_origin": 0.0, "beat_time": 0.0, "transport": 0.0, "tempo_source": 1}
    engine, tapper = SimpleNamespace(controls=c), TapTempo()
    tap(engine, tapper, 10.0)
    assert tap(engine, tapper, 10.5) == "tap 2: 120.0 BPM internal"
    assert c == {"bpm": 120.0, "beat_origin": 1.0, "beat_time": 10.5, "transport": 1.0,
                 "tempo_source": 0.0}  # fmt: skip


def test_a_running_clock_is_joined_where_the_beat_line_is():
    """Clocks with no Start before them (the MIDI process restarted mid-song): followed on
    from the beat line in effect, not ignored and not restarted at 0."""
    f = ClockFollower(join=lambda t: 10.0 + (t - 100.0) * 2.0)
    line = feed_clock(f, 101.0, 120.0, 48)
    assert line is not None and line.running
    assert line.beat_at(101.0) == pytest.approx(12.0, abs=0.01)
    assert line.bpm == pytest.approx(120.0, abs=0.1)
    assert ClockFollower().feed(5.0, CLOCK).origin == 0.0  # nothing to join: from beat 0


def test_a_lost_clock_is_counted_from_its_gap():
    """An xrun loses a Clock: the gap counts it, so the beat does not slip by a tick."""
    f = ClockFollower()
    f.feed(0.0, START)
    line = None
    for k in range(24 * 4):
        if k in (50, 70, 71):  # three Clocks never arrive
            continue
        line = f.feed(k / 48, CLOCK) or line
    assert f.lost == 3 and line is not None
    assert line.beat_at(4.0 / 2) == pytest.approx(4.0, abs=0.01)


TICK = 60.0 / (120.0 * 24)


def clock_stream(f: ClockFollower, times, values=None) -> list[BeatLine | None]:
    """Feed Clocks at ``times`` (after a Start); the line after each one."""
    f.feed(times[0] - 0.001, START)
    lines, line = [], None
    for i, t in enumerate(times):
        line = f.feed(t, CLOCK, values[i] if values else 0) or line
        lines.append(line)
    return lines


def miss_ms(line: BeatLine, k: int, t_k: float) -> float:
    """How far (ms) the line puts tick ``k`` from ``t_k`` (the clock's own time for it)."""
    return (line.time + (k / 24 - line.origin) * 60.0 / line.bpm - t_k) * 1e3


def test_a_duplicated_clock_is_dropped():
    """A late JACK client can read one cycle's Clock twice: the second is not a tick."""
    times = [k * TICK for k in range(96)]
    times.insert(50, times[49] + 1e-6)
    f = ClockFollower()
    lines = clock_stream(f, times)
    assert f.dropped == 1
    assert abs(miss_ms(lines[-1], 96, 96 * TICK)) < 0.01


@pytest.mark.parametrize("step_ms", [2.667, 5.333, 8.0, -2.667])
def test_a_sender_that_fell_behind_is_followed_within_two_ticks(step_ms):
    """Skipped frames: a sender on the same server runs its Clocks late by them from then on
    (the phase steps, the tempo does not). The first late Clock moves the beat, the second
    confirms it; the tempo and the tick count are kept."""
    step = step_ms * 1e-3
    times = [k * TICK + (step if k >= 60 else 0.0) for k in range(120)]
    f = ClockFollower()
    lines = clock_stream(f, times)
    for i in (60, 61, 80, 119):  # from the first late Clock on, the beat is on the new line
        assert abs(miss_ms(lines[i], i + 1, (i + 1) * TICK + step)) < 0.05, i
    assert f.steps == 1 and f.lost == 0
    assert lines[-1].bpm == pytest.approx(120.0, abs=0.01)


def test_a_lost_clock_is_told_from_a_skip_by_the_skipped_time():
    """A Clock lost and the sender behind by 11.5 ms at once: the gap (2.55 ticks) alone
    could be either; the skipped time the JACK client reports with the next Clock says
    one Clock was lost. Back on the line at the next Clock."""
    step = 11.5e-3
    times = [k * TICK + (step if k >= 60 else 0.0) for k in range(120)]
    values = [0] * 120
    values[60] = AFTER_SKIP | 115  # 11.5 ms in 0.1 ms
    del times[59], values[59]
    f = ClockFollower()
    lines = clock_stream(f, times, values)
    assert f.lost == 1
    for i in (60, 90, 118):  # (line i is after tick i + 1)
        assert abs(miss_ms(lines[i], i + 2, (i + 2) * TICK + step)) < 0.05, i


def test_a_clock_stamped_a_block_late_once_is_an_outlier():
    """One Clock stamped a block (2.67 ms) late, the next on time: left out of the fit."""
    times = [k * TICK for k in range(96)]
    times[50] += 128 / 48000
    f = ClockFollower()
    lines = clock_stream(f, times)
    assert f.outliers == 1 and f.steps == 0
    assert abs(miss_ms(lines[51], 52, 52 * TICK)) < 0.01
    assert abs(miss_ms(lines[-1], 96, 96 * TICK)) < 0.01


def test_lost_clocks_and_jitter_together():
    """+-1 ms jitter on every Clock (a jittery clock: the gate widens with the fit's
    spread) and three Clocks lost: the beat stays within the jitter, never a tick off."""
    rng = random.Random(3)
    times = [k * TICK + rng.uniform(-1e-3, 1e-3) for k in range(24 * 8)]
    keep = [k for k in range(24 * 8) if k not in (60, 100, 101)]
    f = ClockFollower()
    lines = clock_stream(f, [times[k] for k in keep])
    assert f.lost == 3 and f.steps == 0
    assert abs(miss_ms(lines[-1], 24 * 8, 24 * 8 * TICK)) < 1.0
    assert lines[-1].bpm == pytest.approx(120.0, abs=0.3)


def test_a_sudden_tempo_change_is_fitted_afresh_within_six_ticks():
    t_change = 60 * TICK
    slow = 60.0 / (90.0 * 24)
    times = [k * TICK if k <= 60 else t_change + (k - 60) * slow for k in range(24 * 6)]
    f = ClockFollower()
    lines = clock_stream(f, times)
    assert f.retempos == 1 and f.lost == 0
    for i in (66, 90, 24 * 6 - 1):
        line = lines[i]
        assert line.bpm == pytest.approx(90.0, abs=0.05), i
        assert line.beat_at(times[i]) == pytest.approx(i / 24, abs=1e-4), i


def test_a_sudden_half_tempo_is_not_taken_for_lost_clocks():
    f = ClockFollower()
    f.feed(0.0, START)
    feed_clock(f, 0.0, 120.0, 48)
    line = feed_clock(f, 48 / 48, 60.0, 96)  # at once half the tempo, for four beats
    assert f.lost == 0 and line is not None
    assert line.bpm == pytest.approx(60.0, abs=0.5)
