"""The motion recorder (arm -> record from the bar line -> loop; overdub, undo, clear) on a
real controls block, of one control or a gesture over two (a map drag: x and y), and the
loop it writes played by the real engine core."""

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
    loop_targets,
    recording_controls,
    to_fraction,
)
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    METERS_SIZE,
    MOD_TARGETS,
    REC_POINTS,
    REC_TARGETS2,
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


def play_take(c, move, let_go, read):
    """Arm, let a real Processor run 12 beats (a bar of take, two bars of loop): ``move``
    sets the controls while the take records, ``let_go`` when the hand leaves (beat 4);
    returns ``read(beat, meters)`` for every block."""
    met = np.zeros(METERS_SIZE)
    m = Meters(met)
    proc = _dsp.Processor(2, 48000.0, 64, c.array, met, wall_clock=False)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    buf = np.zeros((64, 2), np.float32)
    heard = []
    for _ in range(int(6 * 48000 / 64)):
        beat = proc.beat_position
        if c["rec_state"] == RECORDING:
            move(beat)
        rec.tick(beat)
        proc.process(buf, buf)
        if beat >= 4.0:
            let_go()
        heard.append(read(beat, m))
    return heard


def test_the_engine_plays_the_recorded_gesture_looped():
    _, c = block(mode=0, rec_bars=1, bpm=120)

    def move(beat):
        c["x"] = gesture(beat)

    def let_go():
        c["x"] = 0.0  # the hand lets go: the loop plays on its own

    heard = play_take(c, move, let_go, lambda beat, m: (beat, m["mod_x"]))
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


# ---------------------------------------------------------------- two targets (a gesture)


def gesture_y(beat):
    """y as the same hand moves it: a half sine over the bar, then back down."""
    return 1.8 * np.sin(np.pi * (beat % 8) / 8) - 0.9


def xy_block(**values):
    xy = {"rec_target": MOD_TARGETS.index("x"), "rec_target2": REC_TARGETS2.index("y")}
    return block(**{**xy, **values})


def drag(rec, c, beats, step=0.05, t0=0.0):
    """A drag on the latent map: x and y move together while the take is armed and runs."""
    b = t0
    while b < t0 + beats:
        if c["rec_state"] in (ARMED, RECORDING):
            c["x"], c["y"] = gesture(b), gesture_y(b)
        rec.tick(b)
        b += step
    return b


def test_two_targets_record_one_gesture_over_x_and_y():
    _, c = xy_block(rec_bars=2)
    rec = MotionRecorder(c)
    assert rec.targets == "x+y"
    c["rec_arm"] = 1
    drag(rec, c, 12.5, t0=1.0)
    assert rec.state == PLAYING and c["rec_lanes"] == 2 and c["rec_start"] == 4.0
    beats = [4.0 + 8.0 * k / REC_POINTS for k in range(REC_POINTS)]
    np.testing.assert_allclose(
        loop_points(c), [to_fraction("x", gesture(b)) for b in beats], atol=0.02
    )
    np.testing.assert_allclose(
        loop_points(c, 1), [to_fraction("y", gesture_y(b)) for b in beats], atol=0.02
    )
    assert loop_targets(c) == (MOD_TARGETS.index("x"), MOD_TARGETS.index("y"))


def test_one_target_when_the_second_is_none_or_the_same():
    for second in ("none", "x"):
        _, c = xy_block(rec_bars=1, rec_target2=REC_TARGETS2.index(second))
        rec = MotionRecorder(c)
        assert rec.targets == "x"
        c["rec_arm"] = 1
        drag(rec, c, 9.0)
        assert rec.state == PLAYING and c["rec_lanes"] == 1 and loop_points(c, 1) == []
    # choosing a second target after a one-lane take plays nothing new: it is the next take's
    c["rec_target2"] = REC_TARGETS2.index("y")
    assert loop_targets(c) == (MOD_TARGETS.index("x"),)


def test_the_engine_plays_a_recorded_map_drag_on_both_axes():
    _, c = xy_block(mode=0, rec_bars=1, bpm=120)

    def move(beat):
        c["x"], c["y"] = gesture(beat), gesture_y(beat)

    def let_go():
        c["x"], c["y"] = 0.0, 0.0  # the mouse lets go: the loop plays on its own

    heard = play_take(c, move, let_go, lambda beat, m: (beat, m["mod_x"], m["mod_y"]))
    assert c["rec_play"] == 1 and c["rec_lanes"] == 2
    late = [h for h in heard if h[0] >= 5.0 and h[0] % 4 < 4 - 4 / REC_POINTS]
    assert max(abs(x - gesture(b % 4)) for b, x, _ in late) < 0.1
    assert max(abs(y - gesture_y(b % 4)) for b, _, y in late) < 0.1
    assert max(y for *_, y in late) > 0.8 and min(y for *_, y in late) < -0.8


def test_overdub_writes_each_lane_where_its_control_moves_and_undo_restores_both():
    _, c = xy_block(rec_bars=1)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    drag(rec, c, 9.0)
    before = (loop_points(c), loop_points(c, 1))
    c["rec_overdub"] = 1
    rec.tick(8.0)
    c["y"] = 2.0  # a knob on y only
    rec.tick(9.0)  # a quarter of the way into the loop
    k = REC_POINTS // 4
    xs, ys = loop_points(c), loop_points(c, 1)
    assert xs == before[0]  # x did not move: its lane is untouched
    assert ys[k] == pytest.approx(1.0)
    assert sum(a != b for a, b in zip(ys, before[1], strict=True)) == 1
    c["x"] = -2.0  # now the map: both move
    c["y"] = -2.0
    rec.tick(10.0)
    assert loop_points(c)[REC_POINTS // 2] == 0.0 and loop_points(c, 1)[REC_POINTS // 2] == 0.0
    assert rec.undo()  # one overdub pass is one undo
    assert (loop_points(c), loop_points(c, 1)) == before


def test_clear_undo_and_a_one_lane_take_over_a_two_lane_loop():
    _, c = xy_block(rec_bars=1)
    rec = MotionRecorder(c)
    c["rec_arm"] = 1
    end = drag(rec, c, 9.0)
    first = (loop_points(c), loop_points(c, 1))
    rec.clear()
    assert c["rec_n"] == 0 and c["rec_play"] == 0
    assert rec.undo() and (loop_points(c), loop_points(c, 1)) == first and c["rec_lanes"] == 2
    # a new take of x alone replaces the gesture; undo brings both lanes back
    c["rec_target2"] = 0
    c["rec_arm"] = 1
    drag(rec, c, 9.0, t0=end)
    assert rec.state == PLAYING and c["rec_lanes"] == 1 and loop_points(c, 1) == []
    assert rec.undo() and c["rec_lanes"] == 2 and (loop_points(c), loop_points(c, 1)) == first


def test_recording_controls_checks_the_lanes():
    out = recording_controls([0.1, 0.2], 0, 4.0, points2=[0.3, 0.4], target2=1)
    assert out["rec_lanes"] == 2 and out["rec_w1"] == 0.4 and out["rec_target2"] == 2
    assert recording_controls([0.1, 0.2], 0, 4.0, points2=[0.3, 0.4], target2=0)["rec_lanes"] == 1
    with pytest.raises(ValueError, match="as many points"):
        recording_controls([0.1, 0.2], 0, 4.0, points2=[0.3], target2=1)
