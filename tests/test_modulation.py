"""Modulators in the engine's core: shapes, rates (free and synced), the centre, clamping,
figures, the beat, determinism and click-freeness (docs/automation.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss

from floweq_tui import _dsp
from floweq_tui.automation import parse_lfo
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    CONTROL_INDEX,
    CONTROL_SPECS,
    METERS_SIZE,
    MOD_SHAPES,
    MOD_TARGETS,
    NOTE_INDEX,
    Controls,
    Meters,
)
from floweq_tui.render import render_array
from floweq_tui.vae import core_models

REPO = Path(__file__).resolve().parents[1]
FS = 48000
SHAPE = {name: i for i, name in enumerate(MOD_SHAPES)}


def make(fs=FS, block=64, wall_clock=False, seed=0x5EED, **controls):
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"mode": 2, **controls})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(2, float(fs), block, ctl, met, wall_clock=wall_clock, seed=seed)
    return proc, Controls(ctl), Meters(met)


def lfo(slot=1, target="x", shape="sine", depth=0.5, **kw):
    """Controls of one modulator (rate in Hz, or note=NAME for synced)."""
    p = f"lfo{slot}"
    out = {
        f"{p}_on": 1,
        f"{p}_target": MOD_TARGETS.index(target),
        f"{p}_shape": SHAPE[shape],
        f"{p}_depth": depth,
    }
    if "note" in kw:
        out[f"{p}_sync"] = 1
        out[f"{p}_note"] = NOTE_INDEX[kw.pop("note")]
    out.update({f"{p}_{k}": v for k, v in kw.items()})
    return out


def trace(proc, met, seconds, block=64, meters=("lfo1_value",), on_block=None):
    """Each block's meters (taken after the block: evaluated at its start) over ``seconds``."""
    n = int(seconds * FS) // block
    buf = np.zeros((block, 2), np.float32)
    out = np.zeros((n, len(meters)))
    for k in range(n):
        if on_block is not None:
            on_block(k)
        proc.process(buf, buf)
        out[k] = [met[m] for m in meters]
    return out


def test_every_shape_has_its_waveform():
    c = np.arange(0, 3, 1 / 64)
    ph = c % 1
    wave = {s: _dsp.mod_wave(i, c) for s, i in SHAPE.items()}
    np.testing.assert_allclose(wave["sine"], np.sin(2 * np.pi * ph), atol=1e-12)
    np.testing.assert_allclose(wave["saw_up"], 2 * ph - 1, atol=1e-12)
    np.testing.assert_allclose(wave["saw_down"], 1 - 2 * ph, atol=1e-12)
    np.testing.assert_array_equal(wave["square"], np.where(ph < 0.5, 1.0, -1.0))
    tri = np.interp(ph, [0, 0.25, 0.75, 1], [0, 1, -1, 0])
    np.testing.assert_allclose(wave["triangle"], tri, atol=1e-12)
    sh = wave["sample_hold"].reshape(3, 64)
    assert np.all(sh == sh[:, :1]) and len(set(sh[:, 0])) == 3  # held per cycle, new each cycle
    smooth = wave["smooth_random"].reshape(3, 64)
    np.testing.assert_allclose(smooth[:, 0], sh[:, 0])  # passes the held values on cycle starts
    assert np.abs(np.diff(wave["smooth_random"])).max() < 0.1  # and glides between them
    many = _dsp.mod_wave(SHAPE["sample_hold"], np.arange(20000.0))
    assert -1 <= many.min() < -0.99 and 0.99 < many.max() <= 1 and abs(many.mean()) < 0.02
    assert not np.array_equal(many, _dsp.mod_wave(SHAPE["sample_hold"], np.arange(20000.0), 7))


@pytest.mark.parametrize("rate", [0.5, 2.0, 20.0])
def test_free_rate_in_hz(rate):
    proc, _, met = make(**lfo(shape="sine", rate=rate, depth=0.5))
    x = trace(proc, met, 1.0)[:, 0]
    t = np.arange(len(x)) * 64 / FS
    np.testing.assert_allclose(x, np.sin(2 * np.pi * rate * t), atol=1e-9)  # x in -2..2: +-1


