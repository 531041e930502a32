"""The automation controls through the existing MIDI learn, over real JACK MIDI ports on the
dummy server, end to end through the Engine: a modulator's rate, depth and on/off, the path
position (moving the engine's point along the path), the motion record/play buttons, and two
knobs recorded together in one take (two lanes) and looped by the engine."""

from __future__ import annotations

import os

import pytest
from test_midi_jack import WATCHED, Controller, hw_messages, learned, wait_for

from floweq_tui import _dsp
from floweq_tui.automation.path import path_controls, waypoint
from floweq_tui.automation.recorder import MotionRecorder
from floweq_tui.engine import Engine, EngineConfig
from floweq_tui.midi.state import LearnPhase, LinkState

pytestmark = pytest.mark.jack

CTL, FB = f"auto-ctl-{os.getpid()}", f"auto-fb-{os.getpid()}"
WPS = [(-1.5, -1.0), (0.0, 1.5), (1.5, 0.0)]


@pytest.fixture(scope="module")
def rig(jack_server, tmp_path_factory):  # noqa: ARG001
    path = tmp_path_factory.mktemp("midi") / "midi.toml"
    cfg = EngineConfig(
        samplerate=48000, blocksize=128, midi=True, midi_api=None, midi_in=CTL,
        midi_out=FB, midi_config=str(path),
    )  # fmt: skip
    eng = Engine(cfg, mode=0)
    eng.start()
    WATCHED.append(eng)  # (a timeout reports its MIDI state)
    ctl = Controller(names=(CTL, FB), received=lambda: hw_messages(eng))
    try:
        wait_for(
            lambda: eng.midi.status().hw.state is LinkState.CONNECTED,
            12, "the controller port to be connected",
        )  # fmt: skip
        yield eng, ctl
    finally:
        WATCHED.remove(eng)
        ctl.close()
        eng.stop()


def learn(eng, ctl, control, *msgs):
    assert eng.midi.learn_start(control).phase is LearnPhase.WAITING
    ctl.send(*msgs, gap=0.01)
    st = learned(eng)
    assert st.phase is LearnPhase.DONE and st.control == control, st
    return st


@pytest.mark.parametrize(
    "control, cc, lo, hi",
    [("lfo1_rate", 60, 0.01, 20.0), ("lfo1_depth", 61, -1.0, 1.0), ("path_pos", 62, 0.0, 1.0)],
)
def test_a_learned_knob_sweeps_an_automation_control(rig, control, cc, lo, hi):
    eng, ctl = rig
    learn(eng, ctl, control, [0xB0, cc, 10], [0xB0, cc, 11])
    ctl.sweep(cc, range(0, 128, 4))
    ctl.sweep(cc, [127])
    wait_for(lambda: eng.get(control) == pytest.approx(hi), 10, f"{control} at the top")
    ctl.sweep(cc, range(127, -1, -4))
    ctl.sweep(cc, [0])
    wait_for(lambda: eng.get(control) == pytest.approx(lo), 10, f"{control} at the bottom")


def test_learned_buttons_switch_a_modulator_and_the_motion_loop(rig):
    eng, ctl = rig
    for control, note in (("lfo1_on", 40), ("rec_play", 41), ("rec_arm", 42)):
        before = eng.get(control)
        learn(eng, ctl, control, [0x90, note, 100], [0x80, note, 0])
        assert eng.get(control) == before  # learning moved nothing
        ctl.send([0x90, note, 100], [0x80, note, 0])
        wait_for(lambda c=control, b=before: eng.get(c) == 1 - b, 10, f"{control} toggled")
    # the armed take starts at the next bar, as the UI or headless recorder sees it
    rec = MotionRecorder(eng.controls)
    wait_for(lambda: (rec.tick(eng.meters["beat"]), rec.state)[1] >= 1, 10, "armed")
    ctl.send([0x90, 42, 100], [0x80, 42, 0])  # the button again: cancel
    wait_for(lambda: (rec.tick(eng.meters["beat"]), rec.state)[1] == 0, 10, "cancelled")


