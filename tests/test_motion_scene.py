"""Paths and recordings (of one target or a gesture over two) in scene files, the session and
presets: parsed, resolved (anchor names), written back, restored, old one-target files still
loading; bad input is one line with the file's line number."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from floweq_tui import session as settings
from floweq_tui.automation import SceneError, dump_scene, parse_scene
from floweq_tui.automation.path import path_polyline, waypoints_from_controls
from floweq_tui.automation.recorder import loop_points, loop_targets
from floweq_tui.cli.options import CliError, automation_values
from floweq_tui.controls import CONTROL_DEFAULTS, MOD_TARGETS, REC_TARGETS2, Controls
from floweq_tui.vae import load_family

SCENE = """bpm = 100
[path]
points = ["warm", "bright", [0.5, -1.0], "current"]
pos = 0.3
[recording]
target = "path_pos"
beats = 8
points = [0, 0.5, 1, 0.5]
[[lfo]]
target = "path_pos"
shape = "tri"
rate = "2bar"
"""


def controls(values):
    c = Controls(CONTROL_DEFAULTS.copy())
    c.update(values)
    return c


def test_a_scene_path_resolves_anchor_names_and_the_current_point():
    s = parse_scene(SCENE)
    c = controls(
        s.controls(anchors={"warm": (1.0, -0.5), "bright": (-1.0, 1.0)}, current=(0.2, 0.1))
    )
    wps = [w.xyz for w in waypoints_from_controls(c)]
    assert wps == [(1.0, -0.5, 0.0), (-1.0, 1.0, 0.0), (0.5, -1.0, 0.0), (0.2, 0.1, 0.0)]
    assert c["path_on"] == 1 and c["path_pos"] == pytest.approx(0.3)
    assert c["rec_target"] == MOD_TARGETS.index("path_pos") and c["rec_beats"] == 8
    assert loop_points(c) == [0, 0.5, 1, 0.5] and c["rec_play"] == 1
    assert c["lfo1_target"] == MOD_TARGETS.index("path_pos")
    # Extend: anchors keep their place on the map (halved in control units)
    c2 = controls(s.controls(anchors={"warm": (1.0, -0.5), "bright": (-1.0, 1.0)}, scale=2.0,
                             current=(0.0, 0.0)))  # fmt: skip
    assert waypoints_from_controls(c2)[0].xyz == (0.5, -0.25, 0.0)


def test_dump_scene_round_trips_the_automation():
    s = parse_scene(SCENE)
    c = controls(
        s.controls(anchors={"warm": (1.0, -0.5), "bright": (-1.0, 1.0)}, current=(0.2, 0.1))
    )
    again = controls(parse_scene(dump_scene(c)).controls())
    np.testing.assert_allclose(again.array, c.array)


@pytest.mark.parametrize(
    "text, where, what",
    [
        ('[path]\npoints = "warm"\n', ":2:", "non-empty list"),
        ("[path]\npoints = [[1, 2, 3, 4]]\n", ":2:", "neither an anchor"),
        ("[path]\npoints = [1]\n", ":2:", "neither an anchor"),
        ('[path]\npoints = ["warm"]\npos = 2\n', ":3:", "pos 2 is outside"),
        ('[path]\npoints = ["warm"]\nspeed = 1\n', ":3:", "unknown key 'speed'"),
        ("[path]\npoints = [" + ", ".join(["[0, 0]"] * 9) + "]\n", ":2:", "at most 8"),
        ("[recording]\ntarget = 'x'\n", ":1:", "needs points"),
        ("[recording]\npoints = [0.5]\n", ":2:", "2-128 numbers"),
        ("[recording]\npoints = [0.5, 1.5]\n", ":2:", "point 1.5 is outside"),
        ("[recording]\ntarget = 'wobble'\npoints = [0, 1]\n", ":2:", "unknown target"),
    ],
)
def test_bad_paths_and_recordings_are_one_line_with_the_line(text, where, what):
    with pytest.raises(SceneError) as err:
        parse_scene(text, "set.toml")
    msg = str(err.value)
    assert msg.startswith("set.toml" + where) and what in msg and "\n" not in msg


def _args(tmp_path, text, **kw):
    f = tmp_path / "s.toml"
    f.write_text(text)
    base = dict(scene=str(f), lfo=None, bpm=None, x=None, y=None, z=None, extend=False, model=None)
    return argparse.Namespace(**{**base, **kw})


def test_the_command_line_resolves_a_path_through_the_models_anchors(tmp_path):
    family = load_family()
    codes = {a.label: a.z for a in family.default.anchors}
    v = automation_values(_args(tmp_path, '[path]\npoints = ["warm", "bright", "thin", "full"]\n'))
    c = controls(v)
    got = [w.xyz[:2] for w in waypoints_from_controls(c)]
    want = [tuple(codes[n][:2]) for n in ("warm", "bright", "thin", "full")]
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert len(path_polyline(waypoints_from_controls(c))) > 10
    with pytest.raises(CliError, match="no anchor 'shiny'"):
        automation_values(_args(tmp_path, '[path]\npoints = ["warm", "shiny"]\n'))


def test_the_session_keeps_the_automation_and_starts_a_new_song(tmp_path):
    s = parse_scene(SCENE)
    c = controls(
        s.controls(anchors={"warm": (1.0, -0.5), "bright": (-1.0, 1.0)}, current=(0.2, 0.1))
    )
    c.update({"rec_start": 20.0, "rec_arm": 1, "rec_state": 2, "transport": 0, "beat_time": 5.0})
    path = tmp_path / "session.json"
    settings.save_session(settings.session_from_controls(c.as_dict(), [], []), path)
    restored = settings.Session.load([], [], path).restored
    for k in ("rec_arm", "rec_state", "transport", "beat_time", "beat_origin", "tempo_source"):
        assert k not in restored
    assert restored["rec_start"] == 4.0  # 20 modulo the 8-beat loop: the same place in the bar
    back = controls(restored)
    assert loop_points(back) == loop_points(c) and back["rec_play"] == 1
    assert waypoints_from_controls(back) == waypoints_from_controls(c)
    assert back["lfo1_target"] == MOD_TARGETS.index("path_pos") and back["bpm"] == 100


def test_the_status_line_names_the_path_and_the_loop():
    from floweq_tui.automation import describe_running

    s = parse_scene(SCENE)
    c = controls(s.controls(anchors={"warm": (1.0, -0.5), "bright": (-1.0, 1.0)}, current=(0, 0)))
    text = describe_running(c)
    assert "path pos 0.30 (4 pts)" in text and "motion path_pos 8 beats" in text, text


@pytest.mark.slow
def test_headless_plays_a_path_through_four_anchors_from_a_scene(tmp_path):
    """The worked example: a path through four anchors, swept by a modulator on path_pos;
    headless names it and its latent point moves along the path."""
    import contextlib
    import queue
    import re
    import signal
    import subprocess
    import threading
    import time

    from test_scene import _cli

    cmd, env = _cli(tmp_path / "config")
    scene = tmp_path / "superknob.toml"
    scene.write_text(
        '[path]\npoints = ["warm", "bright", "thin", "full"]\n\n'
        '[[lfo]]\ntarget = "path_pos"\nshape = "triangle"\nrate = "1/2"\ndepth = 1\n'
    )
    proc = subprocess.Popen(
        [*cmd, "--headless", "--silent", "--no-midi", "--status-every", "0.3", "--mode",
         "traverse", "--scene", str(scene)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(s) for s in proc.stdout], daemon=True).start()
    seen: list[str] = []
    points: set[str] = set()
    try:
        deadline = time.monotonic() + 60.0
        while len(points) < 3:
            assert proc.poll() is None, f"exited early: {seen} {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"the point did not move: {seen}"
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=0.5)
                seen.append(line)
                if m := re.search(r"z \(([^)]*)\)", line):
                    points.add(m.group(1))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15.0) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = next(s for s in seen if "LUFS" in s)
    assert "path_pos triangle 1/2 d1.00" in status and "(4 pts)" in status, status


# ---------------------------------------------------------------- a gesture over two targets

XY_SCENE = """[recording]
target = "x"
beats = 4
points = [0.5, 1, 0.5, 0]
target2 = "y"
points2 = [1, 0.5, 0, 0.5]
"""

OLD_RECORDING = {"rec_play": 1.0, "rec_n": 2.0, "rec_target": 0.0, "rec_v0": 0.25,
                 "rec_v1": 0.75, "rec_beats": 4.0, "rec_start": 0.0}  # fmt: skip
"""A one-target loop as files written before the second lane held it (no rec_target2,
rec_lanes, rec_w*)."""


def test_a_scene_holds_a_gesture_over_two_targets_and_round_trips():
    c = controls(parse_scene(XY_SCENE).controls())
    assert c["rec_lanes"] == 2 and c["rec_target2"] == REC_TARGETS2.index("y")
    assert loop_points(c) == [0.5, 1, 0.5, 0] and loop_points(c, 1) == [1, 0.5, 0, 0.5]
    assert loop_targets(c) == (MOD_TARGETS.index("x"), MOD_TARGETS.index("y"))
    text = dump_scene(c)
    assert 'target2 = "y"' in text and "points2 = [1, 0.5, 0, 0.5]" in text
    again = controls(parse_scene(text).controls())
    np.testing.assert_allclose(again.array, c.array)
    # a one-target scene leaves one lane (and no second target), as before
    one_scene = '[recording]\ntarget = "path_pos"\npoints = [0, 0.5, 1, 0.5]\n'
    one = controls({**c.as_dict(), **parse_scene(one_scene).controls()})
    assert one["rec_lanes"] == 1 and one["rec_target2"] == 0 and loop_points(one, 1) == []
    assert "target2" not in dump_scene(one)


@pytest.mark.parametrize(
    "extra, where, what",
    [
        ('target2 = "y"\n', ":4:", "target2 and points2 go together"),
        ("points2 = [0, 1]\n", ":4:", "target2 and points2 go together"),
        ('target2 = "x"\npoints2 = [0, 1]\n', ":4:", "target2 is the target (x)"),
        ('target2 = "y"\npoints2 = [0, 1, 1]\n', ":5:", "list of 2 numbers"),
        ('target2 = "y"\npoints2 = [0, 2]\n', ":5:", "point 2 is outside"),
        ('target2 = "wobble"\npoints2 = [0, 1]\n', ":4:", "unknown target"),
    ],
)
def test_bad_second_lanes_are_one_line_with_the_line(extra, where, what):
    text = '[recording]\ntarget = "x"\npoints = [0, 1]\n' + extra
    with pytest.raises(SceneError) as err:
        parse_scene(text, "set.toml")
    msg = str(err.value)
    assert msg.startswith("set.toml" + where) and what in msg and "\n" not in msg, msg


def test_the_session_keeps_both_lanes_and_an_old_session_loads_as_one(tmp_path):
    c = controls(parse_scene(XY_SCENE).controls())
    path = tmp_path / "session.json"
    settings.save_session(settings.session_from_controls(c.as_dict(), [], []), path)
    back = controls(settings.Session.load([], [], path).restored)
    assert back["rec_lanes"] == 2 and loop_points(back, 1) == loop_points(c, 1)
    assert loop_targets(back) == loop_targets(c)
    # a session file from before the second lane: the loop of one target, as it was
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"version": 1, "controls": {"x": 0.5, **OLD_RECORDING}}))
    back = controls(settings.Session.load([], [], old).restored)
    assert loop_points(back) == [0.25, 0.75] and back["rec_play"] == 1
    assert loop_targets(back) == (0,) and back["rec_lanes"] == 1 and back["rec_target2"] == 0


def test_a_preset_keeps_both_lanes_and_an_old_preset_loads_as_one(tmp_path):
    from floweq_tui import presets

    c = controls(parse_scene(XY_SCENE).controls())
    p = presets.Preset.from_controls("drag", c.as_dict(), ["m"], [])
    presets.save(p, tmp_path)
    text = (tmp_path / "drag.toml").read_text()
    assert 'rec_target2 = "y"' in text and "rec_lanes = 2" in text and "rec_w1 = 0.5" in text
    back = controls(presets.load("drag", tmp_path).to_controls(["m"], [])[0])
    assert loop_points(back, 1) == loop_points(c, 1) and loop_targets(back) == loop_targets(c)
    # a preset written before the second lane (one target): it loads, as one lane
    (tmp_path / "old.toml").write_text(
        'version = 1\nmode = "traverse"\n\n[automation]\nrec_play = true\nrec_target = "x"\n'
        "rec_n = 2.0\nrec_v0 = 0.25\nrec_v1 = 0.75\n"
    )  # as the automation table of a preset saved before the second lane
    old = controls(presets.load("old", tmp_path).to_controls(["m"], [])[0])
    assert loop_points(old) == [0.25, 0.75] and old["rec_play"] == 1
    assert loop_targets(old) == (0,) and old["rec_lanes"] == 1 and old["rec_target2"] == 0


def test_the_status_line_names_both_targets():
    from floweq_tui.automation import describe_running

    text = describe_running(controls(parse_scene(XY_SCENE).controls()))
    assert "motion x+y 4 beats" in text, text