def test_synced_quarter_at_120_bpm_is_half_a_second_starting_on_beats():
    proc, _, met = make(bpm=120, **lfo(shape="saw_up", note="1/4", depth=1.0))
    out = trace(proc, met, 2.0, meters=("lfo1_value", "beat", "bpm_now"))
    x, beat = out[:, 0], out[:, 1]
    t = np.arange(len(x)) * 64 / FS
    np.testing.assert_allclose(beat, 2.0 * t, atol=1e-9)
    assert np.all(out[:, 2] == 120)
    np.testing.assert_allclose(x, -2 + 4 * ((t / 0.5) % 1), atol=1e-9)  # full range, 0.5 s
    starts = np.flatnonzero(np.diff(x) < 0) + 1  # where the saw falls back: a new cycle
    np.testing.assert_allclose(t[starts], 0.5 * np.arange(1, len(starts) + 1))  # on the beats


@pytest.mark.parametrize(("note", "beats"), [("2bar", 8), ("1/8t", 1 / 3), ("1/8.", 0.75)])
def test_note_values_dotted_and_triplet(note, beats):
    proc, _, met = make(bpm=90, **lfo(shape="saw_up", note=note, depth=1.0))
    x = trace(proc, met, 6.0 if beats > 1 else 1.0)[:, 0]
    t = np.arange(len(x)) * 64 / FS
    np.testing.assert_allclose(x, -2 + 4 * ((t * 1.5 / beats) % 1), atol=1e-6)


def test_phase_unipolar_and_negative_depth():
    proc, _, met = make(**lfo(shape="sine", rate=1.0, depth=0.25, phase=90, unipolar=1))
    x = trace(proc, met, 1.0)[:, 0]
    t = np.arange(len(x)) * 64 / FS
    np.testing.assert_allclose(x, 0.5 * (np.cos(2 * np.pi * t) + 1), atol=1e-9)  # 0 .. +1
    proc, _, met = make(**lfo(shape="saw_up", rate=1.0, depth=-0.5))
    x = trace(proc, met, 0.5)[:, 0]
    t = np.arange(len(x)) * 64 / FS
    np.testing.assert_allclose(x, 1 - 2 * t, atol=1e-9)  # inverted


def test_the_centre_is_the_control_and_the_sweep_is_clamped():
    proc, ctl, met = make(**lfo(shape="square", rate=1.0, depth=0.5))

    def move(k):
        if k == 750:  # after a second: a knob moves x to 1.5
            ctl["x"] = 1.5

    x = trace(proc, met, 2.0, on_block=move)[:, 0]
    assert set(np.round(x[:750], 9)) == {1.0, -1.0}  # centre 0, +-1
    assert set(np.round(x[750:], 9)) == {2.0, 0.5}  # centre 1.5: 2.5 clamped to the range
    assert ctl["x"] == 1.5  # the control itself is never written


def test_log_targets_sweep_in_octaves_and_gains_in_db():
    i = MOD_TARGETS.index("p3")  # band 1 freq, 82-3900 Hz
    spec = CONTROL_SPECS[CONTROL_INDEX["p3"]]
    proc, _, met = make(**lfo(target="p3", shape="square", rate=1.0, depth=0.2), p3=650.0)
    f = trace(proc, met, 1.0)[:, 0]
    span = np.log(spec.max / spec.min) * 0.1
    assert set(np.round(f, 6)) == set(np.round(650 * np.exp([span, -span]), 6)), i
    proc, _, met = make(**lfo(target="out_gain", shape="square", rate=1.0, depth=0.25))
    g = trace(proc, met, 1.0)[:, 0]
    assert set(np.round(g, 9)) == {6.0, -6.0}  # a quarter of 48 dB


def test_modulated_manual_parameters_reach_the_eq():
    proc, _, met = make(**lfo(target="p0", shape="square", rate=2.0, depth=0.5))
    p0 = trace(proc, met, 1.0, meters=("p0", "lfo1_value"))
    np.testing.assert_array_equal(p0[:, 0], p0[:, 1])  # the parameter in effect
    assert set(p0[:, 0]) == {6.0, -6.0}


