"""The 13 equalizer parameters: one table, normalisation, band sorting and validation.

Order (the SAFE-DB / flowEQ order): low shelf gain, freq; band 1 gain, freq, Q; band 2 gain,
freq, Q; band 3 gain, freq, Q; high shelf gain, freq.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

N_PARAMS = 13
N_BANDS = 5
SHELF_Q = 0.71
"""Fixed Q of both shelves (as in the SAFE plugin and flowEQ)."""

BAND_NAMES = ("low shelf", "band 1", "band 2", "band 3", "high shelf")
BAND_KINDS = ("lowshelf", "peak", "peak", "peak", "highshelf")


@dataclass(frozen=True)
class Param:
    """One row of the parameter table."""

    index: int
    key: str
    label: str
    unit: str
    min: float
    max: float
    default: float
    band: int
    kind: str  # "gain", "freq" or "q"

    @property
    def log_scale(self) -> bool:
        """Frequencies and Qs are shown and stepped on a log scale."""
        return self.kind in ("freq", "q")


PARAMS: tuple[Param, ...] = (
    Param(0, "ls_gain", "Low shelf gain", "dB", -12.0, 12.0, 0.0, 0, "gain"),
    Param(1, "ls_freq", "Low shelf freq", "Hz", 22.0, 1000.0, 150.0, 0, "freq"),
    Param(2, "b1_gain", "Band 1 gain", "dB", -12.0, 12.0, 0.0, 1, "gain"),
    Param(3, "b1_freq", "Band 1 freq", "Hz", 82.0, 3900.0, 650.0, 1, "freq"),
    Param(4, "b1_q", "Band 1 Q", "", 0.1, 10.0, 0.71, 1, "q"),
    Param(5, "b2_gain", "Band 2 gain", "dB", -12.0, 12.0, 0.0, 2, "gain"),
    Param(6, "b2_freq", "Band 2 freq", "Hz", 180.0, 4700.0, 1000.0, 2, "freq"),
    Param(7, "b2_q", "Band 2 Q", "", 0.1, 10.0, 0.71, 2, "q"),
    Param(8, "b3_gain", "Band 3 gain", "dB", -12.0, 12.0, 0.0, 3, "gain"),
    Param(9, "b3_freq", "Band 3 freq", "Hz", 220.0, 10000.0, 3300.0, 3, "freq"),
    Param(10, "b3_q", "Band 3 Q", "", 0.1, 10.0, 0.71, 3, "q"),
    Param(11, "hs_gain", "High shelf gain", "dB", -12.0, 12.0, 0.0, 4, "gain"),
    Param(12, "hs_freq", "High shelf freq", "Hz", 580.0, 20000.0, 8200.0, 4, "freq"),
)

KEYS: tuple[str, ...] = tuple(p.key for p in PARAMS)
MINS: NDArray[np.float64] = np.array([p.min for p in PARAMS])
MAXS: NDArray[np.float64] = np.array([p.max for p in PARAMS])
DEFAULTS: NDArray[np.float64] = np.array([p.default for p in PARAMS])
GAIN_INDEX: tuple[int, ...] = (0, 2, 5, 8, 11)
FREQ_INDEX: tuple[int, ...] = (1, 3, 6, 9, 12)
Q_INDEX: tuple[int | None, ...] = (None, 4, 7, 10, None)
MID_BANDS: tuple[tuple[int, int, int], ...] = ((2, 3, 4), (5, 6, 7), (8, 9, 10))
"""(gain, freq, Q) indices of the three peaking bands."""


class ParamError(ValueError):
    """A parameter vector is malformed or out of range."""


def _as_array(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[-1:] != (N_PARAMS,):
        raise ParamError(f"expected {N_PARAMS} parameters in the last axis, got shape {arr.shape}")
    return arr


def normalize(values: ArrayLike) -> NDArray[np.float64]:
    """Map parameters to [0, 1] per parameter: (x - min) / (max - min), as the models use."""
    arr = _as_array(values)
    return (arr - MINS) / (MAXS - MINS)


def denormalize(values: ArrayLike) -> NDArray[np.float64]:
    """Inverse of :func:`normalize`."""
    arr = _as_array(values)
    return MINS + arr * (MAXS - MINS)


def sort_bands(values: ArrayLike) -> NDArray[np.float64]:
    """Reorder the three peaking bands by ascending centre frequency (same curve, canonical order).

    Works on one vector or a stack (..., 13); returns a new array.
    """
    arr = _as_array(values).copy()
    flat = arr.reshape(-1, N_PARAMS)
    mids = np.stack([flat[:, list(b)] for b in MID_BANDS], axis=1)  # (n, 3, 3)
    order = np.argsort(mids[:, :, 1], axis=1, kind="stable")
    mids = np.take_along_axis(mids, order[:, :, None], axis=1)
    for slot, idx in enumerate(MID_BANDS):
        flat[:, list(idx)] = mids[:, slot, :]
    return flat.reshape(arr.shape)


def out_of_range(values: ArrayLike) -> NDArray[np.bool_]:
    """True for each vector (row) with a non-finite value or a value outside its range."""
    arr = _as_array(values)
    bad = ~np.isfinite(arr) | (arr < MINS) | (arr > MAXS)
    return bad.any(axis=-1)


def validate(values: ArrayLike) -> NDArray[np.float64]:
    """Return the vector as float64, or raise ParamError naming the first bad parameter."""
    arr = _as_array(values)
    if arr.ndim != 1:
        raise ParamError(f"expected one vector of {N_PARAMS} parameters, got shape {arr.shape}")
    for p, v in zip(PARAMS, arr, strict=True):
        if not np.isfinite(v):
            raise ParamError(f"{p.label} is {v}, not a number")
        if v < p.min or v > p.max:
            unit = f" {p.unit}" if p.unit else ""
            raise ParamError(f"{p.label} = {v:g}{unit} is outside [{p.min:g}, {p.max:g}]")
    return arr


def clip(values: ArrayLike) -> NDArray[np.float64]:
    """Clamp every parameter into its range (non-finite values become the default)."""
    arr = _as_array(values)
    arr = np.where(np.isfinite(arr), arr, DEFAULTS)
    return np.clip(arr, MINS, MAXS)


def apply_strength(values: ArrayLike, strength: float) -> NDArray[np.float64]:
    """Scale every band gain by strength, clamped to [0, 1] (0 or NaN = flat, 1 = as given)."""
    arr = _as_array(values).copy()
    s = float(strength)
    arr[..., list(GAIN_INDEX)] *= min(max(s, 0.0), 1.0) if s == s else 0.0
    return arr


def band_params(values: ArrayLike) -> list[tuple[str, float, float, float]]:
    """Split one vector into (kind, gain dB, freq Hz, Q) per band, shelves with SHELF_Q."""
    arr = _as_array(values)
    out = []
    for b, kind in enumerate(BAND_KINDS):
        qi = Q_INDEX[b]
        q = SHELF_Q if qi is None else float(arr[qi])
        out.append((kind, float(arr[GAIN_INDEX[b]]), float(arr[FREQ_INDEX[b]]), q))
    return out
