"""Train the beta-VAE family with PyTorch (the optional ``train`` extra).

Architecture (fixed: the engine's C decoder assumes it): encoder 13 -> 1024 ReLU -> (mu,
logvar) of size d; decoder d -> 1024 ReLU -> 13 sigmoid, over normalised parameters.

Loss per example, beyond the plugin: ``sum_13 |x - x_hat|`` (the plugin's reconstruction term,
scaled by the 13 dimensions) ``+ curve_weight * mean_f |C(x) - C(x_hat)|`` (the magnitude
response in dB on a log grid 20 Hz-20 kHz at 44.1 kHz, through the same JUCE/RBJ formulas as
:mod:`floweq_tui.eqmath`, differentiable) ``+ beta_t * KL``. KL annealing: beta_t is 0 for the
first ``warmup`` fraction of the epochs, then ramps linearly to beta over ``ramp``. The weights
kept are those of the epoch with the lowest validation curve error after the ramp.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from .. import eqmath
from ..params import FREQ_INDEX, GAIN_INDEX, MAXS, MINS, N_PARAMS, Q_INDEX, SHELF_Q

HIDDEN = 1024
GRID_POINTS = 128
SAMPLE_RATE = 44100.0
LATENTS = (1, 2, 3)
BETAS = (0.0, 0.001, 0.01, 0.02)


def grid() -> NDArray[np.float64]:
    """The evaluation/loss frequency grid: 128 log-spaced points, 20 Hz-20 kHz."""
    return eqmath.log_grid(GRID_POINTS)


def response_db_torch(
    params: torch.Tensor, freqs: torch.Tensor, samplerate: float = SAMPLE_RATE
) -> torch.Tensor:
    """Differentiable magnitude response in dB of the 5-band cascade: (..., 13) -> (..., n).

    Same formulas and clamps as eqmath.design (frequencies clamped to [2 Hz, 0.48 fs]). Use
    float64 inputs for accuracy at low frequencies (the float32 numerator cancels there).
    """
    w = 2.0 * math.pi * freqs / samplerate
    cos1, sin1 = torch.cos(w), torch.sin(w)
    cos2, sin2 = torch.cos(2.0 * w), torch.sin(2.0 * w)
    fmax = eqmath.NYQUIST_FRACTION * samplerate
    g = params[..., list(GAIN_INDEX)]  # (..., 5): all bands at once
    f = params[..., list(FREQ_INDEX)].clamp(eqmath.MIN_FREQ, fmax)
    big_a = torch.pow(10.0, g / 40.0)
    w0 = 2.0 * math.pi * f / samplerate
    cw, sw = torch.cos(w0), torch.sin(w0)
    # peaking bands 1..3
    q_mid = params[..., [qi for qi in Q_INDEX if qi is not None]].clamp_min(1e-3)
    a_m, cw_m = big_a[..., 1:4], cw[..., 1:4]
    alpha = 0.5 * sw[..., 1:4] / q_mid
    pb = (1.0 + alpha * a_m, -2.0 * cw_m, 1.0 - alpha * a_m)
    pa = (1.0 + alpha / a_m, -2.0 * cw_m, 1.0 - alpha / a_m)
    # shelves (fixed Q): low shelf band 0, high shelf band 4
    a_s = big_a[..., [0, 4]]
    cw_s = cw[..., [0, 4]]
    am1, ap1 = a_s - 1.0, a_s + 1.0
    beta = sw[..., [0, 4]] * torch.sqrt(a_s) / SHELF_Q
    am1c = am1 * cw_s
    lo = (slice(None),) * (params.dim() - 1) + (slice(0, 1),)
    hi = (slice(None),) * (params.dim() - 1) + (slice(1, 2),)
    A, amc, bt, am, ap, c = a_s[lo], am1c[lo], beta[lo], am1[lo], ap1[lo], cw_s[lo]
    lb = (A * (ap - amc + bt), A * 2.0 * (am - ap * c), A * (ap - amc - bt))
    la = (ap + amc + bt, -2.0 * (am + ap * c), ap + amc - bt)
    A, amc, bt, am, ap, c = a_s[hi], am1c[hi], beta[hi], am1[hi], ap1[hi], cw_s[hi]
    hb = (A * (ap + amc + bt), -2.0 * A * (am + ap * c), A * (ap + amc - bt))
    ha = (ap - amc + bt, 2.0 * (am - ap * c), ap - amc - bt)
    b = [torch.cat([lb[k], pb[k], hb[k]], dim=-1)[..., None] for k in range(3)]
    a = [torch.cat([la[k], pa[k], ha[k]], dim=-1)[..., None] for k in range(3)]

    def mag2(c: list[torch.Tensor]) -> torch.Tensor:
        re = c[0] + c[1] * cos1 + c[2] * cos2
        im = c[1] * sin1 + c[2] * sin2
        return re * re + im * im  # (..., 5, n)

    ratio = mag2(b).clamp_min(1e-24) / mag2(a).clamp_min(1e-24)
    return (10.0 / math.log(10.0)) * torch.log(ratio).sum(dim=-2)


class VAE(nn.Module):
    """The flowEQ beta-VAE over 13 normalised parameters."""

    def __init__(self, latent: int) -> None:
        super().__init__()
        self.latent = latent
        self.enc1 = nn.Linear(N_PARAMS, HIDDEN)
        self.enc_mu = nn.Linear(HIDDEN, latent)
        self.enc_logvar = nn.Linear(HIDDEN, latent)
        self.dec1 = nn.Linear(latent, HIDDEN)
        self.dec2 = nn.Linear(HIDDEN, N_PARAMS)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.enc1(x))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec2(torch.relu(self.dec1(z))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar

    def export(self) -> dict[str, NDArray[np.float32]]:
        """Weights in torch Linear layout as float32 arrays, named as the shipped .npz files."""
        names = {
            "enc_w1": self.enc1.weight, "enc_b1": self.enc1.bias,
            "enc_mu_w": self.enc_mu.weight, "enc_mu_b": self.enc_mu.bias,
            "enc_logvar_w": self.enc_logvar.weight, "enc_logvar_b": self.enc_logvar.bias,
            "dec_w1": self.dec1.weight, "dec_b1": self.dec1.bias,
            "dec_w2": self.dec2.weight, "dec_b2": self.dec2.bias,
        }  # fmt: skip
        return {
            k: np.ascontiguousarray(v.detach().cpu().numpy(), dtype=np.float32)
            for k, v in names.items()
        }


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (shared by the whole family)."""

    epochs: int = 200
    batch: int = 64
    lr: float = 2e-3
    lr_final: float = 0.05
    """Cosine decay of the learning rate down to lr * lr_final at the last epoch."""
    curve_weight: float = 3.0
    """Weight of the curve error in dB against the summed parameter L1 (decided on validation)."""
    warmup: float = 0.1
    ramp: float = 0.3
    loss_points: int = 64
    """Grid points of the curve term in the loss (evaluation always uses GRID_POINTS)."""
    seed: int = 0
    threads: int = 1
    """Torch threads per training process (1 thread per process, 2 processes, is fastest for
    this small network on 2 cores; 2 threads in one process measured several times slower)."""
    train_descriptors: tuple[str, ...] | None = None
    """Restrict training rows to these descriptors (None: all; decided on validation)."""


