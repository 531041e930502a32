"""Preset morphs in the engine's processor: in latent space between two points of one model,
in parameter space otherwise, timed in samples (ms or beats), click-free."""

from __future__ import annotations

import numpy as np
import pytest

from floweq_tui import _dsp, eqmath
from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE, Controls, Meters
from floweq_tui.presets import recall
from floweq_tui.vae import core_models

MODELS = core_models()
FS = 48000
BLOCK = 128


def make(**controls):
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"model": MODELS.default_index, **controls})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(
        1, float(FS), BLOCK, ctl, met, MODELS.decoders, MODELS.anchors, wall_clock=False
    )
    return proc, Controls(ctl), Meters(met)


def step(proc, frames, x=None):
    """Run ``frames`` of silence (or of ``x``) through the processor; returns the output."""
    x = np.zeros((frames, 1), np.float32) if x is None else x
    out = np.zeros_like(x)
    for i in range(0, frames, BLOCK):
        proc.process(x[i : i + BLOCK], out[i : i + BLOCK])
    return out


def response_db(proc, freqs):
    """The cascade's magnitude response now (dB) at ``freqs``."""
    h = eqmath.sos_response(np.asarray(proc.cascade.sos), freqs, FS)
    return 20 * np.log10(np.abs(h))


def test_latent_morph_walks_the_map_in_time():
    """x -1.5 -> +1.5 over 500 ms: the point in effect moves linearly, ending on the target."""
    assert MODELS.decoders, MODELS.error
    proc, ctl, met = make(mode=0, x=-1.5, y=0.5, morph_ms=500.0)
    step(proc, 4 * BLOCK)
    recall(ctl, {"x": 1.5, "y": 0.5})
    xs = []
    for _ in range(0, int(0.6 * FS), BLOCK):
        step(proc, BLOCK)
        xs.append(met["zx"])
    xs = np.array(xs)
    assert np.all(np.diff(xs) >= -1e-9)  # monotonic
    half = int(0.25 * FS) // BLOCK
    assert xs[half] == pytest.approx(0.0, abs=0.05)  # linear in time
    assert xs[int(0.1 * FS) // BLOCK] == pytest.approx(-1.5 + 3 * 0.2, abs=0.05)
    assert xs[-1] == 1.5 and met["zy"] == pytest.approx(0.5)


def test_latent_morph_between_modes_of_one_model_and_by_beats():
    """Semantic (warm -> bright at 0) to a traverse point of the same model, over 2 beats at
    90 BPM (1.333 s): the latent point in effect passes the midpoint of the two at half."""
    proc, ctl, met = make(mode=1, anchor_a=0, anchor_b=4, interpolate=0.0, bpm=90.0,
                          morph_beats=2.0, morph_ms=10.0)  # fmt: skip
    step(proc, 4 * BLOCK)
    z0 = np.array([met["zx"], met["zy"]])
    recall(ctl, {"mode": 0, "x": 1.0, "y": -1.0})
    length = 2 * 60 / 90 * FS
    step(proc, int(length / 2) // BLOCK * BLOCK)
    mid = np.array([met["zx"], met["zy"]])
    want = z0 + (np.array([1.0, -1.0]) - z0) * (int(length / 2) // BLOCK * BLOCK) / length
    assert mid == pytest.approx(want, abs=0.02)
    step(proc, int(length / 2) + 4 * BLOCK)
    assert (met["zx"], met["zy"]) == (1.0, -1.0)


def test_parameter_morph_between_manual_and_a_model():
    """Manual (+6 dB everywhere) -> traverse: no common latent point, so the EQ moves in
    parameter space; halfway, the gains are halfway in dB."""
    flat = dict(p0=6.0, p2=6.0, p5=6.0, p8=6.0, p11=6.0)
    proc, ctl, met = make(mode=2, glide_ms=1.0, morph_ms=400.0, **flat)
    step(proc, 4 * BLOCK)
    freqs = np.geomspace(30, 16000, 40)
    before = response_db(proc, freqs)
    # where the morph goes: the same settings, recalled without a morph
    ref, rctl, _ = make(mode=0, x=1.2, y=-0.8, glide_ms=1.0)
    step(ref, 4 * BLOCK)
    after = response_db(ref, freqs)
    recall(ctl, {"mode": 0, "x": 1.2, "y": -0.8})
    step(proc, int(0.2 * FS) // BLOCK * BLOCK)
    mid = response_db(proc, freqs)
    # strictly between, not at either end
    assert np.max(np.abs(mid - before)) > 1.0 and np.max(np.abs(mid - after)) > 1.0
    lo, hi = np.minimum(before, after) - 1.0, np.maximum(before, after) + 1.0
    assert np.all((mid >= lo) & (mid <= hi))
    step(proc, int(0.25 * FS))
    assert response_db(proc, freqs) == pytest.approx(after, abs=0.01)
    assert met["mode"] == 0


def test_band_switches_and_strength_fade_during_a_morph():
    """A band switched off by the recall fades to 0 dB over the morph, not in one glide."""
    proc, ctl, met = make(mode=2, p0=12.0, p1=100.0, glide_ms=1.0, morph_ms=400.0)
    step(proc, 4 * BLOCK)
    f = np.array([40.0])
    assert response_db(proc, f)[0] > 10
    recall(ctl, {"active0": 0.0})
    step(proc, int(0.2 * FS) // BLOCK * BLOCK)
    assert 4.0 < response_db(proc, f)[0] < 8.0
    step(proc, int(0.25 * FS))
    assert abs(response_db(proc, f)[0]) < 0.01


def test_morph_zero_is_a_recall_through_the_glide():
    proc, ctl, met = make(mode=0, x=-1.0, glide_ms=20.0)
    step(proc, 4 * BLOCK)
    recall(ctl, {"x": 1.0})
    step(proc, BLOCK)
    assert met["zx"] == 1.0


def test_a_knob_during_a_morph_moves_the_target():
    """The morph heads for the controls as they are each moment: a control moved midway
    is where it ends."""
    proc, ctl, met = make(mode=0, x=0.0, morph_ms=200.0)
    step(proc, 4 * BLOCK)
    recall(ctl, {"x": 2.0})
    step(proc, int(0.1 * FS) // BLOCK * BLOCK)
    ctl["x"] = -2.0
    step(proc, int(0.15 * FS))
    assert met["zx"] == -2.0


@pytest.mark.parametrize("morph_ms", [50.0, 500.0])
def test_a_morph_across_the_map_is_click_free(morph_ms):
    """A 200 Hz tone while the sound morphs between opposite corners: the 4 kHz residual
    (tests/test_processor.py's click measure) stays 70 dB down."""
    from test_processor import hf_residual_db, tone

    x = tone(FS, 1.5, 200, -20, 1)
    proc, ctl, _ = make(mode=0, x=-2.0, y=-2.0, morph_ms=morph_ms)
    out = np.zeros_like(x)
    flip = 1.0
    for i in range(0, len(x), BLOCK):
        if i and i % int(0.3 * FS) < BLOCK:  # a new recall every 300 ms, some mid-morph
            recall(ctl, {"x": 2.0 * flip, "y": 2.0 * flip, "mode": 0.0 if flip > 0 else 2.0})
            flip = -flip
        proc.process(x[i : i + BLOCK], out[i : i + BLOCK])
    assert hf_residual_db(out[:, 0], FS, 0.1, FS // 5) < -70


def test_the_running_engine_morphs_on_its_own_clock():
    """The real engine process (silent clock): a recall with a 1.5 s morph is followed by
    the engine alone; the point in effect passes through the middle of the map in order."""
    import time

    from floweq_tui.engine import Engine, EngineConfig

    eng = Engine(EngineConfig(silent=True, midi=False), mode=0, x=-1.5, morph_ms=1500.0)
    eng.start()
    try:
        deadline = time.monotonic() + 20
        while eng.meters["zx"] != -1.5 and time.monotonic() < deadline:
            time.sleep(0.01)
        recall(eng.controls, {"x": 1.5})
        seen = []
        while eng.meters["zx"] != 1.5 and time.monotonic() < deadline:
            seen.append(eng.meters["zx"])
            time.sleep(0.02)
        assert eng.meters["zx"] == 1.5
        inner = [v for v in seen if -1.2 < v < 1.2]
        assert len(inner) >= 5, seen  # many steps on the way, not a jump
        assert inner == sorted(inner)
    finally:
        eng.stop()
