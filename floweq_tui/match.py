"""Match a reference: the EQ that makes INPUT sound like REFERENCE, as five bands and on the map.

Steps (docs/match.md): the long-term average spectrum of each (Welch, mono mix), smoothed
(1/3 octave by default) on a log grid from 20 Hz to 20 kHz; the difference REFERENCE -
INPUT with its loudness (weighted mean level) taken out, clamped to what five bands can do
(+-24 dB); points where either file has no signal (or above its Nyquist) get no weight. Then

- ``params``: the 13 parameters by least squares on that curve (:func:`eqfit.fit_curve`,
  several starts, peaking bands sorted, with a free overall level), and
- ``latent``: the nearest point of a model's latent map: the encoder's guess from the
  parameter fit, plus the best point of a coarse grid, refined against the curve,

each with its residual in dB. ``amount`` scales the gains as the strength control does.
Everything here is pure computation on arrays or files: no engine, no UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from . import eqfit, eqmath, sources
from .params import GAIN_INDEX, apply_strength

FIT_KINDS = ("both", "params", "latent")
MIN_SECONDS = 0.25
"""Shorter audio cannot show the bass (a 20 Hz cycle is 50 ms; Welch needs several)."""
MAX_SECONDS = 1800.0
GRID_POINTS = 120
CLAMP_DB = 24.0
"""The largest difference five bands can make (two overlapping +-12 dB bands)."""
FLOOR_DB = 80.0
"""Frequencies more than this below a spectrum's loudest are treated as no signal."""
LATENT_LIMIT = 4.0
"""The map's reach: x/y/z in [-2, 2], doubled by Extend."""


class MatchError(ValueError):
    """Audio that cannot be matched (silent, too short, unreadable); one line for the user."""


@dataclass(frozen=True)
class FitResult:
    """One fit: the parameters it plays (after amount) and its residual."""

    params: NDArray[np.float64]
    """The 13 parameters at full amount (what the engine's p0..p12 / decoder give)."""
    played: NDArray[np.float64]
    """The 13 parameters after amount (gains scaled as strength does)."""
    curve_db: NDArray[np.float64]
    """The played response on the grid, plus the fitted level."""
    error_db: float
    """Mean absolute difference from amount x target over the weighted grid, in dB."""
    max_error_db: float
    z: tuple[float, ...] | None = None
    """The latent point (latent fit only), in model units (x, y, z before Extend's halving)."""
    model: str | None = None
    offset_db: float = 0.0
    """The level between the played curve and amount x target (what auto gain takes up)."""


@dataclass
class MatchResult:
    """The target curve and the fits."""

    freqs: NDArray[np.float64]
    target_db: NDArray[np.float64]
    """Reference minus input, loudness taken out, clamped (full amount)."""
    weights: NDArray[np.float64]
    """1 where both files have signal below their Nyquist, else 0."""
    level_db: float
    """How much louder the reference is (the loudness taken out), in dB."""
    amount: float
    smoothing: float
    samplerate: float
    params: FitResult | None = None
    latent: FitResult | None = None
    flat_error_db: float = 0.0
    """The flat EQ's error (the baseline), in dB."""
    seconds: dict[str, float] = field(default_factory=dict)

    def shown_target(self, fit: FitResult) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(freqs, dB) of amount x target at the fit's level, where it has weight: the curve
        to draw behind the fit's response."""
        keep = self.weights > 0
        return self.freqs[keep], (self.amount * self.target_db - fit.offset_db)[keep]

    def to_json(self) -> dict[str, Any]:
        """One JSON-able object: params, latent, model, error_db per fit, and the curves."""
        best = self.params or self.latent
        assert best is not None
        out: dict[str, Any] = {
            "params": [round(float(v), 4) for v in best.played],
            "latent": list(self.latent.z) if self.latent and self.latent.z else None,
            "model": self.latent.model if self.latent else None,
            "error_db": {
                "params": _r(self.params.error_db) if self.params else None,
                "latent": _r(self.latent.error_db) if self.latent else None,
                "flat": _r(self.flat_error_db),
            },
            "max_error_db": {
                "params": _r(self.params.max_error_db) if self.params else None,
                "latent": _r(self.latent.max_error_db) if self.latent else None,
            },
            "latent_params": (
                [round(float(v), 4) for v in self.latent.played] if self.latent else None
            ),
            "amount": self.amount,
            "smoothing_octaves": self.smoothing,
            "level_db": _r(self.level_db),
            "samplerate": self.samplerate,
            "freqs": [round(float(f), 2) for f in self.freqs],
            "target_db": [_r(v) for v in self.target_db],
        }
        return out