def test_two_modulators_on_one_target_add():
    c = {
        **lfo(1, shape="square", rate=1.0, depth=0.25),
        **lfo(2, shape="square", rate=1.0, depth=0.25),
    }
    proc, _, met = make(**c)
    x = trace(proc, met, 1.0, meters=("mod_x",))[:, 0]
    assert set(np.round(x, 9)) == {1.0, -1.0}  # each +-0.5


def test_orbit_figure_eight_and_walk():
    fig = {"fig_on": 1, "fig_rate": 1.0, "fig_depth": 0.5}
    proc, _, met = make(**fig)
    xy = trace(proc, met, 1.0, meters=("mod_x", "mod_y"))
    t = np.arange(len(xy)) * 64 / FS
    np.testing.assert_allclose(xy[:, 0], np.sin(2 * np.pi * t), atol=1e-9)
    np.testing.assert_allclose(xy[:, 1], np.cos(2 * np.pi * t), atol=1e-9)  # 90 degrees apart
    proc, _, met = make(**fig, fig_ratio=2.0, fig_aspect=0.5)
    xy = trace(proc, met, 1.0, meters=("mod_x", "mod_y"))
    np.testing.assert_allclose(xy[:, 1], 0.5 * np.cos(4 * np.pi * t), atol=1e-9)  # any ratio
    proc, _, met = make(**fig, fig_shape=1)
    xy = trace(proc, met, 1.0, meters=("mod_x", "mod_y"))
    np.testing.assert_allclose(xy[:, 1], np.sin(4 * np.pi * t), atol=1e-9)  # a figure-eight
    proc, ctl, met = make(fig_on=1, fig_shape=2, fig_rate=4.0, fig_depth=0.5, x=1.5, y=-1.0)
    xy = trace(proc, met, 20.0, meters=("mod_x", "mod_y"))
    assert xy[:, 0].min() >= 0.5 - 1e-9 and xy[:, 0].max() <= 2.0  # inside its square and
    assert xy[:, 1].min() >= -2.0 and xy[:, 1].max() <= 0.0 + 1e-9  # inside the map
    assert np.ptp(xy[:, 0]) > 0.8 and np.ptp(xy[:, 1]) > 1.2  # and it wanders
    assert np.abs(np.diff(xy, axis=0)).max() < 0.05  # without jumps


def test_stopped_transport_holds_synced_modulators_and_the_beat():
    proc, ctl, met = make(**lfo(shape="saw_up", note="1/4", depth=1.0))
    trace(proc, met, 0.3)
    ctl["transport"] = 0
    held = trace(proc, met, 0.3, meters=("lfo1_value", "beat"))
    assert np.all(held == held[0])


def test_beat_follows_an_external_anchor_and_a_reset_starts_the_song():
    proc, ctl, met = make(tempo_source=1, bpm=150, beat_origin=10.0, beat_time=1.0)
    beat = trace(proc, met, 2.0, meters=("beat",))[:, 0]
    t = np.arange(len(beat)) * 64 / FS
    np.testing.assert_allclose(beat, 10 + (t - 1) * 2.5, atol=1e-9)
    proc, ctl, met = make(bpm=120)
    trace(proc, met, 1.0)
    proc.reset()
    assert proc.beat_position == 0.0
    assert trace(proc, met, 0.01, meters=("beat",))[0, 0] == 0.0


def test_internal_clock_reanchors_when_a_writer_moves_the_anchor():
    proc, ctl, met = make(bpm=120)
    trace(proc, met, 1.0)  # beat 2 by the samples
    ctl.update({"beat_time": 1.0, "beat_origin": 8.0, "bpm": 60})  # t = 1 s now: beat 8
    beat = trace(proc, met, 1.0, meters=("beat",))[:, 0]
    t = np.arange(len(beat)) * 64 / FS
    np.testing.assert_allclose(beat, 8 + t, atol=1e-9)


