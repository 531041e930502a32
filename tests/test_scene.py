"""Automation from the command line and scene files: --lfo, --bpm, --scene for render and
--headless, and one-line errors for bad flags and files."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import package_env

from floweq_tui import sources
from floweq_tui.automation import (
    ModSpecError,
    SceneError,
    describe_running,
    load_scene,
    parse_lfo,
    parse_rate,
    parse_scene,
)
from floweq_tui.controls import CONTROL_DEFAULTS, MOD_TARGETS, NOTE_INDEX, Controls
from floweq_tui.render import render_array

SR = 48000
SCENE = """\
# a slow warm-to-bright sweep every 4 bars, and a wobble on the output
bpm = 96

[[lfo]]
target = "x"
shape = "triangle"
rate = "4bar"
depth = 0.5

[[lfo]]
target = "out_gain"
shape = "sine"
rate = "1/8t"
depth = 0.05
phase = 90
unipolar = true

[figure]
shape = "orbit"
rate = "0.2hz"
depth = 0.3
ratio = 2
"""


def _cli(config_dir) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "floweq_tui"], package_env(XDG_CONFIG_HOME=str(config_dir))


@pytest.mark.parametrize(
    ("text", "sync", "value"),
    [("0.5hz", False, 0.5), ("20Hz", False, 20.0), ("0.01", False, 0.01), ("1/4", True, "1/4"),
     ("1/8t", True, "1/8t"), ("1/8.", True, "1/8."), ("2bar", True, "2bar"),
     ("8bars", True, "8bar"), ("1/32", True, "1/32")],
)  # fmt: skip
def test_rates_free_and_synced(text, sync, value):
    got = parse_rate(text)
    assert got == (sync, float(NOTE_INDEX[value]) if sync else value)


@pytest.mark.parametrize(
    "bad", ["x", "x:sine", "x:sine:1/4:0.5:9", "w:sine:1/4", "x:wobble:1/4", "x:sine:0hz",
            "x:sine:21hz", "x:sine:1/3", "x:sine:16bar", "x:sine:1/4:1.5", "x:sine:1/4:nan",
            "x:sine:fast"],
)  # fmt: skip
def test_bad_lfo_specs_are_one_line(bad):
    with pytest.raises(ModSpecError) as err:
        parse_lfo(bad)
    assert "\n" not in str(err.value) and bad in str(err.value)


def test_lfo_targets_by_name_and_parameter_key():
    assert parse_lfo("in-gain:saw:2hz").target == MOD_TARGETS.index("in_gain")
    assert parse_lfo("b3_freq:sh:1/16:0.2").target == MOD_TARGETS.index("p9")
    assert parse_lfo("p12:smooth:1bar:-0.3").depth == -0.3


def test_scene_file_fills_the_slots(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SCENE)
    scene = load_scene(path)
    values = scene.controls([parse_lfo("p0:square:1/4")])
    assert values["bpm"] == 96
    assert values["lfo1_target"] == MOD_TARGETS.index("x") and values["lfo1_sync"] == 1
    assert values["lfo1_note"] == NOTE_INDEX["4bar"] and values["lfo1_shape"] == 1
    assert values["lfo2_unipolar"] == 1 and values["lfo2_phase"] == 90
    assert values["lfo3_target"] == MOD_TARGETS.index("p0")  # the flags follow the scene's
    assert values["lfo4_on"] == 0
    assert values["fig_on"] == 1 and values["fig_rate"] == 0.2 and values["fig_ratio"] == 2
    c = Controls(CONTROL_DEFAULTS.copy())
    c.update(values)
    text = describe_running(c)
    assert text.startswith("96.0 BPM internal; mods: x triangle 4bar d0.50")
    assert "out_gain sine 1/8t d0.05 uni" in text and "orbit 0.2hz d0.30" in text
    assert describe_running(Controls(CONTROL_DEFAULTS.copy())) == "120.0 BPM internal; mods: none"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("bpm = 96\n[[lfo]]\ntarget = 'x'\nshape = 'wobble'\n", ":4:", "unknown shape"),
        ("[[lfo]]\ntarget = 'x'\n\n[[lfo]]\ntarget = 'y'\nrate = '1/5'\n", ":6:", "note value"),
        ("bpm = 500\n", ":1:", "bpm 500 is outside 20 to 300"),
        ("[[lfo]]\nshape = 'sine'\n", ":1:", "needs a target"),
        ("[figure]\nshape = 'orbit'\nratio = 9\n", ":3:", "ratio 9 is outside"),
        ("[figure]\nshape = 'square'\n", ":2:", "unknown shape"),
        ("tempo = 120\n", ":1:", "unknown key 'tempo'"),
        ("[[lfo]]\ntarget = 'x'\ndepht = 0.2\n", ":3:", "unknown key 'depht'"),
        ("[[lfo]]\ntarget = 'x'\nunipolar = 1\n", ":3:", "true or false"),
        ("[[lfo]]\ntarget = 'x'\nrate = \n", ":3:", "invalid TOML"),
        ("[lfo]\ntarget = 'x'\n", ":1:", "use [[lfo]]"),
        ("".join("[[lfo]]\ntarget = 'x'\n" for _ in range(5)), ":9:", "at most 4"),
    ],
)
def test_bad_scene_files_say_file_and_line_in_one_line(text, where, what):
    with pytest.raises(SceneError) as err:
        parse_scene(text, "s.toml")
    msg = str(err.value)
    assert msg.startswith(f"s.toml{where}") and what in msg and "\n" not in msg, msg


def test_scene_file_errors_for_missing_and_binary_files(tmp_path):
    with pytest.raises(SceneError, match="No such file"):
        load_scene(tmp_path / "none.toml")
    (tmp_path / "b.toml").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SceneError, match="not a text"):
        load_scene(tmp_path / "b.toml")


def test_cli_render_with_lfo_bpm_and_scene_equals_render_array(tmp_path):
    cmd, env = _cli(tmp_path / "config")
    src, out, scene = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "s.toml"
    sources.write_file(src, sources.demo_source(SR, 2, seconds=2.0), SR)
    scene.write_text(SCENE)
    done = subprocess.run(
        [*cmd, "render", str(src), str(out), "--mode", "manual", "--scene", str(scene),
         "--lfo", "p3:sine:1/8:0.4", "--bpm", "140", "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    values = load_scene(scene).controls([parse_lfo("p3:sine:1/8:0.4")])
    expected, _ = render_array(
        sources.load_file(src, SR, 2), SR, {"mode": 2, **values, "bpm": 140}, 512
    )
    plain, _ = render_array(sources.load_file(src, SR, 2), SR, {"mode": 2}, 512)
    rendered = sources.load_file(out, SR, 2)
    assert np.abs(rendered - expected).max() < 2.0**-22  # 24-bit file of the same render
    assert np.abs(expected - plain).max() > 0.01


def test_cli_render_of_a_two_target_recording_equals_render_array(tmp_path):
    """A gesture over two knobs (two lanes of one recording) renders from --scene as
    render_array plays it, and both lanes are heard."""
    cmd, env = _cli(tmp_path / "config")
    src, out, scene = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "s.toml"
    sources.write_file(src, sources.demo_source(SR, 2, seconds=2.0), SR)
    scene.write_text(
        'bpm = 120\n[recording]\ntarget = "p0"\nbeats = 4\npoints = [0, 1, 0.5, 1]\n'
        'target2 = "p2"\npoints2 = [1, 0, 1, 0.2]\n'
    )
    done = subprocess.run(
        [*cmd, "render", str(src), str(out), "--mode", "manual", "--scene", str(scene), "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    values = {"mode": 2, **load_scene(scene).controls()}
    assert values["rec_lanes"] == 2
    x = sources.load_file(src, SR, 2)
    expected, _ = render_array(x, SR, values, 512)
    one, _ = render_array(x, SR, {**values, "rec_lanes": 1}, 512)
    rendered = sources.load_file(out, SR, 2)
    assert np.abs(rendered - expected).max() < 2.0**-22  # 24-bit file of the same render
    assert np.abs(expected - one).max() > 0.01


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        (["--lfo", "x:sine"], "--lfo 'x:sine': expected TARGET:SHAPE:RATE[:DEPTH]"),
        (["--lfo", "x:sine:1/7"], "--lfo 'x:sine:1/7': rate"),
        (["--bpm", "5"], "--bpm 5 is outside 20 to 300 BPM"),
        (["--scene", "MISSING"], "--scene "),
        (["--scene", "BAD"], "BAD.toml:2: [[lfo]] unknown target 'q'"),
        (["--lfo", "x:sine:1/4"] * 5, "5 modulators given: at most 4"),
    ],
)
def test_cli_bad_automation_flags_are_one_line(tmp_path, extra, what):
    cmd, env = _cli(tmp_path / "config")
    src = tmp_path / "in.wav"
    sources.write_file(src, sources.demo_source(SR, 1, seconds=0.2), SR)
    (tmp_path / "BAD.toml").write_text("[[lfo]]\ntarget = 'q'\n")
    extra = [
        str(tmp_path / "BAD.toml")
        if e == "BAD"
        else str(tmp_path / "no.toml")
        if e == "MISSING"
        else e
        for e in extra
    ]
    done = subprocess.run(
        [*cmd, "render", str(src), str(tmp_path / "out.wav"), "--mode", "manual", *extra, "-q"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("floweq-tui: error:"), done.stderr
    assert what.replace("BAD.toml", "") in lines[0], lines[0]
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.slow
def test_headless_takes_the_flags_and_says_tempo_source_and_modulators(tmp_path):
    cmd, env = _cli(tmp_path / "config")
    scene = tmp_path / "s.toml"
    scene.write_text(SCENE)
    proc = subprocess.Popen(
        [*cmd, "--headless", "--silent", "--no-midi", "--status-every", "0.5", "--scene",
         str(scene), "--lfo", "y:square:1/4:0.2", "--bpm", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(s) for s in proc.stdout], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60.0
        while not any("LUFS" in s for s in seen):
            assert proc.poll() is None, f"exited early: {seen} {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"no status line: {seen}"
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.5))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15.0) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = next(s for s in seen if "LUFS" in s)
    assert "tempo 100.0 BPM internal; mods: x triangle 4bar d0.50" in status, status
    assert "y square 1/4 d0.20" in status and "orbit 0.2hz d0.30" in status, status
    assert any(s.startswith("floweq-tui:  tempo 100.0 BPM") for s in seen), seen


def test_the_scene_files_in_the_docs_are_valid():
    import re
    import textwrap
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "automation.md").read_text()
    blocks = re.findall(r"\n((?:    .*\n|\n)+)", doc)
    tables = ("[[lfo]]", "[figure]", "[path]", "[recording]")
    scenes = [textwrap.dedent(b) for b in blocks if any(t in b for t in tables)]
    scenes = [s.split("floweq-tui")[0] for s in scenes]  # a command line after the file
    assert len(scenes) >= 5
    for text in scenes:
        parse_scene(text, "docs")
    for flag in re.findall(r"--lfo (\S+)", doc):
        if "TARGET" not in flag:
            parse_lfo(flag)
