"""Tests for floweq_tui.params: the 13-parameter table, normalisation, band sorting,
validation, clipping and strength.

Curve-level checks go through eqmath.response_db and are parametrised over sample rates, in
the style of pedalboard's tests (physical assertions on the resulting filter).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from floweq_tui import eqmath, params
from floweq_tui.params import (
    DEFAULTS,
    FREQ_INDEX,
    GAIN_INDEX,
    KEYS,
    MAXS,
    MID_BANDS,
    MINS,
    N_PARAMS,
    PARAMS,
    Q_INDEX,
    ParamError,
)

SAMPLE_RATES = [8000, 22050, 44100, 48000, 96000, 192000]

# The table from the reference (docs/reference.md): (min, max, plugin default) per parameter.
REFERENCE_TABLE = [
    (-12.0, 12.0, 0.0),  # 0 low shelf gain dB
    (22.0, 1000.0, 150.0),  # 1 low shelf freq Hz
    (-12.0, 12.0, 0.0),  # 2 band 1 gain dB
    (82.0, 3900.0, 650.0),  # 3 band 1 freq Hz
    (0.1, 10.0, 0.71),  # 4 band 1 Q
    (-12.0, 12.0, 0.0),  # 5 band 2 gain dB
    (180.0, 4700.0, 1000.0),  # 6 band 2 freq Hz
    (0.1, 10.0, 0.71),  # 7 band 2 Q
    (-12.0, 12.0, 0.0),  # 8 band 3 gain dB
    (220.0, 10000.0, 3300.0),  # 9 band 3 freq Hz
    (0.1, 10.0, 0.71),  # 10 band 3 Q
    (-12.0, 12.0, 0.0),  # 11 high shelf gain dB
    (580.0, 20000.0, 8200.0),  # 12 high shelf freq Hz
]
REFERENCE_KINDS = ["gain", "freq"] + ["gain", "freq", "q"] * 3 + ["gain", "freq"]
REFERENCE_BANDS = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]

GRID = eqmath.log_grid(512, 10.0, 20000.0)


def random_params(rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Parameters drawn uniformly in range (gains) or log-uniformly (freqs and Qs)."""
    u = rng.uniform(size=shape + (N_PARAMS,))
    lin = MINS + u * (MAXS - MINS)
    log = np.exp(np.log(np.abs(MINS)) + u * (np.log(np.abs(MAXS)) - np.log(np.abs(MINS))))
    is_log = np.array([p.log_scale for p in PARAMS])
    return np.where(is_log, log, lin)


def grid_for(samplerate: float) -> np.ndarray:
    return GRID[GRID < 0.5 * samplerate]


# --------------------------------------------------------------------------- table


def test_table_matches_reference():
    assert N_PARAMS == 13 == len(PARAMS)
    for i, (p, (lo, hi, default)) in enumerate(zip(PARAMS, REFERENCE_TABLE, strict=True)):
        assert p.index == i
        assert (p.min, p.max, p.default) == (lo, hi, default), p.key
        assert p.kind == REFERENCE_KINDS[i], p.key
        assert p.band == REFERENCE_BANDS[i], p.key
        assert p.min <= p.default <= p.max
    np.testing.assert_array_equal(MINS, [r[0] for r in REFERENCE_TABLE])
    np.testing.assert_array_equal(MAXS, [r[1] for r in REFERENCE_TABLE])
    np.testing.assert_array_equal(DEFAULTS, [r[2] for r in REFERENCE_TABLE])
    assert len(set(KEYS)) == N_PARAMS


def test_index_tables_agree_with_kinds():
    assert [PARAMS[i].kind for i in GAIN_INDEX] == ["gain"] * 5
    assert [PARAMS[i].kind for i in FREQ_INDEX] == ["freq"] * 5
    assert [None if i is None else PARAMS[i].kind for i in Q_INDEX] == [None, "q", "q", "q", None]
    for b, (g, f, q) in enumerate(MID_BANDS, start=1):
        assert (GAIN_INDEX[b], FREQ_INDEX[b], Q_INDEX[b]) == (g, f, q)
    assert params.SHELF_Q == 0.71
    assert params.BAND_KINDS == ("lowshelf", "peak", "peak", "peak", "highshelf")


def test_band_params_of_defaults():
    bands = params.band_params(DEFAULTS)
    assert bands == [
        ("lowshelf", 0.0, 150.0, 0.71),
        ("peak", 0.0, 650.0, 0.71),
        ("peak", 0.0, 1000.0, 0.71),
        ("peak", 0.0, 3300.0, 0.71),
        ("highshelf", 0.0, 8200.0, 0.71),
    ]


# --------------------------------------------------------------------------- normalisation