def test_render_is_deterministic_and_follows_the_seed():
    rng = np.random.default_rng(3)
    x = (0.2 * rng.standard_normal((FS, 2))).astype(np.float32)
    c = {
        "mode": 2,
        **lfo(1, "p2", "sample_hold", 1.0, note="1/16"),
        **lfo(2, "p3", "smooth_random", 0.8, rate=7.0),
        **lfo(3, "in_gain", "triangle", 0.2, rate=3.0),
    }
    a, _ = render_array(x, FS, c, blocksize=256)
    b, _ = render_array(x, FS, c, blocksize=256)
    np.testing.assert_array_equal(a, b)
    plain, _ = render_array(x, FS, {"mode": 2}, blocksize=256)
    assert np.abs(a - plain).max() > 0.01  # it did modulate


def test_modulation_glides_and_stays_click_free():
    """A 5 Hz sweep across the map (x and y, square and sine) through the glide path: the
    residual above 4 kHz for a low sine stays 70 dB down (the measure of tests/test_dsp.py)."""
    models = core_models()
    if not models.names:
        pytest.skip(f"no models shipped: {models.error}")
    amp = 0.1
    t = np.arange(2 * FS) / FS
    x = np.repeat((amp * np.sin(2 * np.pi * 200 * t)).astype(np.float32)[:, None], 2, axis=1)
    c = {"mode": 0, **lfo(1, "x", "sine", 1.0, rate=5.0), **lfo(2, "y", "square", 1.0, rate=5.0)}
    y, _ = render_array(x, FS, c, blocksize=128)
    hp = ss.butter(8, 4000, "hp", fs=FS, output="sos")
    r = ss.sosfilt(hp, y[:, 0].astype(np.float64))[FS // 10 :]
    assert 20 * np.log10(np.abs(r).max() / amp) < -70
    # at glide 0 (the shortest glide, 5 ms) the same square is far harsher: it did go through
    # the glide above
    y0, _ = render_array(x, FS, {**c, "glide_ms": 0}, blocksize=128)
    r0 = ss.sosfilt(hp, y0[:, 0].astype(np.float64))[FS // 10 :]
    assert np.abs(r0).max() > 3 * np.abs(r).max()


def test_lfo_flag_values_drive_the_processor():
    spec = parse_lfo("out_gain:square:1/4:0.25")
    proc, _, met = make(**spec.controls(1))
    g = trace(proc, met, 1.0)[:, 0]
    assert g[0] == 6.0 and g[int(0.26 * FS / 64)] == -6.0


def test_mod_kernel_compiles_without_warnings(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to compile mod_kernel.c")
    flags = ["-Wall", "-Wextra", "-Werror", "-O2", f"-I{REPO}", "-c"]
    done = subprocess.run(
        [cc, *flags, str(REPO / "mod_kernel.c"), "-o", str(tmp_path / "m.o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


PARITY = {
    "mode": 2,
    "in_gain": 2.0,
    **lfo(1, "p0", "sample_hold", 0.8, note="1/16"),
    **lfo(2, "p3", "smooth_random", 0.6, rate=3.0),
    **lfo(3, "in_gain", "triangle", 0.1, note="1/8t"),
    **lfo(4, "out_gain", "square", 0.05, rate=5.0, phase=45),
    "bpm": 133,
}


@pytest.mark.parametrize("fig_shape", [0, 2])
def test_streaming_with_modulators_equals_the_render(fig_shape):
    """The live path (a source loaded with a reset, after running on something else, with a
    wall clock) gives the samples of the offline render, modulators and figure included."""
    models = core_models()
    block = 128
    rng = np.random.default_rng(11)
    x = (0.1 * rng.standard_normal((FS, 2))).astype(np.float32)
    c = {**PARITY, "fig_on": 1, "fig_shape": fig_shape, "fig_rate": 3.0, "fig_depth": 0.4}
    if models.names:
        c["mode"] = 0
    rendered, _ = render_array(x, FS, c, blocksize=block)
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"model": models.default_index, **c})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(2, float(FS), block, ctl, met, models.decoders, models.anchors)
    silence = np.zeros((block, 2), np.float32)
    for _ in range(37):  # running, modulating, on something else first
        proc.process(silence, silence)
    proc.set_source(x, reset=True, capture=len(x))
    while proc.capture is None:
        proc.process(None, silence)
    assert np.abs(rendered - x).max() > 0.01
    np.testing.assert_array_equal(proc.capture, rendered)
