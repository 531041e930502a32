"""Reference EQ math in NumPy: biquad design (RBJ cookbook as JUCE implements it) and responses.

This module is the readable reference the Cython core is tested against, and what the UI
uses to draw curves. Coefficients are returned as second-order sections in scipy's layout
``[b0, b1, b2, a0, a1, a2]`` with ``a0 == 1``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .params import FREQ_INDEX, GAIN_INDEX, N_BANDS, N_PARAMS, Q_INDEX, SHELF_Q

MIN_RATE = 8000.0
MAX_RATE = 192000.0
NYQUIST_FRACTION = 0.48
"""Centre/corner frequencies are clamped to this fraction of the sample rate (below Nyquist)."""
MIN_FREQ = 2.0
"""JUCE's lower clamp on filter frequencies."""

KIND_LOWSHELF, KIND_PEAK, KIND_HIGHSHELF = 0, 1, 2
BAND_KIND_CODES = (KIND_LOWSHELF, KIND_PEAK, KIND_PEAK, KIND_PEAK, KIND_HIGHSHELF)


def check_rate(samplerate: float) -> float:
    """Return the rate as float, or raise ValueError for rates outside 8-192 kHz."""
    fs = float(samplerate)
    if not np.isfinite(fs) or fs < MIN_RATE or fs > MAX_RATE:
        raise ValueError(f"sample rate {samplerate} Hz is outside the supported 8000-192000 Hz")
    return fs


def clamp_freq(freq: ArrayLike, samplerate: float) -> NDArray[np.float64]:
    """Clamp frequencies to [2 Hz, 0.48 fs] so every design stays strictly below Nyquist."""
    return np.clip(np.asarray(freq, dtype=np.float64), MIN_FREQ, NYQUIST_FRACTION * samplerate)


def design_band(
    kind: int, gain_db: ArrayLike, freq: ArrayLike, q: ArrayLike, samplerate: float
) -> NDArray[np.float64]:
    """Design one kind of band, vectorised over gain/freq/q; returns (..., 6) SOS rows."""
    fs = check_rate(samplerate)
    g, f, qq = np.broadcast_arrays(
        np.asarray(gain_db, dtype=np.float64),
        clamp_freq(freq, fs),
        np.maximum(np.asarray(q, dtype=np.float64), 1e-3),
    )
    big_a = np.sqrt(10.0 ** (g / 20.0))
    w = 2.0 * np.pi * f / fs
    cw, sw = np.cos(w), np.sin(w)
    if kind == KIND_PEAK:
        alpha = 0.5 * sw / qq
        b = np.stack([1.0 + alpha * big_a, -2.0 * cw, 1.0 - alpha * big_a], axis=-1)
        a = np.stack([1.0 + alpha / big_a, -2.0 * cw, 1.0 - alpha / big_a], axis=-1)
    else:
        am1, ap1 = big_a - 1.0, big_a + 1.0
        beta = sw * np.sqrt(big_a) / qq
        am1c = am1 * cw
        if kind == KIND_LOWSHELF:
            b = big_a[..., None] * np.stack(
                [ap1 - am1c + beta, 2.0 * (am1 - ap1 * cw), ap1 - am1c - beta], axis=-1
            )
            a = np.stack([ap1 + am1c + beta, -2.0 * (am1 + ap1 * cw), ap1 + am1c - beta], axis=-1)
        elif kind == KIND_HIGHSHELF:
            b = big_a[..., None] * np.stack(
                [ap1 + am1c + beta, -2.0 * (am1 + ap1 * cw), ap1 + am1c - beta], axis=-1
            )
            a = np.stack([ap1 - am1c + beta, 2.0 * (am1 - ap1 * cw), ap1 - am1c - beta], axis=-1)
        else:
            raise ValueError(f"unknown band kind {kind}")
    a0 = a[..., :1]
    return np.concatenate([b / a0, np.ones_like(a0), a[..., 1:] / a0], axis=-1)