def test_the_path_knob_moves_the_engines_point_along_the_path(rig):
    eng, ctl = rig
    for k, v in path_controls([waypoint(p) for p in WPS]).items():
        eng.set(k, v)
    eng.set("path_on", 1)
    eng.set("mode", 0)
    eng.set("lfo1_on", 0)  # (switched on by a button above: the point on the path alone)
    learn(eng, ctl, "path_pos", [0xB0, 62, 10], [0xB0, 62, 11])  # (again: no conflict)
    ctl.sweep(62, range(0, 65, 4))
    ctl.sweep(62, [64])
    want = _dsp.path_point([(*p, 0.0) for p in WPS], 64 / 127)
    wait_for(lambda: eng.get("path_pos") == pytest.approx(64 / 127), 10, "path_pos from CC 62")

    def on_path() -> bool:
        m = eng.meters
        return abs(m["mod_x"] - want[0]) < 1e-9 and abs(m["mod_y"] - want[1]) < 1e-9

    wait_for(on_path, 10, "the engine's point on the path")


def test_two_learned_knobs_turned_together_are_recorded_and_looped(rig):
    """Two knobs (x and y, as a drag on the map) moved together over real JACK MIDI during
    a take: the recorder (as headless runs it) keeps both lanes, and the engine's process
    plays them back looped, x rising while y falls, with the knobs at rest."""
    import time

    import numpy as np

    from floweq_tui.automation.recorder import PLAYING, RECORDING, loop_points
    from floweq_tui.controls import MOD_TARGETS, REC_TARGETS2

    eng, ctl = rig
    learn(eng, ctl, "x", [0xB0, 70, 10], [0xB0, 70, 11])
    learn(eng, ctl, "y", [0xB0, 71, 10], [0xB0, 71, 11])
    for k, v in {"mode": 0, "path_on": 0, "lfo1_on": 0, "rec_bars": 1, "bpm": 120,
                 "rec_target": MOD_TARGETS.index("x"),
                 "rec_target2": REC_TARGETS2.index("y")}.items():  # fmt: skip
        eng.set(k, v)
    # the knobs where the gesture starts (a learned knob picks the value up as it passes)
    ctl.sweep(70, range(0, 128, 8))
    ctl.sweep(70, range(127, -1, -8))
    ctl.sweep(70, [0])
    ctl.sweep(71, range(0, 128, 8))
    ctl.sweep(71, [127])
    wait_for(lambda: (eng.get("x"), eng.get("y")) == (-2.0, 2.0), 10, "the knobs at the start")
    rec = MotionRecorder(eng.controls)
    eng.set("rec_arm", 1)
    deadline = time.monotonic() + 20.0
    while rec.state != PLAYING:
        assert time.monotonic() < deadline, f"the take did not end: state {rec.state}"
        beat = eng.meters["beat"]
        rec.tick(beat)
        if rec.state == RECORDING:
            f = min(max((beat - rec._start) / rec._beats, 0.0), 1.0)
            v = round(127 * f)
            ctl.send([0xB0, 70, v], [0xB0, 71, 127 - v], gap=0.0)
        time.sleep(0.02)
    ctl.send([0xB0, 70, 64], [0xB0, 71, 64])  # the hands let go in the middle
    assert eng.get("rec_lanes") == 2 and eng.get("rec_play") == 1
    xs, ys = np.array(loop_points(eng.controls)), np.array(loop_points(eng.controls, 1))
    assert xs[-16:].mean() - xs[:16].mean() > 0.5 and ys[:16].mean() - ys[-16:].mean() > 0.5
    heard = []
    end = eng.meters["beat"] + 4.0
    while eng.meters["beat"] < end:  # one loop, as the engine plays it
        heard.append((eng.meters["mod_x"], eng.meters["mod_y"]))
        time.sleep(0.02)
    mx, my = np.array(heard).T
    assert np.ptp(mx) > 2.0 and np.ptp(my) > 2.0
    assert np.corrcoef(mx, my)[0, 1] < -0.9  # one gesture: x up as y goes down
