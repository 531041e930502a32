"""Paths and motion-recording playback in the engine's core (path_kernel.c via the
Processor): the curve through the waypoints, block-accurate playback of one target or two
(a gesture's two lanes), targets."""

from __future__ import annotations

import numpy as np
import pytest

from floweq_tui import _dsp
from floweq_tui.automation.recorder import from_fraction
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    METERS_SIZE,
    MOD_SHAPES,
    MOD_TARGETS,
    NOTE_INDEX,
    REC_POINTS,
    REC_TARGETS2,
    Controls,
    Meters,
)

FS = 48000
WPS = [(-1.5, -1.0, 0.0), (0.0, 1.5, 0.5), (1.0, 0.0, -0.5), (1.8, 1.2, 0.0)]


def make(block=64, **controls):
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"mode": 0, **controls})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(2, float(FS), block, ctl, met, wall_clock=False)
    return proc, Controls(ctl), Meters(met)


def path_controls(wps=WPS, pos=0.0):
    out = {"path_on": 1, "path_n": len(wps), "path_pos": pos}
    for k, p in enumerate(wps):
        out.update({f"path_wp{k}_{a}": v for a, v in zip("xyz", p, strict=True)})
    return out


def test_path_passes_through_every_waypoint_in_order():
    n = len(WPS)
    for k, p in enumerate(WPS):
        np.testing.assert_allclose(_dsp.path_point(WPS, k / (n - 1)), p, atol=1e-12)
    assert _dsp.path_point(WPS, -1.0) == WPS[0] and _dsp.path_point(WPS, 2.0) == WPS[-1]
    assert _dsp.path_point(WPS[:1], 0.7) == WPS[0]
    assert _dsp.path_point(np.zeros((0, 3)), 0.3) == (0.0, 0.0, 0.0)


def test_path_is_smooth_and_never_overshoots_a_waypoint():
    pos = np.linspace(0, 1, 3001)
    pts = np.array([_dsp.path_point(WPS, u) for u in pos])
    lo, hi = np.min(WPS, axis=0), np.max(WPS, axis=0)
    assert (pts >= lo - 1e-12).all() and (pts <= hi + 1e-12).all()
    step = np.abs(np.diff(pts, axis=0)).max()
    assert step < 0.01  # continuous: no jump between neighbouring positions
    slope = np.diff(pts, axis=0) / np.diff(pos)[:, None]
    assert np.abs(np.diff(slope, axis=0)).max() < 1.0  # C1: the slope does not jump


def test_a_knob_on_path_pos_moves_the_point_along_the_path():
    proc, ctl, met = make(**path_controls(pos=0.0))
    buf = np.zeros((64, 2), np.float32)
    for pos in (0.0, 0.2, 1 / 3, 0.75, 1.0):
        ctl["path_pos"] = pos
        proc.process(buf, buf)
        want = _dsp.path_point(WPS, pos)
        assert met["mod_x"] == pytest.approx(want[0], abs=1e-9)
        assert met["mod_y"] == pytest.approx(want[1], abs=1e-9)
    ctl["path_on"] = 0  # off: the controls' own point again
    proc.process(buf, buf)
    assert (met["mod_x"], met["mod_y"]) == (ctl["x"], ctl["y"])


def test_a_modulator_on_path_pos_is_evaluated_every_64_samples():
    lfo = {
        "lfo1_on": 1,
        "lfo1_target": MOD_TARGETS.index("path_pos"),
        "lfo1_shape": MOD_SHAPES.index("triangle"),
        "lfo1_sync": 1,
        "lfo1_note": NOTE_INDEX["1bar"],
        "lfo1_depth": 1.0,
    }
    proc, ctl, met = make(block=256, **path_controls(pos=0.5), **lfo)
    seen = []

    buf = np.zeros((256, 2), np.float32)
    for _ in range(500):  # 2.7 s: more than a bar at 120 BPM
        proc.process(buf, buf)
        # the last evaluation of the block: 192 samples after its start
        u = met["lfo1_value"]
        want = _dsp.path_point(WPS, u)
        assert met["mod_x"] == pytest.approx(want[0], abs=1e-9)
        assert met["mod_y"] == pytest.approx(want[1], abs=1e-9)
        seen.append(u)
    assert min(seen) < 0.05 and max(seen) > 0.95  # the whole path is travelled


