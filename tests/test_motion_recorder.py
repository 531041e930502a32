"""The motion recorder (arm -> record from the bar line -> loop; overdub, undo, clear) on a
real controls block, and the loop it writes played by the real engine core."""

from __future__ import annotations

import numpy as np
import pytest

from floweq_tui import _dsp
from floweq_tui.automation.recorder import (
    ARMED,
    OFF,
    PLAYING,
    RECORDING,
    MotionRecorder,
    from_fraction,
    loop_points,
    to_fraction,
)
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    METERS_SIZE,
    MOD_TARGETS,
    REC_POINTS,
    Controls,
    Meters,
)


def block(**values):
    ctl = CONTROL_DEFAULTS.copy()
    c = Controls(ctl)
    c.update(values)
    return ctl, c


def gesture(beat):
    """x as a hand moves it: a ramp up over the first bar, then down."""
    b = beat % 8
    return -1.5 + 3.0 * b / 4 if b < 4 else 1.5 - 3.0 * (b - 4) / 4


def run(rec, c, beats, step=0.05, t0=0.0, move=True):
    b = t0
    while b < t0 + beats:
        if move and c["rec_state"] == RECORDING:
            c["x"] = gesture(b)
        rec.tick(b)
        b += step
    return b


def test_arm_waits_for_the_bar_then_records_the_bars_and_loops():
    _, c = block(rec_bars=2, rec_target=MOD_TARGETS.index("x"))
    rec = MotionRecorder(c)
    rec.tick(1.3)
    assert rec.state == OFF
    c["rec_arm"] = 1  # as a MIDI button or a key does
    rec.tick(1.3)
    assert rec.state == ARMED
    rec.tick(3.9)
    assert rec.state == ARMED  # not before the bar line
    rec.tick(4.0)
    assert rec.state == RECORDING and c["rec_play"] == 0
    end = run(rec, c, 8.2, t0=4.0)
    assert end > 12 and rec.state == PLAYING
    assert c["rec_play"] == 1 and c["rec_arm"] == 0
    assert c["rec_start"] == 4.0 and c["rec_beats"] == 8.0 and c["rec_n"] == REC_POINTS
    pts = np.array(loop_points(c))
    want = [to_fraction("x", gesture(4.0 + 8.0 * k / REC_POINTS)) for k in range(REC_POINTS)]
    np.testing.assert_allclose(pts, want, atol=0.02)


def test_a_take_just_after_the_bar_line_starts_at_that_bar():
    _, c = block(rec_arm=1)
    rec = MotionRecorder(c)
    rec.tick(8.2)
    rec.tick(8.25)
    assert rec.state == RECORDING and rec._start == 8.0


def test_the_engine_plays_the_recorded_gesture_looped():
    ctl, c = block(mode=0, rec_bars=1, bpm=120)
    met = np.zeros(METERS_SIZE)
    m = Meters(met)
    proc = _dsp.Processor(2, 48000.0, 64, ctl, met, wall_clock=False)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    buf = np.zeros((64, 2), np.float32)
    heard = []
    for _ in range(int(6 * 48000 / 64)):  # 12 beats: arm, a bar of take, two bars of loop
        beat = proc.beat_position
        if c["rec_state"] == RECORDING:
            c["x"] = gesture(beat)
        rec.tick(beat)
        proc.process(buf, buf)
        if beat >= 4.0:
            c["x"] = 0.0  # the hand lets go: the loop plays on its own
        heard.append((beat, m["mod_x"]))
    assert c["rec_play"] == 1
    # (the loop wraps from its last point to its first over the last 1/128 of the bar)
    late = [(b, x) for b, x in heard if b >= 5.0 and b % 4 < 4 - 4 / REC_POINTS]
    err = max(abs(x - gesture(b % 4)) for b, x in late)
    assert err < 0.1
    assert max(x for _, x in late) > 1.3 and min(x for _, x in late) < -1.3


def test_overdub_replaces_where_the_hand_moves_and_undo_restores():
    _, c = block(rec_bars=1)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    run(rec, c, 9.0)
    before = loop_points(c)
    c["rec_overdub"] = 1
    rec.tick(8.0)
    c["x"] = 2.0
    rec.tick(9.0)  # a quarter of the way into the loop
    after = loop_points(c)
    k = REC_POINTS // 4
    assert after[k] == pytest.approx(1.0) and before[k] != pytest.approx(1.0)
    assert sum(a != b for a, b in zip(after, before, strict=True)) == 1
    assert rec.undo()
    assert loop_points(c) == before


def test_clear_and_undo_and_cancel():
    _, c = block(rec_bars=1)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    run(rec, c, 9.0)
    first = loop_points(c)
    rec.clear()
    assert c["rec_n"] == 0 and c["rec_play"] == 0 and rec.state == OFF
    assert rec.undo() and loop_points(c) == first and c["rec_play"] == 1
    # a second take, cancelled half-way: the first loop plays again, untouched
    c["rec_arm"] = 1
    rec.tick(9.0)
    rec.tick(12.0)
    assert rec.state == RECORDING and c["rec_play"] == 0
    c["x"] = 1.9
    rec.tick(13.0)
    c["rec_arm"] = 0  # the button again
    rec.tick(13.1)
    assert rec.state == PLAYING and loop_points(c) == first and c["rec_play"] == 1


@pytest.mark.parametrize("name", ["x", "p1", "out_gain", "path_pos"])
def test_fractions_round_trip(name):
    from floweq_tui.controls import CONTROL_SPEC

    s = CONTROL_SPEC[name]
    for u in (0.0, 0.3, 1.0):
        assert to_fraction(name, from_fraction(name, u)) == pytest.approx(u)
    assert from_fraction(name, 0) == pytest.approx(s.min)