def design(
    params: ArrayLike, samplerate: float, active: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Coefficients of the 5-band cascade for one or many 13-parameter vectors.

    Returns (..., 5, 6) SOS. Inactive bands (``active[b]`` false) are identity sections.
    """
    p = np.asarray(params, dtype=np.float64)
    if p.shape[-1:] != (N_PARAMS,):
        raise ValueError(f"expected {N_PARAMS} parameters in the last axis, got shape {p.shape}")
    sos = np.empty(p.shape[:-1] + (N_BANDS, 6))
    for b, kind in enumerate(BAND_KIND_CODES):
        qi = Q_INDEX[b]
        q = SHELF_Q if qi is None else p[..., qi]
        gain, freq = p[..., GAIN_INDEX[b]], p[..., FREQ_INDEX[b]]
        sos[..., b, :] = design_band(kind, gain, freq, q, samplerate)
    if active is not None:
        act = np.asarray(active, dtype=bool)
        if act.shape != (N_BANDS,):
            raise ValueError(f"active must have {N_BANDS} flags, got shape {act.shape}")
        sos[..., ~act, :] = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    return sos


def log_grid(n: int = 256, fmin: float = 20.0, fmax: float = 20000.0) -> NDArray[np.float64]:
    """n frequencies spaced evenly on a log axis from fmin to fmax (inclusive)."""
    return np.geomspace(fmin, fmax, n)


def sos_response(sos: ArrayLike, freqs: ArrayLike, samplerate: float) -> NDArray[np.complex128]:
    """Complex response of each section: sos (..., 6) -> (..., len(freqs))."""
    s = np.asarray(sos, dtype=np.float64)[..., None, :]
    w = 2.0 * np.pi * np.asarray(freqs, dtype=np.float64) / samplerate
    z1 = np.exp(-1j * w)
    z2 = z1 * z1
    num = s[..., 0] + s[..., 1] * z1 + s[..., 2] * z2
    den = s[..., 3] + s[..., 4] * z1 + s[..., 5] * z2
    return num / den


def band_response_db(
    params: ArrayLike, freqs: ArrayLike, samplerate: float, active: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Magnitude of each band in dB: params (..., 13) -> (..., 5, len(freqs))."""
    h = sos_response(design(params, samplerate, active), freqs, samplerate)
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-12))


def response_db(
    params: ArrayLike, freqs: ArrayLike, samplerate: float, active: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Magnitude of the whole cascade in dB: params (..., 13) -> (..., len(freqs))."""
    return band_response_db(params, freqs, samplerate, active).sum(axis=-2)


def poles(sos: ArrayLike) -> NDArray[np.complex128]:
    """Poles of each section: (..., 6) -> (..., 2)."""
    s = np.asarray(sos, dtype=np.float64)
    a0, a1, a2 = s[..., 3], s[..., 4], s[..., 5]
    disc = np.sqrt((a1 * a1 - 4.0 * a0 * a2).astype(np.complex128))
    return np.stack([(-a1 + disc) / (2.0 * a0), (-a1 - disc) / (2.0 * a0)], axis=-1)


def k_weighting_sos(samplerate: float) -> NDArray[np.float64]:
    """ITU-R BS.1770 K-weighting as two SOS rows (pre-filter shelf, then RLB high-pass).

    Designed for any rate with the same cookbook formulas as pyloudnorm (shelf +4 dB at
    1500 Hz, Q 1/sqrt(2); high-pass 38 Hz, Q 0.5), so our meter can be checked against it.
    """
    fs = float(samplerate)
    big_a = 10.0 ** (4.0 / 40.0)
    w0 = 2.0 * np.pi * 1500.0 / fs
    alpha = np.sin(w0) / (2.0 * (1.0 / np.sqrt(2.0)))
    c, sa = np.cos(w0), 2.0 * np.sqrt(big_a) * alpha
    shelf = np.array(
        [
            big_a * ((big_a + 1) + (big_a - 1) * c + sa),
            -2 * big_a * ((big_a - 1) + (big_a + 1) * c),
            big_a * ((big_a + 1) + (big_a - 1) * c - sa),
            (big_a + 1) - (big_a - 1) * c + sa,
            2 * ((big_a - 1) - (big_a + 1) * c),
            (big_a + 1) - (big_a - 1) * c - sa,
        ]
    )
    w0 = 2.0 * np.pi * 38.0 / fs
    alpha = np.sin(w0) / (2.0 * 0.5)
    c = np.cos(w0)
    hp = np.array([(1 + c) / 2, -(1 + c), (1 + c) / 2, 1 + alpha, -2 * c, 1 - alpha])
    sos = np.stack([shelf, hp])
    return sos / sos[:, 3:4]
