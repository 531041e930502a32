"""The engine's signal chain (_dsp.Processor) in-process: loudness, auto gain, safety, modes.

These run the exact code the audio callback runs, block by block, without a stream; the
real stream on the JACK dummy server is covered by tests/test_engine.py.
"""

from __future__ import annotations

import time

import numpy as np
import pyloudnorm as pyln
import pytest
import scipy.signal as ss

from floweq_tui import _dsp, eqmath, params
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    CONTROL_INDEX,
    METER_INDEX,
    METERS_SIZE,
    N_CONTROLS,
    N_METERS,
    Controls,
    Meters,
)
from floweq_tui.render import render_array


def make(channels=2, fs=48000, block=128, decoders=(), anchors=(), **controls):
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"mode": 2, **controls})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(channels, float(fs), block, ctl, met, decoders, anchors)
    return proc, Controls(ctl), Meters(met)


def run(proc, x, block):
    """Feed x (frames, ch) as input, block by block; returns the output."""
    out = np.zeros_like(x)
    for i in range(0, len(x), block):
        proc.process(x[i : i + block], out[i : i + block])
    return out


def short_term_reference(x, fs):
    """pyloudnorm over exactly 3 s (one 3 s block: ungated short-term loudness)."""
    return pyln.Meter(fs, block_size=3.0).integrated_loudness(np.asarray(x, np.float64))


def test_shared_slots_mirror_the_python_layout():
    for name, slot in _dsp.CONTROL_SLOTS.items():
        assert slot == (N_CONTROLS if name == "_count" else CONTROL_INDEX[name]), name
    for name, slot in _dsp.METER_SLOTS.items():
        assert slot == (N_METERS if name == "_count" else METER_INDEX[name]), name


def test_k_weighting_matches_pyloudnorm_filters():
    for fs in (44100, 48000, 96000):
        meter = pyln.Meter(fs)
        ours = eqmath.k_weighting_sos(fs)
        for row, f in zip(ours, meter._filters.values(), strict=True):
            np.testing.assert_allclose(row[:3], f.b, rtol=1e-12)
            np.testing.assert_allclose(row[3:], f.a, rtol=1e-12)


# ---------------------------------------------------------------- loudness (BS.1770)


def tone(fs, seconds, freq, dbfs, channels=2):
    t = np.arange(int(fs * seconds)) / fs
    x = 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


@pytest.mark.parametrize(
    "freq,dbfs,channels", [(1000, -20, 2), (100, -12, 1), (5000, -30, 2), (997, -6, 5)]
)
def test_short_term_loudness_matches_pyloudnorm_on_tones(freq, dbfs, channels):
    fs = 48000
    step = fs // 10  # blocks of 100 ms end exactly on the meter's steps
    x = tone(fs, 4.0, freq, dbfs, channels)
    proc, _, m = make(channels, fs, step)
    run(proc, x, step)
    assert abs(m["lufs_in"] - short_term_reference(x[-3 * fs :], fs)) < 0.1


def test_short_term_window_is_3_s_on_a_tone_burst():
    """BS.1770 short-term loudness averages the last 3 s: a burst leaves the window exactly
    3 s after it ends, and meanwhile reads L_tone + 10 log10(overlap / 3 s). (Steady tones
    cannot tell a 400 ms momentary window from a 3 s one; this can, without ../shared.)"""
    fs, step = 48000, 4800
    burst = tone(fs, 2.0, 1000, -20, 2)
    x = np.concatenate([np.zeros((fs, 2), np.float32), burst, np.zeros((3 * fs, 2), np.float32)])
    proc, _, m = make(2, fs, step)
    l_tone = short_term_reference(tone(fs, 3.0, 1000, -20, 2), fs)
    out = np.zeros_like(x)
    readings = {}
    for i in range(0, len(x), step):
        proc.process(x[i : i + step], out[i : i + step])
        readings[round((i + step) / fs, 1)] = (m["lufs_in"], m["lufs_out"])
    # the burst is 1-3 s; the window at T is [T - 3, T]
    for t, overlap in ((3.0, 2.0), (3.5, 2.0), (4.0, 2.0), (4.5, 1.5), (5.0, 1.0), (5.5, 0.5)):
        expected = l_tone + 10 * np.log10(overlap / 3.0)
        ref = short_term_reference(x[int((t - 3) * fs) : int(t * fs)], fs)
        assert abs(ref - expected) < 0.05, (t, ref, expected)  # the analytic value holds
        for meter in readings[t]:
            assert abs(meter - ref) < 0.1, f"at {t} s: {meter:.2f} LUFS, BS.1770 says {ref:.2f}"
    assert readings[6.0][0] < -70.0 and readings[6.0][1] < -70.0  # 3 s after the burst: gone
    assert readings[5.9][0] > -70.0  # ... and not before