def test_normalize_endpoints_and_defaults():
    np.testing.assert_allclose(params.normalize(MINS), np.zeros(N_PARAMS), atol=0)
    np.testing.assert_allclose(params.normalize(MAXS), np.ones(N_PARAMS), atol=1e-15)
    norm_defaults = params.normalize(DEFAULTS)
    assert np.all((norm_defaults >= 0.0) & (norm_defaults <= 1.0))
    # gains default to 0 dB, the middle of a symmetric range
    np.testing.assert_allclose(norm_defaults[list(GAIN_INDEX)], 0.5)
    np.testing.assert_allclose(params.denormalize(np.full(N_PARAMS, 0.5)), (MINS + MAXS) / 2)


@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 4)])
def test_normalize_denormalize_round_trip(shape):
    rng = np.random.default_rng(1)
    x = random_params(rng, shape)
    n = params.normalize(x)
    assert n.shape == x.shape
    assert np.all((n >= 0.0) & (n <= 1.0))
    np.testing.assert_allclose(params.denormalize(n), x, rtol=1e-12, atol=1e-12)
    u = rng.uniform(size=shape + (N_PARAMS,))
    np.testing.assert_allclose(params.normalize(params.denormalize(u)), u, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [params.normalize, params.denormalize])
@pytest.mark.parametrize("shape", [(), (12,), (14,), (13, 2)])
def test_normalize_rejects_wrong_shape(fn, shape):
    with pytest.raises(ParamError, match="13 parameters"):
        fn(np.zeros(shape))


# --------------------------------------------------------------------------- sort_bands


def _mid_freqs(x: np.ndarray) -> np.ndarray:
    return x[..., [f for _, f, _ in MID_BANDS]]


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_sort_bands_orders_by_centre_and_keeps_the_curve(samplerate):
    rng = np.random.default_rng(samplerate)
    x = random_params(rng, (64,))
    s = params.sort_bands(x)
    assert s.shape == x.shape
    assert np.all(np.diff(_mid_freqs(s), axis=-1) >= 0.0)
    # shelves are untouched
    shelf_idx = [0, 1, 11, 12]
    np.testing.assert_array_equal(s[:, shelf_idx], x[:, shelf_idx])
    # each (gain, freq, Q) triple moves as a whole: same multiset of bands per row
    for row_x, row_s in zip(x, s, strict=True):
        bx = sorted(tuple(row_x[list(b)]) for b in MID_BANDS)
        bs = sorted(tuple(row_s[list(b)]) for b in MID_BANDS)
        assert bx == bs
    # physically the same equaliser: the cascade response does not change
    f = grid_for(samplerate)
    before = eqmath.response_db(x, f, samplerate)
    after = eqmath.response_db(s, f, samplerate)
    np.testing.assert_allclose(after, before, atol=1e-9)


def test_sort_bands_reverses_a_descending_vector():
    x = DEFAULTS.copy()
    x[list(MID_BANDS[0])] = [3.0, 3000.0, 2.0]
    x[list(MID_BANDS[1])] = [-4.0, 1000.0, 0.5]
    x[list(MID_BANDS[2])] = [6.0, 300.0, 8.0]
    s = params.sort_bands(x)
    np.testing.assert_array_equal(s[list(MID_BANDS[0])], [6.0, 300.0, 8.0])
    np.testing.assert_array_equal(s[list(MID_BANDS[1])], [-4.0, 1000.0, 0.5])
    np.testing.assert_array_equal(s[list(MID_BANDS[2])], [3.0, 3000.0, 2.0])


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4)])
def test_sort_bands_on_stacks_matches_rowwise_and_is_idempotent(shape):
    rng = np.random.default_rng(7)
    x = random_params(rng, shape)
    x_copy = x.copy()
    s = params.sort_bands(x)
    np.testing.assert_array_equal(x, x_copy)  # input not modified
    assert s is not x
    assert s.shape == x.shape
    rows = x.reshape(-1, N_PARAMS)
    expected = np.stack([params.sort_bands(r) for r in rows]).reshape(x.shape)
    np.testing.assert_array_equal(s, expected)
    np.testing.assert_array_equal(params.sort_bands(s), s)


def test_sort_bands_is_stable_for_equal_frequencies():
    x = DEFAULTS.copy()
    x[list(MID_BANDS[0])] = [1.0, 500.0, 1.0]
    x[list(MID_BANDS[1])] = [2.0, 500.0, 2.0]
    x[list(MID_BANDS[2])] = [3.0, 500.0, 3.0]
    np.testing.assert_array_equal(params.sort_bands(x), x)


def test_sort_bands_rejects_wrong_shape():
    with pytest.raises(ParamError):
        params.sort_bands(np.zeros(12))


# --------------------------------------------------------------------------- validate


def test_validate_accepts_defaults_and_bounds():
    for x in (DEFAULTS, MINS, MAXS, list(DEFAULTS)):
        out = params.validate(x)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, np.asarray(x, dtype=np.float64))


def _outside(p: params.Param) -> list[float]:
    span = p.max - p.min
    return [p.min - 1e-6 * span, p.max + 1e-6 * span, p.min - span, p.max * 10]


