"""Tests for floweq_tui.eqfit: fitting the five bands to a target dB curve.

Known answers from the real SAFE-DB settings (their own curves must be recovered), the fast
magnitude against eqmath's, edge targets (flat, out of reach, partly weighted) and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest

from floweq_tui import eqfit, eqmath
from floweq_tui.params import MAXS, MID_BANDS, MINS, N_PARAMS
from floweq_tui.training.safedb import load_safe

GRID = eqmath.log_grid(160)


@pytest.fixture(scope="module")
def safe_rows(safe_csv) -> np.ndarray:
    data = load_safe(safe_csv)
    rng = np.random.default_rng(13)
    return data.params[rng.choice(len(data), 12, replace=False)]


def test_fast_magnitude_is_eqmath_response(safe_rows):
    for fs in (8000.0, 44100.0, 96000.0):
        sos = eqmath.design(safe_rows, fs)
        c1, c2 = np.cos(2 * np.pi * GRID / fs), np.cos(4 * np.pi * GRID / fs)
        np.testing.assert_allclose(
            eqfit._magnitude_db(sos, c1, c2), eqmath.response_db(safe_rows, GRID, fs), atol=1e-3
        )


@pytest.mark.parametrize("fs", [44100.0, 48000.0])
def test_recovers_safe_db_curves(safe_rows, fs):
    errors = []
    for p in safe_rows:
        target = eqmath.response_db(p, GRID, fs)
        fit = eqfit.fit_curve(GRID, target, fs)
        assert fit.params.shape == (N_PARAMS,)
        assert ((fit.params >= MINS) & (fit.params <= MAXS)).all()
        np.testing.assert_allclose(fit.fitted_db, eqmath.response_db(fit.params, GRID, fs))
        assert fit.mean_error_db == pytest.approx(np.mean(np.abs(fit.fitted_db - target)))
        assert fit.max_error_db == pytest.approx(np.max(np.abs(fit.fitted_db - target)))
        errors.append(fit.mean_error_db)
    assert np.median(errors) < 0.3, errors
    assert np.max(errors) < 1.5, errors


def test_middle_bands_sorted(safe_rows):
    for p in safe_rows[:4]:
        fit = eqfit.fit_curve(GRID, eqmath.response_db(p, GRID, 48000.0))
        freqs = [fit.params[b[1]] for b in MID_BANDS]
        assert freqs == sorted(freqs)


def test_flat_target_fits_flat():
    fit = eqfit.fit_curve(GRID, np.zeros_like(GRID))
    assert fit.max_error_db < 0.05
    assert np.max(np.abs(fit.fitted_db)) < 0.05


def test_unreachable_target_is_clamped_and_reported():
    target = np.where(GRID < 1000, 40.0, -40.0)
    fit = eqfit.fit_curve(GRID, target)
    assert ((fit.params >= MINS) & (fit.params <= MAXS)).all()
    assert fit.max_error_db > 10.0  # said, not hidden


def test_zero_weights_exclude_points(safe_rows):
    target = eqmath.response_db(safe_rows[0], GRID, 48000.0)
    spoiled = target.copy()
    spoiled[GRID > 10000] += 30.0
    w = (GRID <= 10000).astype(float)
    fit = eqfit.fit_curve(GRID, spoiled, weights=w)
    assert fit.mean_error_db < 1.0
    assert fit.max_error_db == pytest.approx(np.max(np.abs(fit.fitted_db - spoiled)[w > 0]))


@pytest.mark.parametrize(
    ("freqs", "target", "kw"),
    [
        (GRID, GRID[:-1] * 0, {}),
        (GRID[:0], GRID[:0], {}),
        (GRID, np.full_like(GRID, np.nan), {}),
        (-GRID, GRID * 0, {}),
        (GRID, GRID * 0, {"weights": np.zeros_like(GRID)}),
        (GRID, GRID * 0, {"samplerate": 1000.0}),
    ],
)
def test_bad_input_is_a_value_error(freqs, target, kw):
    with pytest.raises(ValueError):
        eqfit.fit_curve(freqs, target, **kw)


def test_free_level_fits_a_curve_known_up_to_a_constant(safe_rows):
    p = safe_rows[1]
    target = eqmath.response_db(p, GRID, 48000.0) - 7.5
    fit = eqfit.fit_curve(GRID, target, free_level=True)
    assert fit.mean_error_db < 0.5
    np.testing.assert_allclose(
        fit.fitted_db, eqmath.response_db(fit.params, GRID, 48000.0) + fit.offset_db
    )
    assert eqfit.fit_curve(GRID, target).offset_db == 0.0


def test_public_magnitude_matches_eqmath(safe_rows):
    np.testing.assert_allclose(
        eqfit.magnitude_db(safe_rows, GRID, 44100.0),
        eqmath.response_db(safe_rows, GRID, 44100.0),
        atol=1e-3,
    )