@dataclass
class TrainResult:
    """A trained model: exported weights and its training history."""

    latent: int
    beta: float
    weights: dict[str, NDArray[np.float32]]
    best_epoch: int
    best_val_curve_db: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def beta_schedule(epoch: int, cfg: TrainConfig, beta: float) -> float:
    """KL annealing: 0 during warm-up, then a linear ramp to beta, then beta."""
    start = cfg.warmup * cfg.epochs
    length = max(cfg.ramp * cfg.epochs, 1.0)
    return float(beta * min(max((epoch - start) / length, 0.0), 1.0))


def _denorm(x: torch.Tensor) -> torch.Tensor:
    mins = torch.as_tensor(MINS, dtype=torch.float64)
    span = torch.as_tensor(MAXS - MINS, dtype=torch.float64)
    return mins + x.double() * span


def train_model(
    x_train: NDArray[np.float64],
    x_val: NDArray[np.float64],
    latent: int,
    beta: float,
    cfg: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train one VAE on normalised parameters; returns the best-validation weights.

    ``progress(epoch, val_curve_db)`` is called after every epoch.
    """
    t0 = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed * 1000 + latent * 100 + int(round(beta * 1e4)))
    gen = torch.Generator().manual_seed(cfg.seed)
    freqs = torch.as_tensor(grid(), dtype=torch.float64)
    lfreqs = torch.as_tensor(eqmath.log_grid(cfg.loss_points), dtype=torch.float64)
    xt = torch.as_tensor(x_train, dtype=torch.float32)
    xv = torch.as_tensor(x_val, dtype=torch.float32)
    with torch.no_grad():
        ct = response_db_torch(_denorm(xt), lfreqs)
        cv = response_db_torch(_denorm(xv), freqs)
    model = VAE(latent)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(xt)
    best = (math.inf, -1, model.export())
    history: list[dict[str, float]] = []
    settle = int(math.ceil((cfg.warmup + cfg.ramp) * cfg.epochs))
    for epoch in range(cfg.epochs):
        model.train()
        b_t = beta_schedule(epoch, cfg, beta)
        cos = 0.5 * (1.0 + math.cos(math.pi * epoch / max(cfg.epochs - 1, 1)))
        for group in opt.param_groups:
            group["lr"] = cfg.lr * (cfg.lr_final + (1.0 - cfg.lr_final) * cos)
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, cfg.batch):
            idx = perm[i : i + cfg.batch]
            x, c = xt[idx], ct[idx]
            x_hat, mu, logvar = model(x)
            rec = (x_hat - x).abs().sum(dim=1).mean()
            loss = rec
            if cfg.curve_weight > 0:
                c_hat = response_db_torch(_denorm(x_hat), lfreqs)
                loss = loss + cfg.curve_weight * (c_hat - c).abs().mean().float()
            kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1).mean()
            loss = loss + b_t * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            xv_hat, mu_v, _ = model(xv)
            val_curve = float((response_db_torch(_denorm(xv_hat), freqs) - cv).abs().mean())
            val_param = float((xv_hat - xv).abs().mean())
        history.append(
            {"epoch": epoch, "loss": total / n, "val_curve_db": val_curve, "val_param": val_param}
        )
        if epoch >= settle - 1 and val_curve < best[0]:
            best = (val_curve, epoch, model.export())
        if progress is not None:
            progress(epoch, val_curve)
    return TrainResult(latent, beta, best[2], best[1], best[0], history, time.perf_counter() - t0)


class ProgressBar:
    """A plain-text progress bar on stderr (no tqdm): total work in epochs across the family."""

    def __init__(self, total: int, width: int = 30, stream=None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, label: str, step: int = 1, force: bool = False) -> None:
        self.done += step
        now = time.perf_counter()
        if not force and now - self._last < 0.5 and self.done < self.total:
            return
        self._last = now
        frac = self.done / self.total
        filled = int(round(frac * self.width))
        elapsed = now - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
            f"{label} {elapsed / 60:4.1f}m elapsed, ~{eta / 60:4.1f}m left"
        )
        self.stream.write(line[:120].ljust(80))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def standardize_latent(
    weights: dict[str, NDArray[np.float32]],
    mu: NDArray[np.float64],
    tilt: NDArray[np.float64] | None = None,
) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float64], NDArray[np.float64]]:
    """Fold z' = (mu - m) / s into the weights so training data sits at mean 0, std 1 per axis.

    An exact reparametrisation (decoder first layer, encoder mu and logvar heads): the same
    curves come out, but the sliders' [-2, 2] now span +-2 standard deviations of real
    settings whatever beta was. With ``tilt`` (one number per row, e.g. treble minus bass in
    dB) each axis is also oriented so that tilt grows with it (s < 0 flips an axis), so "up"
    means brighter in every model. Returns (new weights, m, s).
    """
    m = mu.mean(axis=0)
    s = np.maximum(mu.std(axis=0), 1e-6)
    if tilt is not None:
        cov = ((mu - m) * (tilt - tilt.mean())[:, None]).mean(axis=0)
        s = np.where(cov < 0.0, -s, s)
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    w["dec_b1"] = w["dec_b1"] + w["dec_w1"] @ m
    w["dec_w1"] = w["dec_w1"] * s[None, :]
    w["enc_mu_b"] = (w["enc_mu_b"] - m) / s
    w["enc_mu_w"] = w["enc_mu_w"] / s[:, None]
    w["enc_logvar_b"] = w["enc_logvar_b"] - 2.0 * np.log(np.abs(s))
    out = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in w.items()}
    return out, m, s


# --- the whole family: parallel workers, evaluation, export -------------------------------

_QUEUE: Any = None


def _init_worker(queue: Any) -> None:
    global _QUEUE
    _QUEUE = queue


def _train_job(
    job: tuple[NDArray[np.float64], NDArray[np.float64], int, float, TrainConfig],
) -> TrainResult:
    x_train, x_val, latent, beta, cfg = job

    def report(epoch: int, val: float) -> None:
        if _QUEUE is not None:
            _QUEUE.put((latent, beta, epoch, val))

    return train_model(x_train, x_val, latent, beta, cfg, report)


def parse_only(text: str | None) -> list[tuple[int, float]]:
    """Models to train: "2,0.001;3,0.01" (or None for the whole family) -> [(d, beta), ...]."""
    if not text:
        return [(d, b) for d in LATENTS for b in BETAS]
    out = []
    for item in text.replace(" ", "").split(";"):
        if not item:
            continue
        try:
            d_txt, b_txt = item.split(",")
            d, b = int(d_txt), float(b_txt)
        except ValueError:
            raise ValueError(
                f"--only wants 'd,beta[;d,beta...]', e.g. '2,0.001', got {item!r}"
            ) from None
        if d < 1 or d > 8 or not (b >= 0.0 and math.isfinite(b)):
            raise ValueError(f"--only: latent must be 1-8 and beta >= 0, got {item!r}")
        out.append((d, b))
    return out


def train_family(
    data_path: str | Path,
    out_dir: str | Path,
    epochs: int = 200,
    seed: int = 0,
    only: list[tuple[int, float]] | None = None,
    jobs: int = 2,
    command: str = "",
    cfg: TrainConfig | None = None,
    stream: Any = None,
) -> dict[str, Any]:
    """Train, evaluate and export models into out_dir (npz + manifest.json); returns the manifest.

    Models already in out_dir's manifest that were trained on the same split and are not
    retrained are kept, so ``--only`` can refresh part of the family.
    """
    from .. import vae
    from ..params import PARAMS
    from ..paths import write_text_atomic
    from . import evaluate as ev
    from .safedb import MIN_STRATUM, SPLIT_FRACTIONS, load_safe, split

    t0 = time.perf_counter()
    cfg = cfg or TrainConfig()
    cfg = TrainConfig(**{**cfg.__dict__, "epochs": epochs, "seed": seed})
    pairs = only if only is not None else [(d, b) for d in LATENTS for b in BETAS]
    data = load_safe(data_path)
    if len(data) < 20:
        raise ValueError(f"only {len(data)} usable rows in {data_path}; need at least 20")
    sp = split(data, seed)
    tr = sp.train
    if cfg.train_descriptors is not None:
        keep = set(cfg.train_descriptors)
        tr = np.array([i for i in tr if data.descriptors[i] in keep], dtype=np.int64)
    x_train, x_val, x_test = data.x[tr], data.x[sp.val], data.x[sp.test]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    bar = ProgressBar(len(pairs) * cfg.epochs, stream=stream)
    job_args = [(x_train, x_val, d, b, cfg) for d, b in pairs]
    results: list[TrainResult] = []
    if jobs > 1 and len(pairs) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        with ctx.Pool(min(jobs, len(pairs)), initializer=_init_worker, initargs=(queue,)) as pool:
            pending = pool.map_async(_train_job, job_args, chunksize=1)
            while not pending.ready() or not queue.empty():
                try:
                    d, b, epoch, val = queue.get(timeout=0.5)
                except Exception:  # queue.Empty
                    continue
                bar.update(f"d={d} b={b:g} ep {epoch + 1}/{cfg.epochs} val {val:.2f} dB")
            results = pending.get()
    else:
        for args in job_args:
            d, b = args[2], args[3]

            def report(epoch: int, val: float, d: int = d, b: float = b) -> None:
                bar.update(f"d={d} b={b:g} ep {epoch + 1}/{cfg.epochs} val {val:.2f} dB")

            results.append(train_model(*args, progress=report))
    bar.update("evaluating", step=0, force=True)
    bar.close()

    c_train = ev.curves(data.params[tr])
    f = ev.freq_grid()
    tilt_train = c_train[:, f >= 2000.0].mean(axis=1) - c_train[:, f <= 200.0].mean(axis=1)
    entries = []
    for res in results:
        name = vae.model_name(res.latent, res.beta)
        raw = vae.Model(name, res.latent, res.beta, res.weights)
        weights, z_mean, z_std = standardize_latent(
            res.weights, raw.encode_normalized(x_train), tilt_train
        )
        file = out / f"{name}.npz"
        np.savez(file, **weights)
        model = vae.Model(name, res.latent, res.beta, weights)
        metrics = ev.evaluate_model(model, x_test)
        metrics["val_curve_mae_db"] = round(res.best_val_curve_db, 4)
        entries.append(
            {
                "name": name,
                "file": file.name,
                "latent": res.latent,
                "beta": res.beta,
                "bytes": file.stat().st_size,
                "sha256": vae.sha256_file(file),
                "shapes": {k: list(v.shape) for k, v in res.weights.items()},
                "best_epoch": res.best_epoch,
                "train_seconds": round(res.seconds, 1),
                "latent_standardised_from": {  # z = (mu_raw - mean) / std; std < 0: flipped
                    "mean": [round(float(v), 6) for v in z_mean],
                    "std": [round(float(v), 6) for v in z_std],
                },
                "metrics": metrics,
                "anchors": ev.compute_anchors(model, data),
            }
        )

    old: dict[str, Any] = {}
    try:
        prev = vae.read_manifest(out)
        if prev.get("data", {}).get("split", {}).get("hashes") == sp.hashes:
            old = {e["name"]: e for e in prev["models"] if (out / e["file"]).is_file()}
    except vae.ModelError:
        pass
    for e in entries:
        old[e["name"]] = e
    models = sorted(old.values(), key=lambda e: (e["latent"], e["beta"]))
    latents = sorted({e["latent"] for e in models})
    default = vae.model_name(2, 0.001)
    manifest = {
        "format": vae.FORMAT,
        "version": vae.FORMAT_VERSION,
        "default": default if default in old else models[0]["name"],
        "params": [
            {
                "key": p.key,
                "label": p.label,
                "unit": p.unit,
                "min": p.min,
                "max": p.max,
                "default": p.default,
            }
            for p in PARAMS
        ],  # fmt: skip
        "architecture": {
            "encoder": "13 -> 1024 ReLU -> (mu, logvar) d",
            "decoder": "d -> 1024 ReLU -> 13 sigmoid (normalised parameters)",
            "layout": "torch Linear: weight (out, in), bias (out,), float32",
            "hidden": HIDDEN,
        },
        "curve_grid": {
            "points": ev.GRID_POINTS,
            "fmin_hz": 20.0,
            "fmax_hz": 20000.0,
            "samplerate": ev.SAMPLE_RATE,
            "spacing": "log",
        },  # fmt: skip
        "data": {
            "file": Path(data_path).name,
            "sha256": hashlib.sha256(Path(data_path).read_bytes()).hexdigest(),
            "cleaning": data.report(),
            "descriptors": len(data.counts()),
            "train_descriptors": "all"
            if cfg.train_descriptors is None
            else list(cfg.train_descriptors),
            "split": {
                "seed": seed,
                "fractions": list(SPLIT_FRACTIONS),
                "stratify": f"descriptor; under {MIN_STRATUM} rows pooled as 'other'",
                "sizes": {k: int(len(v)) for k, v in sp.parts().items()},
                "train_rows_used": int(len(tr)),
                "hashes": sp.hashes,
            },
        },
        "training": {
            "command": command,
            "seed": seed,
            "torch": torch.__version__,
            "config": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()
            },  # fmt: skip
            "wall_seconds": round(time.perf_counter() - t0, 1),
        },
        "baselines": {
            "mean_curve": ev.mean_curve_baseline(x_train, x_test),
            "pca": {str(d): ev.pca_baseline(x_train, x_test, d) for d in latents},
        },
        "anchor_rule": {
            "min_count": ev.ANCHOR_MIN_COUNT,
            "intensity_min_count": ev.INTENSITY_MIN_COUNT,
            "z": "of four candidates - mean and coordinate-wise median of the encoder's mu "
            "over the group's cleaned rows (all splits), and that mean refined by Nelder-Mead "
            "inside [-2, 2]^d to match the group's mean curve (mean abs dB of the curve, or "
            "of its shape: mean removed) - the one whose decoded curve correlates best with "
            "the group's mean curve (z_rule names it)",
            "corr": "Pearson correlation, decoded anchor curve vs mean curve of the same rows",
        },
        "models": models,
    }
    write_text_atomic(out / vae.MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest
