"""Metrics for the model family (NumPy only): reconstruction, baselines, latent usability, anchors.

All curves are magnitude responses in dB from :func:`floweq_tui.eqmath.response_db` on
``GRID_POINTS`` = 128 log-spaced frequencies from 20 Hz to 20 kHz at fs = 44100 Hz. Curve
errors are absolute dB differences; "mean" averages over examples and frequencies, "p95" is
the 95th percentile over all (example, frequency) pairs.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import eqmath
from ..params import denormalize
from ..vae import Model
from .safedb import SafeData

GRID_POINTS = 128
SAMPLE_RATE = 44100.0
USABLE_SPAN = 2.0
EXTENDED_SPAN = 4.0
GRID_STEP = 0.4
"""Spacing of the latent grid over [-2, 2]^d (11 points per axis for every d)."""
ANCHOR_MIN_COUNT = 8
"""A descriptor gets an anchor when it has at least this many cleaned rows."""
INTENSITY_MIN_COUNT = 30
"""... and three intensity anchors (terciles of distance from flat) from this many rows."""


def freq_grid() -> NDArray[np.float64]:
    """The 128-point 20 Hz-20 kHz log grid all curve metrics use."""
    return eqmath.log_grid(GRID_POINTS)


def curves(params: NDArray[np.float64]) -> NDArray[np.float64]:
    """Curves in dB of parameter vectors (..., 13) in their units -> (..., 128)."""
    return eqmath.response_db(params, freq_grid(), SAMPLE_RATE)


def curve_errors(pred_db: NDArray[np.float64], true_db: NDArray[np.float64]) -> dict[str, float]:
    """Mean and 95th percentile of the absolute dB error over all examples and frequencies."""
    err = np.abs(pred_db - true_db)
    return {"curve_mae_db": float(err.mean()), "curve_p95_db": float(np.percentile(err, 95))}


def reconstruction(model: Model, x: NDArray[np.float64]) -> dict[str, float]:
    """Encode (mu) then decode normalised parameters; parameter MAE and curve errors."""
    x_hat = model.decode_normalized(model.encode_normalized(x))
    out = {"param_mae": float(np.abs(x_hat - x).mean())}
    out.update(curve_errors(curves(denormalize(x_hat)), curves(denormalize(x))))
    return out


def pca_baseline(x_train: NDArray[np.float64], x_test: NDArray[np.float64], latent: int) -> dict:
    """PCA with ``latent`` components fit on the normalised training parameters."""
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    comp = vt[:latent]
    x_hat = np.clip((x_test - mean) @ comp.T @ comp + mean, 0.0, 1.0)
    out = {"param_mae": float(np.abs(x_hat - x_test).mean())}
    out.update(curve_errors(curves(denormalize(x_hat)), curves(denormalize(x_test))))
    return out


def mean_curve_baseline(x_train: NDArray[np.float64], x_test: NDArray[np.float64]) -> dict:
    """Predict the mean training curve (in dB) for every test example."""
    mean_curve = curves(denormalize(x_train)).mean(axis=0)
    true = curves(denormalize(x_test))
    return curve_errors(np.broadcast_to(mean_curve, true.shape), true)


def latent_grid(latent: int, span: float, step: float) -> NDArray[np.float64]:
    """All points of a regular grid over [-span, span]^latent, shape (k**latent, latent)."""
    axis = np.linspace(-span, span, int(round(2 * span / step)) + 1)
    return np.array(list(itertools.product(axis, repeat=latent)), dtype=np.float64)


def usability(model: Model, span: float = USABLE_SPAN, step: float = GRID_STEP) -> dict:
    """How smooth and how diverse the decoded curves are over [-span, span]^d.

    neighbour_change_db: mean |curve difference| (dB, averaged over frequency) between grid
    points one step apart along any axis; spread_db: mean over frequency of the standard
    deviation of the curves across the grid; max_neighbour_change_db: the worst single step.
    """
    k = int(round(2 * span / step)) + 1
    pts = latent_grid(model.latent, span, step)
    c = curves(model.decode(pts)).reshape((k,) * model.latent + (GRID_POINTS,))
    diffs = [np.abs(np.diff(c, axis=ax)).mean(axis=-1) for ax in range(model.latent)]
    flat = np.concatenate([d.ravel() for d in diffs])
    return {
        "grid_step": step,
        "neighbour_change_db": float(flat.mean()),
        "max_neighbour_change_db": float(flat.max()),
        "spread_db": float(c.reshape(-1, GRID_POINTS).std(axis=0).mean()),
    }


def extended_check(model: Model, span: float = EXTENDED_SPAN, step: float = 0.5) -> dict:
    """Decode a grid over [-span, span]^d: all finite, in range, and every filter stable."""
    from ..params import out_of_range

    pts = latent_grid(model.latent, span, step)
    params = model.decode(pts)
    radius = float(np.abs(eqmath.poles(eqmath.design(params, SAMPLE_RATE))).max())
    return {
        "points": len(pts),
        "in_range": bool(not out_of_range(params).any()),
        "max_pole_radius": radius,
        "stable": bool(radius < 1.0),
    }


def anchor_groups(data: SafeData) -> list[tuple[str, int, NDArray[np.int64]]]:
    """(descriptor, intensity, row indices) for every anchor the data supports.

    Rule: a descriptor with >= ANCHOR_MIN_COUNT rows gets intensity 0 (all its rows). One with
    >= INTENSITY_MIN_COUNT rows also gets intensities 1, 2, 3: the terciles of its rows ranked
    by RMS distance of their curve from flat (1 = subtle, 3 = strong), as the plugin's three
    intensities per descriptor.
    """
    counts = Counter(data.descriptors)
    rms = np.sqrt((curves(data.params) ** 2).mean(axis=-1))
    desc = np.array(data.descriptors, dtype=object)
    out: list[tuple[str, int, NDArray[np.int64]]] = []
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < ANCHOR_MIN_COUNT:
            continue
        idx = np.flatnonzero(desc == name)
        out.append((name, 0, idx))
        if n >= INTENSITY_MIN_COUNT:
            order = idx[np.argsort(rms[idx], kind="stable")]
            for i, part in enumerate(np.array_split(order, 3), start=1):
                out.append((name, i, np.sort(part)))
    return out


def _corr(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def refine_anchor(
    model: Model,
    z0: NDArray[np.float64],
    target: NDArray[np.float64],
    span: float = USABLE_SPAN,
    shape: bool = False,
) -> NDArray[np.float64]:
    """Move a code (within [-span, span]^d) so its decoded curve best matches ``target``.

    Nelder-Mead on the mean absolute dB error (with ``shape``, of the curves minus their own
    means: the shape, leaving the level to gain compensation), started from the encoder's
    code ``z0``; the result is kept only if it is closer than ``z0``.
    """
    from scipy.optimize import minimize

    def err(z: NDArray[np.float64]) -> float:
        diff = curves(model.decode(np.clip(z, -span, span))) - target
        return float(np.abs(diff - diff.mean() if shape else diff).mean())

    start = np.clip(z0, -span, span)
    res = minimize(err, start, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-4})
    z = np.clip(res.x, -span, span)
    return z if err(z) < err(start) else start


def compute_anchors(model: Model, data: SafeData) -> list[dict[str, Any]]:
    """Anchor codes from the encoder (optionally refined on the decoder) and their check.

    For each group of rows (see anchor_groups) four candidate codes: the mean and the
    coordinate-wise median of the encoder's mu over the rows, and the mean refined by
    refine_anchor so the decoded curve matches the group's mean dataset curve (in level and
    shape, or in shape only). The anchor is
    the candidate whose decoded curve correlates best with that mean curve ("z_rule"); the
    plain encoder mean and its correlation are recorded too. (The decoded curve of a mean code
    is not the mean of the decoded curves: diverse groups such as warm lose most.)
    """
    out = []
    for name, inten, idx in anchor_groups(data):
        target = curves(data.params[idx]).mean(axis=0)
        mus = model.encode_normalized(data.x[idx])
        z_mean = np.round(mus.mean(axis=0), 5)
        cands = {
            "encoder_mean": z_mean,
            "encoder_median": np.round(np.median(mus, axis=0), 5),
            "refined": np.round(refine_anchor(model, z_mean, target), 5),
            "refined_shape": np.round(refine_anchor(model, z_mean, target, shape=True), 5),
        }
        corrs = {k: _corr(curves(model.decode(z)), target) for k, z in cands.items()}
        rule = max(corrs, key=lambda k: corrs[k])
        out.append(
            {
                "descriptor": name,
                "intensity": inten,
                "count": len(idx),
                "z": [float(v) for v in cands[rule]],
                "z_rule": rule,
                "corr": round(corrs[rule], 4),
                "z_encoder_mean": [float(v) for v in z_mean],
                "corr_encoder_mean": round(corrs["encoder_mean"], 4),
            }
        )
    return out


def evaluate_model(model: Model, x_test: NDArray[np.float64]) -> dict[str, Any]:
    """Every per-model metric recorded in the manifest."""
    out: dict[str, Any] = {"test": reconstruction(model, x_test)}
    out["usability"] = usability(model)
    out["extended"] = extended_check(model)
    return out
