"""Fit the five bands (low shelf, three peaks, high shelf) to a target dB curve.

Public API (kept stable: other features build on it)::

    fit_curve(freqs, target_db, samplerate=48000.0, *, weights=None, starts=6, seed=0,
              free_level=False)
        -> EqFit(params, max_error_db, mean_error_db, fitted_db, offset_db)
    magnitude_db(params, freqs, samplerate) -> (..., len(freqs)) dB
        eqmath.response_db's value (to 1e-3 dB) in real arithmetic, several times faster

``freqs`` (Hz) and ``target_db`` are 1-D arrays of the same length (any grid; a log-spaced
one such as ``eqmath.log_grid()`` weights every octave alike). The result's ``params`` are
the 13 parameters in their units (``floweq_tui.params`` order and ranges), with the three
peaking bands sorted by frequency; the errors are the absolute differences in dB between
``eqmath.response_db(params, freqs, samplerate)`` (the very response the engine plays) and
the target, over the grid (weighted points only: a zero weight excludes a point).
With ``free_level=True`` an overall level is fitted too (for targets known only up to a
constant, such as the difference of two loudness-normalised spectra): ``offset_db`` is that
level, and the errors and ``fitted_db`` include it; otherwise ``offset_db`` is 0.

How: bounded least squares (scipy's trust region reflective) on the dB curve, in
(gain dB, log f, log Q), from several starts (a flat start, a greedy one that puts the peaks
on the largest remaining errors, and seeded random ones), with a soft penalty that keeps
the peaking bands in frequency order; the best start wins. The Jacobian is taken by finite
differences in one vectorised design call, so a fit takes a few tens of ms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from . import eqmath
from .params import DEFAULTS, FREQ_INDEX, GAIN_INDEX, MAXS, MID_BANDS, MINS, N_PARAMS, sort_bands

__all__ = ["EqFit", "fit_curve", "magnitude_db"]

_LOG = np.array([i in FREQ_INDEX or i in (4, 7, 10) for i in range(N_PARAMS)])
_MID_FREQS = tuple(b[1] for b in MID_BANDS)
_ORDER_WEIGHT = 20.0
"""Residual (dB) per unit of log-frequency by which a peaking band overtakes the next one."""


@dataclass(frozen=True)
class EqFit:
    """A fitted five-band setting and how far its response is from the target."""

    params: NDArray[np.float64]
    """The 13 parameters in their units (params.py order), peaking bands sorted."""
    max_error_db: float
    """Largest absolute difference from the target on the (weighted) grid, in dB."""
    mean_error_db: float
    """Mean absolute difference (weighted by ``weights``), in dB."""
    fitted_db: NDArray[np.float64]
    """The fitted response on the grid (eqmath.response_db, plus offset_db), in dB."""
    offset_db: float = 0.0
    """The fitted overall level (only with ``free_level=True``), in dB."""


def _to_x(p: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(_LOG, np.log(np.maximum(p, 1e-9)), p)


def _to_p(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(_LOG, np.exp(x), x)


def fit_curve(
    freqs: ArrayLike,
    target_db: ArrayLike,
    samplerate: float = 48000.0,
    *,
    weights: ArrayLike | None = None,
    starts: int = 6,
    seed: int = 0,
    free_level: bool = False,
) -> EqFit:
    """Fit the 13 parameters to ``target_db`` at ``freqs``; see the module docstring.

    ``weights`` (>= 0, same length) scales each point's squared error; ``starts`` (>= 1)
    is how many starting points are tried (the first two are deterministic, the rest drawn
    with ``seed``). Raises ValueError for mismatched, empty or non-finite inputs.
    """
    f = np.asarray(freqs, dtype=np.float64)
    t = np.asarray(target_db, dtype=np.float64)
    fs = eqmath.check_rate(samplerate)
    if f.ndim != 1 or f.shape != t.shape or f.size == 0:
        raise ValueError("freqs and target_db must be 1-D arrays of the same, non-zero length")
    if not (np.isfinite(f).all() and np.isfinite(t).all()) or (f <= 0).any():
        raise ValueError("freqs must be positive and target_db finite")
    w = np.ones_like(f) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != f.shape or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0, not all zero, one per frequency")
    sw = np.sqrt(w / w.mean())
    wn = w / w.sum()

    lo, hi = _to_x(MINS), _to_x(MAXS)
    step = np.where(_LOG, 1e-4, 1e-3)
    eye = np.eye(N_PARAMS) * step

    c1 = np.cos(2.0 * np.pi * f / fs)
    c2 = np.cos(4.0 * np.pi * f / fs)

    def curves(xs: NDArray[np.float64]) -> NDArray[np.float64]:
        return _magnitude_db(eqmath.design(_to_p(xs), fs), c1, c2)

    def order_pen(xs: NDArray[np.float64]) -> NDArray[np.float64]:
        lf = xs[..., list(_MID_FREQS)]
        return _ORDER_WEIGHT * np.maximum(0.0, lf[..., :-1] - lf[..., 1:])

    def resids(xs: NDArray[np.float64]) -> NDArray[np.float64]:
        d = curves(xs) - t
        if free_level:  # the best level for each curve is its weighted mean difference
            d = d - (d @ wn)[..., None]
        return np.concatenate([d * sw, order_pen(xs)], axis=-1)

    def jacs(xs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        # Forward differences, stepping inward at an upper bound; one vectorised call for
        # every start at once: xs (k, 13) -> residuals (k, m), Jacobians (k, m, 13).
        sign = np.where(xs + step > hi, -1.0, 1.0)
        pts = np.concatenate([xs[:, None, :], xs[:, None, :] + eye * sign[:, None, :]], axis=1)
        r = resids(pts)
        return r[:, 0], ((r[:, 1:] - r[:, :1]) / (step * sign)[:, :, None]).transpose(0, 2, 1)

    x0s = np.array(
        [
            _to_x(p0)
            for p0 in _starts(f, t - (t @ wn if free_level else 0.0), fs, max(1, int(starts)), seed)
        ]
    )
    xs = _batched_lm(np.clip(x0s, lo, hi), lo, hi, resids, jacs)
    costs = (resids(xs) ** 2).sum(axis=1)
    x0 = np.clip(xs[int(np.argmin(costs))], lo + 1e-9, hi - 1e-9)
    # Polish the best with scipy's bounded trust-region solver.
    sol = least_squares(
        lambda x: resids(x[None])[0],
        x0,
        jac=lambda x: jacs(x[None])[1][0],
        bounds=(lo, hi),
        method="trf",
        max_nfev=40,
    )
    best_x = sol.x if 2.0 * sol.cost <= costs.min() else xs[int(np.argmin(costs))]
    assert best_x is not None
    p = np.clip(_to_p(best_x), MINS, MAXS)
    sp = sort_bands(p)
    if ((sp >= MINS) & (sp <= MAXS)).all():
        p = sp  # same curve, canonical order (kept only when every band stays in range)
    fitted = eqmath.response_db(p, f, fs)
    offset = float((t - fitted) @ wn) if free_level else 0.0
    fitted = fitted + offset
    err = np.abs(fitted - t)
    used = w > 0
    return EqFit(
        params=p,
        max_error_db=float(err[used].max()),
        mean_error_db=float(np.average(err, weights=w)),
        fitted_db=fitted,
        offset_db=offset,
    )


def magnitude_db(params: ArrayLike, freqs: ArrayLike, samplerate: float) -> NDArray[np.float64]:
    """The cascade's magnitude in dB for params (..., 13): eqmath.response_db, but faster."""
    f = np.asarray(freqs, dtype=np.float64)
    fs = eqmath.check_rate(samplerate)
    sos = eqmath.design(params, fs)
    return _magnitude_db(sos, np.cos(2.0 * np.pi * f / fs), np.cos(4.0 * np.pi * f / fs))


