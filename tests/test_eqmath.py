"""Tests for floweq_tui.eqmath: biquad design (RBJ cookbook as JUCE implements it), clamping,
responses and poles.

In the style of pedalboard's tests: parametrised over sample rates, with physical assertions
(gain at the centre / corner / far from the corner, unity when flat, stability), plus an
independent hand-written implementation of the JUCE formulas and a cross-check with scipy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floweq_tui import eqmath
from floweq_tui.params import (
    DEFAULTS,
    FREQ_INDEX,
    GAIN_INDEX,
    MAXS,
    MID_BANDS,
    MINS,
    N_BANDS,
    N_PARAMS,
    PARAMS,
)

SAMPLE_RATES = [8000, 22050, 44100, 48000, 96000, 192000]
GAINS = [-12.0, -6.0, -1.5, 0.5, 3.0, 12.0]
QS = [0.1, 0.3, 0.71, 1.0, 3.0, 10.0]
IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def mag_db(h: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.abs(h))


def single_band(band: int, gain: float, freq: float, q: float | None = None) -> np.ndarray:
    """A parameter vector with every gain at 0 dB except one band."""
    x = DEFAULTS.copy()
    x[GAIN_INDEX[band]] = gain
    x[FREQ_INDEX[band]] = freq
    if q is not None:
        x[MID_BANDS[band - 1][2]] = q
    return x


# --------------------------------------------------------------------------- independent JUCE


def juce_low_shelf(fs: float, fc: float, q: float, gain_db: float) -> list[float]:
    """juce::dsp::IIR::Coefficients::makeLowShelf, written from the formulas in the reference."""
    a = math.sqrt(10.0 ** (gain_db / 20.0))
    w = 2.0 * math.pi * max(fc, 2.0) / fs
    cos_w = math.cos(w)
    beta = math.sin(w) * math.sqrt(a) / q
    b0 = a * ((a + 1) - (a - 1) * cos_w + beta)
    b1 = a * 2 * ((a - 1) - (a + 1) * cos_w)
    b2 = a * ((a + 1) - (a - 1) * cos_w - beta)
    a0 = (a + 1) + (a - 1) * cos_w + beta
    a1 = -2 * ((a - 1) + (a + 1) * cos_w)
    a2 = (a + 1) + (a - 1) * cos_w - beta
    return [b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]


def juce_high_shelf(fs: float, fc: float, q: float, gain_db: float) -> list[float]:
    """juce::dsp::IIR::Coefficients::makeHighShelf."""
    a = math.sqrt(10.0 ** (gain_db / 20.0))
    w = 2.0 * math.pi * max(fc, 2.0) / fs
    cos_w = math.cos(w)
    beta = math.sin(w) * math.sqrt(a) / q
    b0 = a * ((a + 1) + (a - 1) * cos_w + beta)
    b1 = a * -2 * ((a - 1) + (a + 1) * cos_w)
    b2 = a * ((a + 1) + (a - 1) * cos_w - beta)
    a0 = (a + 1) - (a - 1) * cos_w + beta
    a1 = 2 * ((a - 1) - (a + 1) * cos_w)
    a2 = (a + 1) - (a - 1) * cos_w - beta
    return [b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]


def cookbook_peak(fs: float, fc: float, q: float, gain_db: float) -> list[float]:
    """RBJ cookbook peaking EQ (JUCE makePeakFilter)."""
    a = math.sqrt(10.0 ** (gain_db / 20.0))
    w = 2.0 * math.pi * max(fc, 2.0) / fs
    alpha = math.sin(w) / (2.0 * q)
    c2 = -2.0 * math.cos(w)
    a0 = 1 + alpha / a
    return [(1 + alpha * a) / a0, c2 / a0, (1 - alpha * a) / a0, 1.0, c2 / a0, (1 - alpha / a) / a0]


JUCE_CASES = [
    # (fs, low shelf (gain, freq), three peaks (gain, freq, Q), high shelf (gain, freq))
    (
        44100,
        (6.0, 150.0),
        [(3.0, 650.0, 0.71), (-4.5, 1000.0, 2.0), (9.0, 3300.0, 0.3)],
        (-3.0, 8200.0),
    ),
    (
        48000,
        (-12.0, 22.0),
        [(12.0, 82.0, 10.0), (-12.0, 4700.0, 0.1), (1.0, 10000.0, 5.0)],
        (12.0, 580.0),
    ),
    (  # band 1 at 3.9 kHz and the 5 kHz high shelf are clamped to 0.48 fs = 3840 Hz
        8000,
        (12.0, 1000.0),
        [(-7.0, 3900.0, 1.0), (2.0, 180.0, 0.5), (-1.0, 220.0, 4.0)],
        (-12.0, 5000.0),
    ),
    (
        96000,
        (-2.5, 400.0),
        [(0.0, 500.0, 0.71), (5.5, 2500.0, 7.0), (-8.0, 9000.0, 0.15)],
        (4.0, 20000.0),
    ),
    (
        192000,
        (0.7, 60.0),
        [(10.0, 120.0, 0.2), (-3.3, 333.0, 3.3), (6.6, 6666.0, 6.6)],
        (-9.9, 15000.0),
    ),
]


@pytest.mark.parametrize("case", JUCE_CASES, ids=[str(c[0]) for c in JUCE_CASES])
def test_coefficients_match_independent_juce_formulas(case):
    fs, (ls_g, ls_f), peaks, (hs_g, hs_f) = case
    x = np.array([ls_g, ls_f, *[v for pk in peaks for v in pk], hs_g, hs_f], dtype=np.float64)
    assert x.shape == (N_PARAMS,)
    sos = eqmath.design(x, fs)
    assert sos.shape == (N_BANDS, 6)
    nyq_clamp = 0.48 * fs  # frequencies at or above this are clamped (the reference's rule)
    expected = [
        juce_low_shelf(fs, min(ls_f, nyq_clamp), 0.71, ls_g),
        *[cookbook_peak(fs, min(f, nyq_clamp), q, g) for g, f, q in peaks],
        juce_high_shelf(fs, min(hs_f, nyq_clamp), 0.71, hs_g),
    ]
    np.testing.assert_allclose(sos, np.array(expected), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_design_band_matches_independent_formulas_vectorised(samplerate):
    freqs = np.array([2.0, 30.0, 300.0, 1000.0, 3000.0])
    for kind, ref in [
        (eqmath.KIND_LOWSHELF, juce_low_shelf),
        (eqmath.KIND_PEAK, cookbook_peak),
        (eqmath.KIND_HIGHSHELF, juce_high_shelf),
    ]:
        for g in GAINS:
            for q in (0.1, 0.71, 10.0):
                got = eqmath.design_band(kind, g, freqs, q, samplerate)
                want = [ref(samplerate, f, q, g) for f in freqs]
                np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_design_band_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        eqmath.design_band(7, 0.0, 1000.0, 0.71, 48000)


# --------------------------------------------------------------------------- physical checks


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
@pytest.mark.parametrize("band", [1, 2, 3])
def test_peak_gives_its_gain_at_its_centre(samplerate, band):
    """Cookbook peaking EQ: |H(f0)| is exactly the band gain, for any gain and Q."""
    p_freq = PARAMS[MID_BANDS[band - 1][1]]
    freqs = np.geomspace(p_freq.min, p_freq.max, 7)
    freqs = freqs[freqs < eqmath.NYQUIST_FRACTION * samplerate]
    assert freqs.size >= 3
    for g in GAINS:
        for q in QS:
            for f in freqs:
                x = single_band(band, g, f, q)
                got = eqmath.response_db(x, [f], samplerate)[0]
                assert abs(got - g) < 0.01, (g, f, q, got)
                # and it is the extremum of the curve: nothing nearby overshoots it
                near = eqmath.response_db(x, f * np.array([0.8, 0.95, 1.05, 1.2]), samplerate)
                if g > 0:
                    assert np.all(near < got + 1e-9)
                else:
                    assert np.all(near > got - 1e-9)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
@pytest.mark.parametrize("gain", GAINS)
def test_low_shelf_reaches_its_gain_far_below_the_corner(samplerate, gain):
    """Corner 1 kHz (the top of its range), measured two decades below at 10 Hz: within 0.01 dB.
    At DC the bilinear design gives the gain exactly."""
    x = single_band(0, gain, 1000.0)
    low = eqmath.response_db(x, [10.0, 0.0], samplerate)
    assert abs(low[0] - gain) < 0.01
    assert abs(low[1] - gain) < 1e-9
    # far above the corner the low shelf is transparent
    high = eqmath.response_db(x, [0.45 * samplerate], samplerate)[0]
    assert abs(high) < 0.05


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
@pytest.mark.parametrize("gain", GAINS)
def test_high_shelf_reaches_its_gain_far_above_the_corner(samplerate, gain):
    """Corner 580 Hz (the bottom of its range, unclamped at every rate), measured at 0.45 fs,
    just below Nyquist: within 0.01 dB. At Nyquist the bilinear design gives the gain exactly."""
    x = single_band(4, gain, 580.0)
    high = eqmath.response_db(x, [0.45 * samplerate, 0.5 * samplerate], samplerate)
    assert abs(high[0] - gain) < 0.01
    assert abs(high[1] - gain) < 1e-9
    # far below the corner the high shelf is transparent
    low = eqmath.response_db(x, [10.0], samplerate)[0]
    assert abs(low) < 0.01


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
@pytest.mark.parametrize("band", [0, 4])
def test_shelf_gives_half_its_gain_at_the_corner(samplerate, band):
    """RBJ shelves: |H(f0)| = sqrt(gain), i.e. half the dB gain (within 0.1 dB)."""
    p_freq = PARAMS[FREQ_INDEX[band]]
    corners = np.geomspace(p_freq.min, p_freq.max, 6)
    corners = corners[corners < eqmath.NYQUIST_FRACTION * samplerate]
    assert corners.size >= 2
    for g in GAINS:
        for fc in corners:
            got = eqmath.response_db(single_band(band, g, fc), [fc], samplerate)[0]
            assert abs(got - g / 2) < 0.1, (g, fc, got)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
@pytest.mark.parametrize("band", [0, 4])
def test_shelf_stays_between_zero_and_its_gain(samplerate, band):
    """Q = 0.71 is a hair above 1/sqrt(2), so the shelves overshoot, but only by ~1e-4 dB:
    the curve stays within [0, gain] to 0.001 dB."""
    f = eqmath.log_grid(400, 5.0, 0.499 * samplerate)
    for g in (-12.0, 12.0):
        x = single_band(band, g, 1000.0 if band == 0 else 2000.0)
        r = eqmath.response_db(x, f, samplerate)
        assert np.all(r <= max(g, 0.0) + 1e-3)
        assert np.all(r >= min(g, 0.0) - 1e-3)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_flat_parameters_give_unity(samplerate):
    rng = np.random.default_rng(samplerate)
    x = MINS + rng.uniform(size=(100, N_PARAMS)) * (MAXS - MINS)
    x[:, list(GAIN_INDEX)] = 0.0
    f = np.concatenate([[0.0], eqmath.log_grid(300, 1.0, 0.5 * samplerate)])
    np.testing.assert_allclose(eqmath.response_db(x, f, samplerate), 0.0, atol=1e-9)
    sos = eqmath.design(x, samplerate)
    np.testing.assert_allclose(sos[..., :3], sos[..., 3:], atol=1e-12)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_inactive_bands_are_identity(samplerate):
    rng = np.random.default_rng(samplerate + 1)
    x = MINS + rng.uniform(size=(20, N_PARAMS)) * (MAXS - MINS)
    f = eqmath.log_grid(200, 10.0, 0.49 * samplerate)
    for b in range(N_BANDS):
        active = np.ones(N_BANDS, dtype=bool)
        active[b] = False
        sos = eqmath.design(x, samplerate, active)
        np.testing.assert_array_equal(sos[:, b], np.broadcast_to(IDENTITY, (20, 6)))
        np.testing.assert_allclose(
            eqmath.band_response_db(x, f, samplerate, active)[:, b], 0.0, atol=1e-12
        )
        # same curve as muting that band's gain
        muted = x.copy()
        muted[:, GAIN_INDEX[b]] = 0.0
        np.testing.assert_allclose(
            eqmath.response_db(x, f, samplerate, active),
            eqmath.response_db(muted, f, samplerate),
            atol=1e-9,
        )
    none_active = np.zeros(N_BANDS, dtype=bool)
    np.testing.assert_allclose(eqmath.response_db(x, f, samplerate, none_active), 0.0, atol=1e-12)
    all_active = np.ones(N_BANDS, dtype=bool)
    np.testing.assert_array_equal(
        eqmath.design(x, samplerate, all_active), eqmath.design(x, samplerate)
    )


@pytest.mark.parametrize("active", [[True] * 4, [True] * 6, [[True] * 5] * 2])
def test_active_with_wrong_shape_is_rejected(active):
    with pytest.raises(ValueError, match="active"):
        eqmath.design(DEFAULTS, 48000, active)


@pytest.mark.parametrize("shape", [(12,), (14,), (3, 12)])
def test_design_rejects_wrong_parameter_count(shape):
    with pytest.raises(ValueError, match="13 parameters"):
        eqmath.design(np.zeros(shape), 48000)


def test_design_shapes_on_stacks():
    x = np.broadcast_to(DEFAULTS, (2, 3, N_PARAMS))
    assert eqmath.design(x, 48000).shape == (2, 3, N_BANDS, 6)
    f = eqmath.log_grid(64)
    assert eqmath.band_response_db(x, f, 48000).shape == (2, 3, N_BANDS, 64)
    assert eqmath.response_db(x, f, 48000).shape == (2, 3, 64)
    # a stack gives the same as each vector alone
    rng = np.random.default_rng(5)
    y = MINS + rng.uniform(size=(4, N_PARAMS)) * (MAXS - MINS)
    stacked = eqmath.design(y, 44100)
    for i in range(4):
        np.testing.assert_array_equal(stacked[i], eqmath.design(y[i], 44100))


# --------------------------------------------------------------------------- clamping


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_frequencies_are_clamped_below_nyquist(samplerate):
    clamp = eqmath.NYQUIST_FRACTION * samplerate
    f = np.array([0.0, 1.0, 2.0, 100.0, clamp, clamp * 1.01, samplerate, 1e9])
    out = eqmath.clamp_freq(f, samplerate)
    assert np.all(out >= eqmath.MIN_FREQ)
    assert np.all(out <= clamp)
    np.testing.assert_array_equal(out[[3, 4]], f[[3, 4]])
    # a design above the clamp is the design at the clamp, and it is stable
    for kind in (eqmath.KIND_LOWSHELF, eqmath.KIND_PEAK, eqmath.KIND_HIGHSHELF):
        too_high = [0.6 * samplerate, 20000.0 + samplerate]
        above = eqmath.design_band(kind, 12.0, too_high, 0.1, samplerate)
        at = eqmath.design_band(kind, 12.0, clamp, 0.1, samplerate)
        np.testing.assert_array_equal(above, np.broadcast_to(at, above.shape))
        assert np.all(np.abs(eqmath.poles(above)) < 1.0)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_20k_high_shelf_is_clamped_only_when_needed_and_stable(samplerate):
    """20 kHz is below 0.48 fs from 44.1 kHz up (designed as is), above it at 8 and 22.05 kHz
    (designed at 0.48 fs). Either way the filter is stable and lifts the top of the band."""
    x = single_band(4, 12.0, 20000.0)
    sos = eqmath.design(x, samplerate)
    corner = min(20000.0, 0.48 * samplerate)
    assert (corner < 20000.0) == (samplerate < 44100)
    np.testing.assert_allclose(
        sos[4], juce_high_shelf(samplerate, corner, 0.71, 12.0), rtol=1e-12, atol=1e-14
    )
    assert np.all(np.abs(eqmath.poles(sos)) < 1.0)
    assert eqmath.response_db(x, [0.5 * samplerate], samplerate)[0] == pytest.approx(12.0, abs=1e-9)
    assert eqmath.response_db(x, [corner], samplerate)[0] == pytest.approx(6.0, abs=0.1)


# --------------------------------------------------------------------------- rates


@pytest.mark.parametrize("bad", [7999, 192001, float("nan"), float("inf"), -48000, 0])
def test_check_rate_rejects_unsupported_rates(bad):
    with pytest.raises(ValueError, match=r"sample rate .* outside the supported 8000-192000 Hz"):
        eqmath.check_rate(bad)
    with pytest.raises(ValueError, match="sample rate"):
        eqmath.design(DEFAULTS, bad)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_check_rate_accepts_supported_rates(samplerate):
    out = eqmath.check_rate(samplerate)
    assert isinstance(out, float)
    assert out == samplerate


# --------------------------------------------------------------------------- responses and poles


def test_log_grid():
    g = eqmath.log_grid()
    assert g.shape == (256,)
    assert g[0] == pytest.approx(20.0)
    assert g[-1] == pytest.approx(20000.0)
    np.testing.assert_allclose(np.diff(np.log(g)), np.log(1000.0) / 255)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_sos_response_agrees_with_scipy(samplerate):
    rng = np.random.default_rng(samplerate + 2)
    f = np.concatenate([[0.0], eqmath.log_grid(300, 5.0, 0.5 * samplerate)])
    for _ in range(10):
        x = MINS + rng.uniform(size=N_PARAMS) * (MAXS - MINS)
        sos = eqmath.design(x, samplerate)
        per_section = eqmath.sos_response(sos, f, samplerate)
        assert per_section.shape == (N_BANDS, f.size)
        _, h = scipy.signal.sosfreqz(sos, worN=f, fs=samplerate)
        np.testing.assert_allclose(np.prod(per_section, axis=0), h, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            eqmath.response_db(x, f, samplerate), mag_db(h), rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(
            eqmath.band_response_db(x, f, samplerate).sum(axis=0), mag_db(h), atol=1e-9
        )


def test_poles_agree_with_numpy_roots():
    rng = np.random.default_rng(9)
    for samplerate in SAMPLE_RATES:
        x = MINS + rng.uniform(size=N_PARAMS) * (MAXS - MINS)
        sos = eqmath.design(x, samplerate)
        p = eqmath.poles(sos)
        assert p.shape == (N_BANDS, 2)
        for section, pp in zip(sos, p, strict=True):
            want = np.sort_complex(np.roots(section[3:]))
            np.testing.assert_allclose(np.sort_complex(pp), want, rtol=1e-7, atol=1e-9)
        _, p_scipy, _ = scipy.signal.sos2zpk(sos)
        np.testing.assert_allclose(
            np.sort(np.abs(p.ravel())), np.sort(np.abs(p_scipy)), rtol=1e-7, atol=1e-9
        )


# --------------------------------------------------------------------------- property tests


def _param_strategy() -> st.SearchStrategy[np.ndarray]:
    """Each parameter in its range; frequencies and Qs log-uniform."""
    parts = []
    for p in PARAMS:
        if p.log_scale:
            lo, hi = math.log(p.min), math.log(p.max)
            log_uniform = st.floats(lo, hi).map(lambda v: math.exp(v))
            parts.append(log_uniform)
        else:
            parts.append(st.floats(p.min, p.max))
    return st.tuples(*parts).map(lambda t: np.clip(np.array(t, dtype=np.float64), MINS, MAXS))


PROPERTY_SETTINGS = settings(
    deadline=None,
    max_examples=200,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PARAM_VECTORS = _param_strategy()
RATES = st.one_of(st.sampled_from(SAMPLE_RATES), st.floats(8000.0, 192000.0))
ACTIVE = st.lists(st.booleans(), min_size=N_BANDS, max_size=N_BANDS)
NOISE = np.random.default_rng(2019).standard_normal(2000)


@PROPERTY_SETTINGS
@given(x=PARAM_VECTORS, samplerate=RATES, active=ACTIVE)
def test_property_poles_inside_unit_circle_and_filter_is_finite(x, samplerate, active):
    sos = eqmath.design(x, samplerate, active)
    assert np.all(np.isfinite(sos))
    np.testing.assert_array_equal(sos[:, 3], 1.0)
    radius = np.abs(eqmath.poles(sos))
    assert np.all(radius < 1.0), radius
    y = scipy.signal.sosfilt(sos, NOISE)
    assert np.all(np.isfinite(y))
    # 12 dB per band at most: the output cannot blow up far beyond the input
    assert np.max(np.abs(y)) < 1e3 * np.max(np.abs(NOISE))


@PROPERTY_SETTINGS
@given(x=PARAM_VECTORS, samplerate=RATES)
def test_property_response_is_finite_and_bounded(x, samplerate):
    f = np.concatenate([[0.0], eqmath.log_grid(128, 10.0, 0.5 * samplerate)])
    r = eqmath.response_db(x, f, samplerate)
    assert np.all(np.isfinite(r))
    # each band lies between 0 dB and its own gain (to 0.001 dB: the Q = 0.71 shelves overshoot
    # by ~1e-4 dB), so the sum of |gains| bounds the cascade
    tol = 1e-3
    bound = np.sum(np.abs(x[list(GAIN_INDEX)])) + N_BANDS * tol
    bands = eqmath.band_response_db(x, f, samplerate)
    assert np.all(np.abs(r) <= bound)
    gains = x[list(GAIN_INDEX)][:, None]
    assert np.all(bands <= np.maximum(gains, 0.0) + tol)
    assert np.all(bands >= np.minimum(gains, 0.0) - tol)