def test_the_figure_moves_around_the_paths_point():
    fig = {"fig_on": 1, "fig_depth": 0.1, "fig_rate": 2.0}
    proc, ctl, met = make(**path_controls(pos=0.5), **fig)
    centre = _dsp.path_point(WPS, 0.5)
    buf = np.zeros((64, 2), np.float32)
    dist = []
    for _ in range(400):
        proc.process(buf, buf)
        dist.append(np.hypot(met["mod_x"] - centre[0], met["mod_y"] - centre[1]))
    # a circle of radius depth/2 of x's range (4) around the path's point
    np.testing.assert_allclose(dist, 0.2, atol=1e-9)


def rec_controls(points, target="x", beats=4.0, start=0.0, points2=None, target2=None):
    out = {
        "rec_play": 1,
        "rec_target": MOD_TARGETS.index(target),
        "rec_beats": beats,
        "rec_start": start,
        "rec_n": len(points),
        "rec_lanes": 1,
    }
    out.update({f"rec_v{k}": v for k, v in enumerate(points)})
    if points2 is not None:
        out.update({"rec_lanes": 2, "rec_target2": REC_TARGETS2.index(target2)})
        out.update({f"rec_w{k}": v for k, v in enumerate(points2)})
    return out


def test_a_recording_plays_back_looped_from_its_start_beat():
    pts = [0.5, 0.9, 0.1, 0.5, 0.75]
    proc, ctl, met = make(bpm=120, **rec_controls(pts, beats=4.0, start=2.0))
    buf = np.zeros((64, 2), np.float32)
    xs, beats = [], []
    for _ in range(int(5 * FS / 64)):  # 10 beats, 2.5 loops
        beats.append(proc.beat_position)
        proc.process(buf, buf)
        xs.append(met["mod_x"])
    want = [-2 + 4 * _dsp.rec_value(pts, (b - 2.0) / 4.0) for b in beats]
    np.testing.assert_allclose(xs, want, atol=1e-9)
    assert min(xs) < -1.5 and max(xs) > 1.5


def test_a_two_lane_recording_plays_both_targets_at_every_block():
    """A map drag (x and y) played back: both axes at the block's beat, the same clock."""
    xs_pts = [0.5, 0.9, 0.1, 0.5, 0.75]
    ys_pts = [0.2, 0.2, 1.0, 0.0, 0.6]
    c = rec_controls(xs_pts, "x", 4.0, 2.0, ys_pts, "y")
    proc, ctl, met = make(bpm=120, x=0.3, y=-0.7, **c)
    buf = np.zeros((64, 2), np.float32)
    for _ in range(int(5 * FS / 64)):  # 10 beats, 2.5 loops
        b = proc.beat_position
        proc.process(buf, buf)
        u = (b - 2.0) / 4.0
        assert met["mod_x"] == pytest.approx(-2 + 4 * _dsp.rec_value(xs_pts, u), abs=1e-9)
        assert met["mod_y"] == pytest.approx(-2 + 4 * _dsp.rec_value(ys_pts, u), abs=1e-9)
    assert (ctl["x"], ctl["y"]) == (0.3, -0.7)  # the controls themselves are untouched


def test_a_two_lane_recording_on_two_knobs_evaluated_every_64_samples():
    """Two knobs (two parameters, Manual) in 256-sample blocks: the meters' p-values show the
    last evaluation of each block, 192 samples after its start, for both targets."""
    pts = list(np.linspace(0.0, 1.0, REC_POINTS))
    proc, ctl, met = make(block=256, bpm=120, mode=2,
                          **rec_controls(pts, "p1", 1.0, 0.0, pts[::-1], "p4"))  # fmt: skip
    buf = np.zeros((256, 2), np.float32)
    seen = []
    for _ in range(200):
        b = proc.beat_position
        proc.process(buf, buf)
        at = b + 192 / FS * 2.0  # a 1-beat loop; 2 beats a second at 120 BPM
        p1 = from_fraction("p1", _dsp.rec_value(pts, at))
        p4 = from_fraction("p4", _dsp.rec_value(pts[::-1], at))
        assert met["p1"] == pytest.approx(p1, rel=1e-9)
        assert met["p4"] == pytest.approx(p4, rel=1e-9)
        seen.append((met["p1"], met["p4"]))
    assert np.ptp(seen, axis=0).min() > 1.0  # both knobs travel