def test_short_term_loudness_matches_pyloudnorm_on_real_music(piano):
    data, fs = piano
    step = fs // 10
    proc, ctl, m = make(data.shape[1], fs, step, p5=9.0, p6=2500.0)  # a band-2 boost
    frames = (len(data) // step) * step
    out = run(proc, data[:frames], step)
    ref_in = short_term_reference(data[frames - 3 * fs : frames], fs)
    eq_out = ss.sosfilt(eqmath.design(ctl.params, fs), data[:frames].astype(np.float64), axis=0)
    ref_out = short_term_reference(eq_out[frames - 3 * fs :], fs)
    assert abs(m["lufs_in"] - ref_in) < 0.1
    assert abs(m["lufs_out"] - ref_out) < 0.1
    assert ref_out > ref_in + 1.0  # the boost is real
    assert np.all(np.isfinite(out))


# ---------------------------------------------------------------- auto gain


def noise(fs, seconds, dbfs, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(fs * seconds), channels))
    x *= 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2))
    return x.astype(np.float32)


def test_auto_gain_matches_output_loudness_to_input():
    fs = 48000
    x = noise(fs, 12.0, -26)
    proc, _, m = make(2, fs, 256, p0=12.0, p1=300.0, p5=12.0, p6=2000.0, p11=10.0,
                      auto_gain=1, auto_time=0.3, auto_range=24.0)  # fmt: skip
    out = run(proc, x, 256)
    tail = slice(len(x) - 3 * fs, len(x))
    l_in, l_out = short_term_reference(x[tail], fs), short_term_reference(out[tail], fs)
    assert abs(l_out - l_in) < 0.5
    assert -24.0 <= m["auto_gain_db"] < -3.0  # it had real work to do


def test_auto_gain_stays_inside_its_range():
    fs = 48000
    x = noise(fs, 8.0, -30)
    proc, _, m = make(2, fs, 256, p0=12.0, p5=12.0, p11=12.0,
                      auto_gain=1, auto_time=0.1, auto_range=2.0)  # fmt: skip
    seen = []
    out = np.zeros_like(x)
    for i in range(0, len(x), 256):
        proc.process(x[i : i + 256], out[i : i + 256])
        seen.append(m["auto_gain_db"])
    assert min(seen) >= -2.0 - 1e-9 and max(seen) <= 2.0 + 1e-9
    assert seen[-1] == pytest.approx(-2.0, abs=0.05)