@pytest.mark.parametrize("p", PARAMS, ids=KEYS)
def test_validate_out_of_range_names_the_parameter(p):
    for v in _outside(p):
        x = DEFAULTS.copy()
        x[p.index] = v
        with pytest.raises(ParamError, match=re.escape(p.label)) as info:
            params.validate(x)
        assert "outside" in str(info.value)


@pytest.mark.parametrize("p", PARAMS, ids=KEYS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_validate_non_finite_names_the_parameter(p, bad):
    x = DEFAULTS.copy()
    x[p.index] = bad
    with pytest.raises(ParamError, match=re.escape(p.label)):
        params.validate(x)


def test_validate_reports_the_first_bad_parameter():
    x = DEFAULTS.copy()
    x[4] = 50.0  # band 1 Q
    x[9] = np.nan  # band 3 freq
    with pytest.raises(ParamError, match="Band 1 Q"):
        params.validate(x)


@pytest.mark.parametrize("shape", [(), (0,), (12,), (14,), (2, 13), (13, 1)])
def test_validate_rejects_wrong_shape(shape):
    with pytest.raises(ParamError, match="13 parameters"):
        params.validate(np.zeros(shape))


def test_param_error_is_a_value_error():
    assert issubclass(ParamError, ValueError)


def test_out_of_range_flags_rows():
    x = np.stack([DEFAULTS, DEFAULTS, DEFAULTS, DEFAULTS])
    x[1, 3] = 10.0
    x[2, 12] = np.nan
    x[3, 0] = 12.0  # on the bound: fine
    np.testing.assert_array_equal(params.out_of_range(x), [False, True, True, False])


# --------------------------------------------------------------------------- clip


def test_clip_clamps_into_range_and_replaces_non_finite():
    rng = np.random.default_rng(3)
    x = random_params(rng, (60,))
    wild = x.copy()
    wild[0::4] = MINS - 100.0 * (MAXS - MINS)
    wild[1::4] = MAXS * 1e3
    wild[2::4] = np.where(np.arange(N_PARAMS) % 2 == 0, np.nan, np.inf)
    out = params.clip(wild)
    assert out.shape == wild.shape
    assert not params.out_of_range(out).any()
    np.testing.assert_array_equal(out[0::4], np.broadcast_to(MINS, out[0::4].shape))
    np.testing.assert_array_equal(out[1::4], np.broadcast_to(MAXS, out[1::4].shape))
    np.testing.assert_array_equal(out[2::4], np.broadcast_to(DEFAULTS, out[2::4].shape))
    # in-range values pass through untouched
    np.testing.assert_array_equal(out[3::4], x[3::4])
    np.testing.assert_array_equal(params.clip(x), x)
    # clipped vectors validate
    for row in out:
        params.validate(row)


# --------------------------------------------------------------------------- apply_strength


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_strength_zero_is_flat(samplerate):
    rng = np.random.default_rng(11)
    x = random_params(rng, (32,))
    flat = params.apply_strength(x, 0.0)
    np.testing.assert_array_equal(flat[:, list(GAIN_INDEX)], 0.0)
    resp = eqmath.response_db(flat, grid_for(samplerate), samplerate)
    np.testing.assert_allclose(resp, 0.0, atol=1e-9)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_strength_one_is_unchanged(samplerate):
    rng = np.random.default_rng(12)
    x = random_params(rng, (32,))
    out = params.apply_strength(x, 1.0)
    np.testing.assert_array_equal(out, x)
    f = grid_for(samplerate)
    np.testing.assert_array_equal(
        eqmath.response_db(out, f, samplerate), eqmath.response_db(x, f, samplerate)
    )


@pytest.mark.parametrize("strength", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_strength_scales_only_gains(strength):
    rng = np.random.default_rng(13)
    x = random_params(rng, (4, 3))
    x_copy = x.copy()
    out = params.apply_strength(x, strength)
    np.testing.assert_array_equal(x, x_copy)  # input not modified
    gains = list(GAIN_INDEX)
    others = [i for i in range(N_PARAMS) if i not in GAIN_INDEX]
    np.testing.assert_allclose(out[..., gains], strength * x[..., gains], rtol=1e-15)
    np.testing.assert_array_equal(out[..., others], x[..., others])


def test_strength_is_clamped_to_unit_interval():
    rng = np.random.default_rng(14)
    x = random_params(rng)
    np.testing.assert_array_equal(params.apply_strength(x, 2.0), x)
    np.testing.assert_array_equal(params.apply_strength(x, -1.0)[list(GAIN_INDEX)], 0.0)


@pytest.mark.parametrize("samplerate", SAMPLE_RATES)
def test_half_strength_peaks_are_half_as_loud(samplerate):
    """A lone peaking band at half strength gives half its dB gain at its centre."""
    x = DEFAULTS.copy()
    x[list(MID_BANDS[1])] = [12.0, 1000.0, 2.0]
    half = params.apply_strength(x, 0.5)
    at_centre = eqmath.response_db(half, [1000.0], samplerate)
    np.testing.assert_allclose(at_centre, [6.0], atol=0.01)