def test_the_second_lane_plays_only_when_the_loop_holds_it():
    """An old one-lane loop (rec_lanes 1), or a second target that is none or the first,
    leaves the second control alone."""
    c = rec_controls([0.0, 1.0], "x", 4.0, 0.0, [1.0, 1.0], "y")
    buf = np.zeros((64, 2), np.float32)
    for extra in ({"rec_lanes": 1}, {"rec_target2": 0}, {"rec_target2": REC_TARGETS2.index("x")}):
        proc, ctl, met = make(y=0.3, **{**c, **extra})
        proc.process(buf, buf)
        assert met["mod_y"] == pytest.approx(0.3) and met["mod_x"] < -1.9
    proc, ctl, met = make(y=0.3, **c)
    proc.process(buf, buf)
    assert met["mod_y"] == pytest.approx(2.0)


def test_a_recording_on_path_pos_drives_the_path():
    pts = list(np.linspace(0, 1, REC_POINTS))
    proc, ctl, met = make(bpm=120, **path_controls(), **rec_controls(pts, "path_pos", 4.0))
    buf = np.zeros((64, 2), np.float32)
    for _ in range(int(1 * FS / 64)):
        b = proc.beat_position
        proc.process(buf, buf)
        u = _dsp.rec_value(pts, b / 4.0)
        assert met["mod_x"] == pytest.approx(_dsp.path_point(WPS, u)[0], abs=1e-9)


def test_a_recording_needs_two_points_and_play():
    proc, ctl, met = make(x=0.3, **rec_controls([0.0]))
    buf = np.zeros((64, 2), np.float32)
    proc.process(buf, buf)
    assert met["mod_x"] == pytest.approx(0.3)
    ctl.update(rec_controls([0.0, 0.0]))
    ctl["rec_play"] = 0
    proc.process(buf, buf)
    assert met["mod_x"] == pytest.approx(0.3)
    ctl["rec_play"] = 1
    proc.process(buf, buf)
    assert met["mod_x"] == pytest.approx(-2.0)


def test_path_kernel_compiles_without_warnings(tmp_path):
    import shutil
    import subprocess
    from pathlib import Path

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to compile path_kernel.c")
    repo = Path(__file__).resolve().parents[1]
    flags = ["-Wall", "-Wextra", "-Werror", "-O2", f"-I{repo}", "-c"]
    done = subprocess.run(
        [cc, *flags, str(repo / "path_kernel.c"), "-o", str(tmp_path / "p.o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("lanes", [1, 2])
def test_streaming_with_a_path_and_a_recording_equals_the_render(lanes):
    """Offline = live for the path and the recording (of one or two targets) too: a source
    loaded with a reset (after running on something else, with a wall clock) gives the
    render's samples."""
    from floweq_tui.render import render_array
    from floweq_tui.vae import core_models

    models = core_models()
    block = 128
    x = (0.1 * np.random.default_rng(5).standard_normal((FS, 2))).astype(np.float32)
    lfo = {
        "lfo1_on": 1,
        "lfo1_target": MOD_TARGETS.index("path_pos"),
        "lfo1_shape": MOD_SHAPES.index("sine"),
        "lfo1_rate": 3.0,
        "lfo1_depth": 0.8,
    }
    two = ([1.0, 0.3, 0.6, 0.1, 0.8], "out_gain") if lanes == 2 else (None, None)
    rec = rec_controls([0.2, 1.0, 0.4, 0.9, 0.0], "strength", 1.0, 0.25, *two)
    c = {**path_controls(pos=0.5), **lfo, **rec, "bpm": 137, "mode": 0 if models.names else 2}
    rendered, _ = render_array(x, FS, c, blocksize=block)
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"model": models.default_index, **c})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(2, float(FS), block, ctl, met, models.decoders, models.anchors)
    silence = np.zeros((block, 2), np.float32)
    for _ in range(29):
        proc.process(silence, silence)
    proc.set_source(x, reset=True, capture=len(x))
    while proc.capture is None:
        proc.process(None, silence)
    assert np.abs(rendered - x).max() > 0.01
    np.testing.assert_array_equal(proc.capture, rendered)
    if lanes == 2:  # the second lane is heard: not the render of the first alone
        one, _ = render_array(x, FS, {**c, "rec_lanes": 1}, blocksize=block)
        assert np.abs(one - rendered).max() > 0.01