def _batched_lm(
    xs: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    resids: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    jacs: Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]],
    iters: int = 30,
) -> NDArray[np.float64]:
    """Levenberg-Marquardt on every start at once, steps clipped to the bounds.

    ``resids``: xs (k, 13) -> residuals (k, m); ``jacs``: xs -> (residuals, Jacobians (k, m, 13)).
    """
    k = xs.shape[0]
    lam = np.full(k, 1e-2)
    r, jm = jacs(xs)
    cost = (r**2).sum(axis=1)
    for _ in range(iters):
        jtj = np.einsum("kmi,kmj->kij", jm, jm)
        g = np.einsum("kmi,km->ki", jm, r)
        diag = np.einsum("kii->ki", jtj) + 1e-9
        a = jtj + lam[:, None, None] * np.einsum("ki,ij->kij", diag, np.eye(xs.shape[1]))
        step = np.linalg.solve(a, -g[..., None])[..., 0]
        trial = np.clip(xs + step, lo, hi)
        tcost = (resids(trial) ** 2).sum(axis=1)
        better = tcost < cost
        gain = np.where(better, (cost - tcost) / np.maximum(cost, 1e-12), 0.0)
        lam = np.where(better, lam / 3.0, lam * 4.0)
        if better.any():
            xs = np.where(better[:, None], trial, xs)
            r2, j2 = jacs(xs[better])
            r[better], jm[better], cost[better] = r2, j2, tcost[better]
        # converged: every start either stalls (large damping) or gains < 1e-5 per step
        if ((lam > 1e3) | (better & (gain < 1e-5))).all():
            break
    return xs