def test_auto_gain_changes_are_click_free():
    """The applied gain ramps across each block: no step in a steady sine's envelope."""
    fs, block = 48000, 128
    x = tone(fs, 6.0, 200, -20)
    proc, ctl, _ = make(2, fs, block, p0=12.0, p1=800.0, auto_gain=1, auto_time=0.05)
    out = run(proc, x, block)
    hp = ss.butter(8, 4000, "hp", fs=fs, output="sos")
    residual = ss.sosfilt(hp, out[:, 0].astype(np.float64))[fs // 2 :]
    assert 20 * np.log10(np.abs(residual).max() / 0.1) < -70


# ---------------------------------------------------------------- output safety


def test_output_never_exceeds_full_scale_and_counts_limiting():
    fs = 48000
    x = noise(fs, 2.0, -3)
    proc, _, m = make(2, fs, 128, in_gain=24.0, out_gain=24.0, p0=12.0, p5=12.0)
    out = run(proc, x, 128)
    assert np.abs(out).max() <= _dsp.OUTPUT_CEILING + 1e-7
    assert m["limited"] > 0
    assert m["limiter_db"] < 0


def test_non_finite_input_never_reaches_the_output():
    fs = 48000
    x = noise(fs, 0.5, -20)
    x[1000, 0] = np.nan
    x[3000:3100, 1] = np.inf
    proc, _, m = make(2, fs, 128)
    out = run(proc, x, 128)
    assert np.all(np.isfinite(out))
    assert np.abs(out[-1000:]).max() > 0  # and the audio comes back


def test_mute_and_bypass_answer_within_one_block():
    fs, block = 48000, 128
    x = noise(fs, 0.2, -20)
    proc, ctl, _ = make(2, fs, block, p0=12.0, p5=-12.0, in_gain=-6.0)
    out = np.zeros((block, 2), np.float32)
    for i in range(10):
        proc.process(x[i * block : (i + 1) * block], out)
    ctl["mute"] = 1
    proc.process(x[10 * block : 11 * block], out)
    assert out[-1].max() == 0.0  # faded out inside the block (no click: a ramp)
    assert np.all(np.abs(np.diff(out[:, 0])) < 0.2)
    proc.process(x[11 * block : 12 * block], out)
    assert np.all(out == 0.0)
    ctl["mute"] = 0
    ctl["bypass"] = 1
    proc.process(x[12 * block : 13 * block], out)
    proc.process(x[13 * block : 14 * block], out)
    dry = x[13 * block : 14 * block] * 10 ** (-6 / 20)
    np.testing.assert_allclose(out, dry, atol=1e-6)


def hf_residual_db(y, fs, amplitude, skip):
    """The click measure of tests/test_dsp.py: what a 4 kHz high-pass finds, re amplitude."""
    hp = ss.butter(8, 4000, "hp", fs=fs, output="sos")
    r = ss.sosfilt(hp, np.asarray(y, dtype=np.float64))[skip:]
    return 20 * np.log10(np.abs(r).max() / amplitude + 1e-300)


SWITCHES = {
    "mute": (1, 0),
    "bypass": (1, 0),
    "out_gain": (-12.0, 6.0),
    "in_gain": (6.0, -12.0),
}


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("block", [64, 128, 256])
@pytest.mark.parametrize("name", list(SWITCHES))
def test_mute_bypass_and_gain_steps_are_click_free_across_blocks(fs, block, name):
    """A 200 Hz tone through a +12 dB shelf (the dry and wet levels differ by about 12 dB);
    the control is switched at block boundaries, on and off, and held long enough for each
    ramp to finish. Every ramp spans its block, so the 4 kHz residual stays at the level
    of the steady EQ; a step without a ramp (a mute or gain without it, a bypass without
    its crossfade) measures far above the bound. The switch is checked to have happened."""
    amp = 0.1
    x = tone(fs, 1.0, 200, -20)
    proc, ctl, m = make(2, fs, block, p0=12.0, p1=800.0)
    out = np.zeros_like(x)
    on, off = SWITCHES[name]
    flips = {int(fs * t) // block: v for t, v in ((0.3, on), (0.5, off), (0.7, on), (0.8, off))}
    levels = {}
    for k, i in enumerate(range(0, len(x), block)):
        if k in flips:
            ctl[name] = flips[k]
        proc.process(x[i : i + block], out[i : i + block])
        levels[k] = float(np.abs(out[i : i + block, 0]).max())
    steady = levels[int(fs * 0.28) // block]
    switched = levels[int(fs * 0.48) // block]
    assert abs(20 * np.log10((switched + 1e-12) / steady)) > 5  # the switch really happened
    assert hf_residual_db(out[:, 0], fs, amp, int(0.25 * fs)) < -25


# ---------------------------------------------------------------- bounded under modulation

PROBE_FREQS = (60.0, 200.0, 700.0, 1000.0, 2000.0, 3900.0, 5000.0, 10000.0)
"""One probe sine a channel (the limiter is linked, but never reached at these levels)."""
BOUND_GLIDES = (0.0, 1.0, 3.0, 20.0, 100.0, 1000.0)
"""Glides the user can set; below _dsp.MIN_GLIDE_MS (5 ms) the core glides that long (a
direct-form-I glide of 0, 1 and 3 ms overshoots by up to +18, +4 and +1.6 dB)."""


def corner_pair() -> tuple[np.ndarray, np.ndarray]:
    """All bands at the lowest corner cutting 12 dB, all flat at the highest: no steady
    setting between them has a gain above 0 dB anywhere."""
    lo, hi = params.MINS.copy(), params.MAXS.copy()
    lo[list(params.GAIN_INDEX)], hi[list(params.GAIN_INDEX)] = -12.0, 0.0
    return lo, hi


def safe_pairs(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """n random pairs of real user settings from SAFE-DB (skips when ../shared is absent)."""
    from conftest import SAFE_CSV

    from floweq_tui.training.safedb import load_safe

    if not SAFE_CSV.is_file():
        pytest.skip(f"SAFE-DB data not found at {SAFE_CSV} (../shared is absent)")
    data = load_safe(SAFE_CSV).params
    idx = np.random.default_rng(seed).choice(len(data), size=(n, 2), replace=False)
    return [(data[i], data[j]) for i, j in idx]


def peak_gain(p: np.ndarray, fs: float) -> float:
    """The largest steady-state gain of a setting over 10 Hz..0.48 fs (linear)."""
    f = np.geomspace(10.0, 0.48 * fs, 4000)
    return float(10 ** (eqmath.response_db(p, f, fs).max() / 20))


def path_peak_gain(pair, fs: float, steps: int = 33) -> float:
    """The largest steady-state gain of the settings a glide between the pair passes through:
    the two ends and the settings in between, linear in (gain dB, ln f, ln Q) like the
    glide. (Two real settings can have a point between them louder than either end: one
    SAFE-DB pair here reaches +1.55 dB over both; no filter structure can avoid passing it.)"""
    a, b = (np.asarray(p, float) for p in pair)
    lin = list(params.GAIN_INDEX)
    pos = [i for i in range(params.N_PARAMS) if i not in lin]  # frequencies and Qs
    out = max(peak_gain(a, fs), peak_gain(b, fs))
    for t in np.linspace(0.0, 1.0, steps)[1:-1]:
        p = a + t * (b - a)
        p[pos] = np.exp(np.log(a[pos]) + t * (np.log(b[pos]) - np.log(a[pos])))
        out = max(out, peak_gain(p, fs))
    return out


def modulated_peak(fs, pair, glide_ms, every, seconds=0.3, block=128):
    """The output peak re the input amplitude, the target switching between the pair every
    ``every`` blocks (1: every block; a 20 Hz square jumps every 25 ms), probe sines on
    8 channels, manual mode."""
    amp = min(0.1, 0.3 / max(peak_gain(pair[0], fs), peak_gain(pair[1], fs)))
    n = int(seconds * fs) // block * block
    t = np.arange(n) / fs
    x = np.stack([amp * np.sin(2 * np.pi * f * t) for f in PROBE_FREQS], 1).astype(np.float32)
    proc, ctl, _ = make(len(PROBE_FREQS), fs, block, glide_ms=glide_ms,
                        **{f"p{i}": v for i, v in enumerate(pair[0])})  # fmt: skip
    out = np.zeros_like(x)
    for k, i in enumerate(range(0, n, block)):
        ctl.update({f"p{j}": v for j, v in enumerate(pair[(k // every) % 2])})
        proc.process(x[i : i + block], out[i : i + block])
    return float(np.abs(out).max()) / amp


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("glide_ms", BOUND_GLIDES)
def test_output_stays_within_the_settings_gain_under_any_modulation(fs, glide_ms):
    """Issue 11: for any glide and any jump rate (every block, and a 20 Hz square: every
    25 ms), the output never exceeds the largest steady-state peak gain of the settings it
    moves between (the two ends and the glide's path between them) by more than 1 dB: the
    corner pair (all of its path is at or under 0 dB) and random SAFE-DB pairs."""
    pairs = [corner_pair(), *safe_pairs(3, seed=fs + int(glide_ms))]
    for pair in pairs:
        bound = path_peak_gain(pair, fs) * 10 ** (1 / 20)
        for every in (1, max(1, round(0.025 * fs / 128))):
            got = modulated_peak(fs, pair, glide_ms, every)
            assert got <= bound, (
                f"peak {20 * np.log10(got):+.1f} dB re input, bound "
                f"{20 * np.log10(bound):+.1f} dB (jumps every {every} blocks)"
            )


@pytest.mark.parametrize("glide_ms", [0.0, 1.0, 5.0, 20.0])
def test_the_glide_control_sets_the_glide_length(glide_ms):
    """A control change glides for exactly round(max(glide_ms, MIN_GLIDE_MS) * fs / 1000)
    samples from the block that applies it: glide 0 is the shortest bounded glide, not a
    jump, and a glide at half its time or one that ends early fails here."""
    fs, block = 48000, 16
    total = int(max(glide_ms, _dsp.MIN_GLIDE_MS) * 1e-3 * fs + 0.5)
    assert total % block == 0
    proc, ctl, _ = make(1, fs, block, glide_ms=glide_ms)
    buf = np.zeros((block, 1), np.float32)
    for _ in range(4):
        proc.process(None, buf)
    assert not proc.cascade.gliding
    ctl["p0"] = 9.0
    for done in range(block, total + 1, block):
        proc.process(None, buf)
        assert proc.cascade.gliding == (done < total), done
    target = params.DEFAULTS.copy()
    target[0] = 9.0
    np.testing.assert_allclose(proc.cascade.sos, eqmath.design(target, fs), atol=1e-13)


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_a_5_hz_sweep_across_the_map_is_click_free(fs):
    """x swept across the whole map (-2..2) at 5 Hz on the shipped default model, default
    20 ms glide, 128-frame blocks: the click measure stays 70 dB down."""
    from floweq_tui.vae import core_models

    models = core_models()
    assert models.decoders, models.error
    block, amp = 128, 0.1
    x = tone(fs, 1.2, 200, -20, 1)
    proc, ctl, _ = make(1, fs, block, models.decoders, models.anchors, mode=0,
                        model=models.default_index, y=0.3, glide_ms=20.0)  # fmt: skip
    out = np.zeros_like(x)
    for i in range(0, len(x), block):
        ctl["x"] = 2.0 * np.sin(2 * np.pi * 5.0 * i / fs)
        proc.process(x[i : i + block], out[i : i + block])
    assert hf_residual_db(out[:, 0], fs, amp, fs // 5) < -70


# ---------------------------------------------------------------- controls -> EQ


def random_decoder(d, seed=0):
    rng = np.random.default_rng(seed)
    w = (
        rng.standard_normal((1024, d)).astype(np.float32),
        (0.1 * rng.standard_normal(1024)).astype(np.float32),
        (0.05 * rng.standard_normal((13, 1024))).astype(np.float32),
        (0.1 * rng.standard_normal(13)).astype(np.float32),
    )
    return _dsp.Decoder(*w)


def test_traverse_semantic_and_manual_reach_the_eq():
    fs = 48000
    decs = [random_decoder(1, 1), random_decoder(2, 2), random_decoder(3, 3)]
    anchors = [np.array([[-1.0], [1.0]]), np.array([[-1.0, 0.5], [1.5, -0.5]]), np.zeros((2, 3))]
    proc, ctl, m = make(1, fs, 64, decs, anchors)
    block = np.zeros((64, 1), np.float32)

    def step():
        proc.process(None, block)
        proc.cascade.finish_glide()

    ctl.update({"mode": 0, "model": 1, "x": 0.5, "y": -1.0, "strength": 1.0})
    step()
    expected = decs[1].params([0.5, -1.0])
    np.testing.assert_allclose(m.params, expected)
    np.testing.assert_allclose(proc.cascade.sos, eqmath.design(expected, fs), atol=1e-12)

    ctl["extend"] = 1
    step()
    np.testing.assert_allclose(m.params, decs[1].params([1.0, -2.0]))

    ctl.update({"strength": 0.5})
    step()
    half = params.apply_strength(decs[1].params([1.0, -2.0]), 0.5)
    np.testing.assert_allclose(proc.cascade.sos, eqmath.design(half, fs), atol=1e-12)

    ctl.update({"mode": 1, "anchor_a": 0, "anchor_b": 1, "interpolate": 0.25, "strength": 1})
    step()
    z = anchors[1][0] + 0.25 * (anchors[1][1] - anchors[1][0])
    np.testing.assert_allclose(m.params, decs[1].params(z))
    np.testing.assert_allclose([m["zx"], m["zy"]], z)

    manual = params.DEFAULTS.copy()
    manual[[0, 5, 11]] = [6.0, -3.0, 4.5]
    ctl.update({"mode": 2, **{f"p{i}": v for i, v in enumerate(manual)}, "active2": 0})
    step()
    np.testing.assert_allclose(m.params, manual)
    active = [True, True, False, True, True]
    got = proc.cascade.sos
    np.testing.assert_allclose(got[active], eqmath.design(manual, fs)[active], atol=1e-12)
    np.testing.assert_allclose(got[2, :3], got[2, 3:], atol=1e-12)  # band 2 bypassed


def test_a_control_change_is_applied_in_the_next_block():
    proc, ctl, m = make(2, 48000, 128)
    block = np.zeros((128, 2), np.float32)
    for _ in range(5):
        proc.process(None, block)
    before = m["controls_applied"]
    c0 = m["callbacks"]
    ctl["p0"] = 7.0
    proc.process(None, block)
    assert m["controls_applied"] == before + 1
    assert m["block_of_last_change"] == c0


def test_out_of_range_models_and_anchors_are_clamped_not_crashed():
    decs = [random_decoder(2)]
    proc, ctl, m = make(2, 48000, 128, decs, [np.zeros((1, 2))])
    ctl.array[CONTROL_INDEX["model"]] = 40
    ctl.array[CONTROL_INDEX["anchor_b"]] = 50
    ctl.array[CONTROL_INDEX["mode"]] = 1
    proc.process(None, np.zeros((128, 2), np.float32))
    assert m["model"] == 0


def test_bad_processor_arguments_are_rejected():
    with pytest.raises(ValueError, match="controls"):
        _dsp.Processor(2, 48000.0, 128, np.zeros(3), np.zeros(METERS_SIZE))
    with pytest.raises(ValueError, match="block size"):
        _dsp.Processor(2, 48000.0, 0, CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE))
    proc, _, _ = make(2, 48000, 128)
    with pytest.raises(ValueError, match="exceeds"):
        proc.process(None, np.zeros((129, 2), np.float32))
    with pytest.raises(ValueError, match="source"):
        proc.set_source(np.zeros((10, 3), np.float32))


# ---------------------------------------------------------------- render parity


def test_render_equals_streaming_the_same_file_through_the_processor():
    """Offline render and the live path (source playback + capture) give the same samples."""
    fs, block = 48000, 128
    x = noise(fs, 2.0, -18)
    controls = {"mode": 2, "p0": 6.0, "p5": -4.0, "auto_gain": 1, "in_gain": 3.0}
    rendered, _ = render_array(x, fs, controls, blocksize=block)
    proc, ctl, _ = make(2, fs, block, **controls)
    silence = np.zeros((block, 2), np.float32)
    for _ in range(7):  # the "live" processor has been running on something else
        proc.process(None, silence)
    proc.set_source(x, reset=True, capture=len(x) - 5 * block)
    while proc.capture is None:
        proc.process(None, silence)
    np.testing.assert_array_equal(proc.capture, rendered[: len(x) - 5 * block])


def test_render_file_refuses_an_unwritable_output_before_working(tmp_path):
    from floweq_tui import sources
    from floweq_tui.render import render_file

    src = tmp_path / "in.wav"
    sources.write_file(src, noise(48000, 0.1, -20), 48000)
    with pytest.raises(sources.SourceError, match="does not exist"):
        render_file(src, tmp_path / "missing" / "out.wav")
    with pytest.raises(sources.SourceError, match=r"\.wav, \.flac or \.ogg"):
        render_file(src, tmp_path / "out.mp3")
    result = render_file(src, tmp_path / "out.flac", {"mode": 2, "p0": 3.0})
    assert result.frames == 4800 and (tmp_path / "out.flac").is_file()


MOVING = {  # modulators on x and y (Traverse mode, a model), as benchmarks/idle.py's
    "lfo1_on": 1, "lfo1_target": 0, "lfo1_rate": 0.5, "lfo1_depth": 0.8,
    "lfo2_on": 1, "lfo2_target": 1, "lfo2_shape": 2, "lfo2_rate": 0.3, "lfo2_depth": 0.8,
}  # fmt: skip


@pytest.mark.parametrize("moving", [False, True], ids=["steady", "modulated"])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_blocks_processed_as_one_give_the_same_samples(channels, moving):
    """With steady controls (no ramp pending, no auto gain, no A/B, no modulator on a gain),
    n blocks processed as one block give the same samples, input history and meter rings as
    the n blocks one by one, with modulators moving x and y too (they are evaluated on the
    processor's own sample grid): the silent clock joins its blocks so."""
    from floweq_tui import sources
    from floweq_tui.controls import History, history_frames, history_size

    decoders = (random_decoder(2, seed=3),) if moving else ()
    controls = {"mode": 0, **MOVING} if moving else {"mode": 2}

    def one() -> tuple:
        proc, ctl, met = make(channels, block=8192, p4=6.0, p7=-4.0, glide_ms=50.0, **controls)
        frames = history_frames(2.0, 48000)
        hist = np.zeros(history_size(frames))
        History.format(hist, frames, 48000)
        proc = _dsp.Processor(
            channels, 48000.0, 8192, ctl.array, met.array, decoders, (), history=hist
        )
        assert proc.may_join()
        proc.set_source(sources.demo_source(48000, channels))
        return proc, met, hist

    (pa, ma, ha), (pb, mb, hb) = one(), one()
    block = np.zeros((128, channels), np.float32)
    for proc in (pa, pb):
        for _ in range(300):  # the same past for both
            proc.process(None, block)
    outs_a, outs_b, xs = [], [], []
    for _ in range(5):
        for _ in range(37):
            pa.process(None, block)
            outs_a.append(block.copy())
        joined = np.zeros((37 * 128, channels), np.float32)
        pb.process(None, joined)
        outs_b.append(joined)
        xs.append(mb["mod_x"])
    assert np.array_equal(np.concatenate(outs_a), np.concatenate(outs_b))
    assert np.array_equal(ha, hb)
    assert np.array_equal(ma.array[N_METERS:], mb.array[N_METERS:])  # the rings
    for name in ("lufs_in", "lufs_out", "frames", "limiter_db", "mod_x", "mod_y"):
        assert ma[name] == mb[name], name
    assert len(set(xs)) == (5 if moving else 1)  # (the point did move, or stayed)


def test_the_silent_clock_modulated_gives_the_samples_of_blocks_one_by_one():
    """The silent clock (run_clock, hot: 11 blocks a wake-up, all but the last joined while
    modulators move x and y) leaves the same input history, meter rings and loudness as
    the same blocks processed one by one."""
    import os
    import threading

    from floweq_tui import sources
    from floweq_tui.controls import History, history_frames, history_size

    decoder = random_decoder(2, seed=3)

    def one() -> tuple:
        _, ctl, met = make(2, block=8192, p4=6.0, glide_ms=50.0, mode=0, **MOVING)
        frames = history_frames(2.0, 48000)
        hist = np.zeros(history_size(frames))
        History.format(hist, frames, 48000)
        proc = _dsp.Processor(2, 48000.0, 8192, ctl.array, met.array, (decoder,), (), history=hist)
        proc.set_source(sources.demo_source(48000, 2))
        return proc, met, hist

    (pa, ma, ha), (pb, mb, hb) = one(), one()
    r, w = os.pipe()
    try:
        out, joined = np.zeros((128, 2), np.float32), np.zeros((4736, 2), np.float32)
        args = (out, joined, 128 / 48000, 11, 37, 2.0, r)
        clock = threading.Thread(target=pb.run_clock, args=args)
        clock.start()
        deadline = time.monotonic() + 10.0
        while mb["frames"] < 48000 * 0.6 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.write(w, b"x")
        clock.join(5.0)
        assert not clock.is_alive()
    finally:
        os.close(r)
        os.close(w)
    blocks = int(mb["frames"]) // 128
    assert blocks * 128 == mb["frames"] and mb["callbacks"] == blocks and blocks > 200
    block = np.zeros((128, 2), np.float32)
    for _ in range(blocks):
        pa.process(None, block)
    assert np.array_equal(ha, hb)
    assert np.array_equal(ma.array[N_METERS:], mb.array[N_METERS:])  # the rings
    for name in ("lufs_in", "lufs_out", "mod_x", "mod_y", "peak_out", "limiter_db"):
        assert ma[name] == mb[name], name


@pytest.mark.parametrize(
    "controls",
    [
        {"lfo1_on": 1, "lfo1_target": 6, "lfo1_rate": 2.0, "lfo1_depth": 0.8},  # out gain
        {"lfo1_on": 1, "lfo1_target": 5, "lfo1_rate": 2.0, "lfo1_depth": 0.8},  # in gain
        {"auto_gain": 1},
        {"ab_on": 1},
        {"tempo_source": 1},
    ],
    ids=["lfo-out-gain", "lfo-in-gain", "auto-gain", "ab", "tempo-from-outside"],
)
def test_blocks_a_gain_ramps_across_are_not_joined(controls):
    """A gain ramps once a block (a modulator's value at the block's start): blocks joined
    would ramp it differently, so the silent clock processes them one by one then."""
    from floweq_tui import sources

    def one() -> tuple:
        proc, _, _ = make(2, block=8192, mode=2, p4=6.0, **controls)
        proc.set_source(sources.demo_source(48000, 2))
        return proc

    pa, pb = one(), one()
    block = np.zeros((128, 2), np.float32)
    for proc in (pa, pb):
        for _ in range(40):
            proc.process(None, block)
        assert not proc.may_join()
    if "lfo1_on" in controls:  # what joining would do
        outs_a = []
        for _ in range(37):
            pa.process(None, block)
            outs_a.append(block.copy())
        joined = np.zeros((37 * 128, 2), np.float32)
        pb.process(None, joined)
        assert not np.array_equal(np.concatenate(outs_a), joined)


def test_auto_gain_switched_off_fades_to_exactly_0_db():
    """Its one-pole fade would never reach 0 dB; below 1e-7 dB it is 0, and blocks are
    joined again (within a few seconds at a 0.3 s auto gain time)."""
    from floweq_tui import sources

    proc, ctl, met = make(2, 48000, 8192, p0=12.0, p1=300.0, p5=12.0, p6=2000.0, p11=10.0,
                          auto_gain=1, auto_time=0.3, auto_range=24.0)  # fmt: skip
    proc.set_source(sources.demo_source(48000, 2))
    block = np.zeros((128, 2), np.float32)
    for _ in range(375 * 5):
        proc.process(None, block)
    assert met["auto_gain_db"] < -3.0 and not proc.may_join()
    ctl.update({"auto_gain": 0})
    for _ in range(375 * 10):
        proc.process(None, block)
    assert met["auto_gain_db"] == 0.0 and proc.may_join()


def test_a_fresh_input_history_takes_no_page_faults_while_it_fills():
    """The history's pages are mapped when the processor attaches it: the first store to a
    page of shared memory would otherwise fault (the kernel allocating and zeroing it) in
    the audio thread, about 47 times a second for the whole first span."""
    import resource
    from multiprocessing import shared_memory

    from floweq_tui import sources
    from floweq_tui.controls import History, history_frames, history_size

    frames = history_frames(30.0, 48000)
    shm = shared_memory.SharedMemory(create=True, size=history_size(frames) * 8)
    try:
        hist = np.ndarray((history_size(frames),), np.float64, shm.buf)
        History.format(hist, frames, 48000)
        proc = _dsp.Processor(
            2, 48000.0, 8192, CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE), (), (), history=hist
        )
        proc.set_source(sources.demo_source(48000, 2))
        block = np.zeros((128, 2), np.float32)
        for _ in range(50):
            proc.process(None, block)
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        for _ in range(375 * 4):  # 4 s: 188 pages of samples written the first time
            proc.process(None, block)
        faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
        assert faults < 10, f"{faults} page faults while 4 s of history were written"
        assert History(hist).written == (50 + 375 * 4) * 128
        del hist, proc
    finally:
        shm.close()
        shm.unlink()