def _r(v: float) -> float:
    return round(float(v), 3)


# -------------------------------------------------------------------------------- spectra


def _mono(audio: ArrayLike) -> NDArray[np.float64]:
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :2].mean(axis=1) if a.shape[1] else a[:, 0]
    if a.ndim != 1:
        raise MatchError(f"audio must be (frames,) or (frames, channels), not shape {a.shape}")
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


def _welch(
    x: NDArray[np.float64], fs: float, nper: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch's average power spectrum (Hann, 50 % overlap, mean removed per segment); the
    same as scipy.signal.welch up to scale, which cancels in a difference of spectra."""
    from numpy.lib.stride_tricks import sliding_window_view

    segs = sliding_window_view(x, nper)[:: nper // 2]
    win = np.hanning(nper + 1)[:-1]  # periodic Hann
    spec = np.fft.rfft((segs - segs.mean(axis=1, keepdims=True)) * win, axis=1)
    pxx = (spec.real**2 + spec.imag**2).mean(axis=0)
    return np.fft.rfftfreq(nper, 1.0 / fs), pxx


def average_spectrum(
    audio: ArrayLike,
    samplerate: float,
    freqs: NDArray[np.float64],
    smoothing: float = 1 / 3,
    name: str = "audio",
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Long-term average power spectrum in dB at ``freqs``, smoothed over ``smoothing`` octaves.

    Returns (dB, valid): valid is False above 0.45 fs and where the spectrum is more than
    FLOOR_DB below its loudest. Raises MatchError for silent or too short audio.
    """
    x = _mono(audio)
    fs = float(samplerate)
    if x.size < MIN_SECONDS * fs:
        raise MatchError(
            f"{name} is too short ({x.size / fs:.2f} s; at least {MIN_SECONDS:g} s needed)"
        )
    if not np.any(np.abs(x) > 1e-7):
        raise MatchError(f"{name} is silent")
    nper = int(2 ** np.floor(np.log2(min(x.size, fs * 0.37))))
    f, pxx = _welch(x, fs, nper)
    # Smoothing: mean power over [f 2^-s/2, f 2^s/2] from the cumulative integral of the
    # spectrum (a band narrower than a bin becomes the interpolated bin value).
    cum = np.concatenate([[0.0], np.cumsum((pxx[1:] + pxx[:-1]) * 0.5 * np.diff(f))])
    half = 2.0 ** (max(float(smoothing), 1e-3) / 2.0)
    lo, hi = np.clip(freqs / half, f[0], f[-1]), np.clip(freqs * half, f[0], f[-1])
    width = hi - lo
    mean = np.where(
        width > 1e-9,
        (np.interp(hi, f, cum) - np.interp(lo, f, cum)) / np.maximum(width, 1e-9),
        np.interp(freqs, f, pxx),
    )
    db = 10.0 * np.log10(np.maximum(mean, 1e-30))
    valid = (freqs <= 0.45 * fs) & (db > db[freqs <= 0.45 * fs].max() - FLOOR_DB)
    return db, valid


def target_curve(
    input_audio: ArrayLike,
    input_rate: float,
    reference_audio: ArrayLike,
    reference_rate: float,
    smoothing: float = 1 / 3,
    freqs: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """(freqs, target dB, weights, level dB): the EQ that turns input into reference."""
    grid = eqmath.log_grid(GRID_POINTS) if freqs is None else np.asarray(freqs, dtype=float)
    a, va = average_spectrum(input_audio, input_rate, grid, smoothing, "INPUT")
    b, vb = average_spectrum(reference_audio, reference_rate, grid, smoothing, "REFERENCE")
    w = (va & vb).astype(np.float64)
    if w.sum() < 8:
        raise MatchError("INPUT and REFERENCE share no frequencies with signal in 20 Hz-20 kHz")
    d = b - a
    level = float(np.average(d, weights=w))
    return grid, np.clip(d - level, -CLAMP_DB, CLAMP_DB), w, level


# -------------------------------------------------------------------------------- fits


def _scored(
    params: NDArray[np.float64],
    amount: float,
    freqs: NDArray[np.float64],
    target: NDArray[np.float64],
    w: NDArray[np.float64],
    fs: float,
    z: tuple[float, ...] | None = None,
    model: str | None = None,
) -> FitResult:
    played = apply_strength(params, amount)
    goal = amount * target
    curve = eqmath.response_db(played, freqs, fs)
    offset = float(np.average(goal - curve, weights=w))
    curve = curve + offset
    err = np.abs(curve - goal)
    return FitResult(
        params=params,
        played=played,
        curve_db=curve,
        error_db=float(np.average(err, weights=w)),
        max_error_db=float(err[w > 0].max()),
        z=z,
        model=model,
        offset_db=offset,
    )


def fit_latent(
    model: Any,
    freqs: NDArray[np.float64],
    target: NDArray[np.float64],
    w: NDArray[np.float64],
    samplerate: float,
    guess: NDArray[np.float64] | None = None,
) -> tuple[tuple[float, ...], NDArray[np.float64]]:
    """The latent point (and its decoded parameters) whose curve is nearest the target.

    Starts: the encoder's code for ``guess`` (13 parameters) and the best point of a coarse
    grid over the map; each refined by bounded least squares (free overall level).
    """
    d = int(model.latent)
    sw = np.sqrt(w / w.mean())
    wn = w / w.sum()

    def resid(zs: NDArray[np.float64]) -> NDArray[np.float64]:
        c = eqfit.magnitude_db(model.decode(zs), freqs, samplerate) - target
        return (c - (c @ wn)[..., None]) * sw

    axis = np.linspace(-LATENT_LIMIT, LATENT_LIMIT, {1: 33, 2: 13, 3: 7}.get(d, 5))
    grid = np.stack(np.meshgrid(*([axis] * d), indexing="ij"), axis=-1).reshape(-1, d)
    starts = grid[int(np.argmin((resid(grid) ** 2).sum(axis=1)))][None]
    if guess is not None:
        starts = np.vstack([starts, np.clip(model.encode(guess), -LATENT_LIMIT, LATENT_LIMIT)])
    costs = (resid(starts) ** 2).sum(axis=1)
    best, cost = None, np.inf
    for z0 in starts[np.argsort(costs)[:1]]:  # refine the better start only
        sol = least_squares(
            lambda z: resid(z[None])[0],
            np.clip(z0, -LATENT_LIMIT + 1e-6, LATENT_LIMIT - 1e-6),
            bounds=(-LATENT_LIMIT, LATENT_LIMIT),
            diff_step=1e-3,
            max_nfev=60,
        )
        if sol.cost < cost:
            best, cost = sol.x, sol.cost
    assert best is not None
    z = tuple(float(v) for v in best)
    return z, model.decode(np.asarray(z))


def load_model(name: str | None = None) -> Any:
    """A model of the shipped family by name (default: the family's default); MatchError."""
    from . import vae

    try:
        family = vae.load_family(strict=False)
        return family.default if name is None else family[name]
    except (KeyError, vae.ModelError, OSError, ValueError, StopIteration) as exc:
        raise MatchError(str(exc).strip("'\"").splitlines()[0] or "no models") from None


def match(
    input_audio: ArrayLike,
    input_rate: float,
    reference_audio: ArrayLike,
    reference_rate: float,
    *,
    amount: float = 1.0,
    smoothing: float = 1 / 3,
    fit: str = "both",
    model: Any = None,
    samplerate: float | None = None,
) -> MatchResult:
    """Match arrays (frames[, channels]) at their rates; see the module docstring.

    ``model`` is a loaded :class:`vae.Model` (needed unless ``fit == "params"``);
    ``samplerate`` is the rate the result will play at (default: the input's).
    """
    import time

    if fit not in FIT_KINDS:
        raise MatchError(f"--fit must be one of {', '.join(FIT_KINDS)}, not {fit!r}")
    if not 0.0 <= amount <= 1.0:
        raise MatchError(f"amount must be 0-100 %, not {100 * amount:g}")
    if not 0.0 <= smoothing <= 4.0:
        raise MatchError(f"smoothing must be 0-4 octaves, not {smoothing:g}")
    if fit != "params" and model is None:
        raise MatchError("a latent fit needs a model")
    fs = eqmath.check_rate(samplerate or input_rate)
    t0 = time.perf_counter()
    freqs, target, w, level = target_curve(
        input_audio, input_rate, reference_audio, reference_rate, smoothing
    )
    t1 = time.perf_counter()
    res = MatchResult(freqs, target, w, level, float(amount), float(smoothing), fs)
    flat_err = np.abs(amount * target - np.average(amount * target, weights=w))
    res.flat_error_db = float(np.average(flat_err, weights=w))
    pf = eqfit.fit_curve(
        freqs, target, fs, weights=w, free_level=True, starts=4 if fit != "latent" else 2
    )
    if fit != "latent":
        res.params = _scored(pf.params, amount, freqs, target, w, fs)
    t2 = time.perf_counter()
    if fit != "params":
        z, zp = fit_latent(model, freqs, target, w, fs, guess=pf.params)
        res.latent = _scored(zp, amount, freqs, target, w, fs, z=z, model=model.name)
    t3 = time.perf_counter()
    res.seconds = {"spectra": t1 - t0, "params": t2 - t1, "latent": t3 - t2, "total": t3 - t0}
    return res


def read_mono(path: str | os.PathLike[str], name: str) -> tuple[NDArray[np.float32], int]:
    """A file as a mono mix at its own rate, with every failure a one-line MatchError."""
    try:
        _, rate, _ = sources.info(path)
        return sources.load_file(path, rate, 1, max_seconds=MAX_SECONDS)[:, 0], rate
    except sources.SourceError as exc:
        raise MatchError(f"{name}: {exc}") from None


def match_files(
    input_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str],
    **kwargs: Any,
) -> MatchResult:
    """:func:`match` on two audio files (any rates, mono or multichannel)."""
    a, ra = read_mono(input_path, "INPUT")
    b, rb = read_mono(reference_path, "REFERENCE")
    return match(a, ra, b, rb, **kwargs)


def session_controls(res: MatchResult, model_index: int | None = None) -> dict[str, float]:
    """The controls that play the result: the latent point in Traverse (Extend when it is
    beyond +-2) with the parameter fit in the manual slots, or Manual with the parameter fit;
    strength = amount."""
    from .controls import MODES

    out: dict[str, float] = {"strength": res.amount, "bypass": 0.0}
    out.update({f"active{b}": 1.0 for b in range(len(GAIN_INDEX))})
    if res.params is not None:
        out.update({f"p{i}": float(v) for i, v in enumerate(res.params.params)})
        out["mode"] = float(MODES.index("manual"))
    if res.latent is not None and res.latent.z is not None:
        z = res.latent.z
        extend = max(abs(v) for v in z) > 2.0
        scale = 0.5 if extend else 1.0
        for k, v in zip(("x", "y", "z"), z, strict=False):
            out[k] = float(np.clip(v * scale, -2.0, 2.0))
        out["extend"] = 1.0 if extend else 0.0
        out["mode"] = float(MODES.index("traverse"))
        if model_index is not None:
            out["model"] = float(model_index)
    return out