def _magnitude_db(
    sos: NDArray[np.float64], c1: NDArray[np.float64], c2: NDArray[np.float64]
) -> NDArray[np.float64]:
    """eqmath's cascade magnitude in dB in real arithmetic: (..., 5, 6) SOS -> (..., n).

    |b0 + b1 z^-1 + b2 z^-2|^2 = b0^2 + b1^2 + b2^2 + 2 (b0 b1 + b1 b2) cos w + 2 b0 b2 cos 2w,
    the same value as ``eqmath.response_db`` (tested) at a fraction of the cost.
    """

    def power(
        c0: NDArray[np.float64], d1: NDArray[np.float64], d2: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return c0[..., None] + d1[..., None] * c1 + d2[..., None] * c2

    b0, b1, b2, a0, a1, a2 = (sos[..., k] for k in range(6))
    num = power(b0 * b0 + b1 * b1 + b2 * b2, 2.0 * (b0 * b1 + b1 * b2), 2.0 * b0 * b2)
    den = power(a0 * a0 + a1 * a1 + a2 * a2, 2.0 * (a0 * a1 + a1 * a2), 2.0 * a0 * a2)
    ratio = np.prod(np.maximum(num, 1e-30) / den, axis=-2)
    return 10.0 * np.log10(ratio)


def _starts(
    f: NDArray[np.float64], t: NDArray[np.float64], fs: float, n: int, seed: int
) -> list[NDArray[np.float64]]:
    """Starting points: flat, greedy (peaks on the largest errors), then seeded random."""
    flat = DEFAULTS.copy()
    out = [flat]
    if n >= 2:
        g = flat.copy()
        lo_t = t[f <= max(f.min() * 2.0, 60.0)]
        hi_t = t[f >= min(f.max() / 2.0, 12000.0)]
        g[GAIN_INDEX[0]] = np.clip(np.mean(lo_t) if lo_t.size else 0.0, -12, 12)
        g[GAIN_INDEX[4]] = np.clip(np.mean(hi_t) if hi_t.size else 0.0, -12, 12)
        rest = t - eqmath.response_db(g, f, fs)
        for gi, fi, qi in MID_BANDS:
            k = int(np.argmax(np.abs(rest)))
            g[gi] = float(np.clip(rest[k], -12, 12))
            g[fi] = float(np.clip(f[k], MINS[fi], MAXS[fi]))
            g[qi] = 1.0
            rest = t - eqmath.response_db(g, f, fs)
        out.append(sort_bands(g) if _in_range(sort_bands(g)) else g)
    rng = np.random.default_rng(seed)
    while len(out) < n:
        r = flat.copy()
        r[list(GAIN_INDEX)] = rng.uniform(-6, 6, len(GAIN_INDEX))
        lf = np.sort(rng.uniform(np.log(MINS[list(_MID_FREQS)]), np.log(MAXS[list(_MID_FREQS)])))
        r[list(_MID_FREQS)] = np.exp(lf)
        r[[4, 7, 10]] = np.exp(rng.uniform(np.log(0.4), np.log(3.0), 3))
        r[FREQ_INDEX[0]] = np.exp(rng.uniform(np.log(40.0), np.log(500.0)))
        r[FREQ_INDEX[4]] = np.exp(rng.uniform(np.log(2000.0), np.log(15000.0)))
        out.append(np.clip(r, MINS, MAXS))
    return out[:n]


def _in_range(p: NDArray[np.float64]) -> bool:
    return bool(((p >= MINS) & (p <= MAXS)).all())
