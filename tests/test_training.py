"""Training (torch): the differentiable response against eqmath, and a tiny end-to-end run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from floweq_tui import cli, eqmath
from floweq_tui.params import MAXS, MINS

torch = pytest.importorskip("torch", reason="torch not installed (the train extra)")
training = pytest.importorskip("floweq_tui.training.train")


def random_params(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = MINS + rng.random((n, 13)) * (MAXS - MINS)
    p[:4] = MINS  # the extremes: lowest frequencies and Qs, full cut
    p[4:8] = MAXS  # highest frequencies (20 kHz shelf clamped below Nyquist), full boost
    return p


@pytest.mark.parametrize("fs", [44100.0, 48000.0, 8000.0])
def test_torch_response_matches_eqmath(fs: float) -> None:
    p = random_params(64)
    freqs = eqmath.log_grid(128, 20.0, min(20000.0, fs / 2 * 0.99))
    ref = eqmath.response_db(p, freqs, fs)
    got = training.response_db_torch(torch.tensor(p), torch.tensor(freqs), fs).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_torch_response_has_finite_gradients() -> None:
    x = torch.rand(32, 13, dtype=torch.float64, requires_grad=True)
    curve = training.response_db_torch(training._denorm(x), torch.tensor(training.grid()))
    curve.abs().mean().backward()
    assert torch.isfinite(x.grad).all()


def test_beta_schedule_anneals() -> None:
    cfg = training.TrainConfig(epochs=100, warmup=0.1, ramp=0.3)
    assert training.beta_schedule(0, cfg, 0.01) == 0.0
    assert training.beta_schedule(10, cfg, 0.01) == 0.0
    assert training.beta_schedule(25, cfg, 0.01) == pytest.approx(0.005)
    assert training.beta_schedule(90, cfg, 0.01) == 0.01


def test_parse_only() -> None:
    assert training.parse_only("2,0.001") == [(2, 0.001)]
    assert training.parse_only("1,0;3,0.02") == [(1, 0.0), (3, 0.02)]
    assert len(training.parse_only(None)) == 12
    for bad in ("2", "x,0.1", "0,0.1", "2,-1"):
        with pytest.raises(ValueError):
            training.parse_only(bad)


def test_export_layout() -> None:
    w = training.VAE(3).export()
    assert w["dec_w1"].shape == (1024, 3) and w["dec_w2"].shape == (13, 1024)
    assert w["enc_w1"].shape == (1024, 13) and w["enc_mu_w"].shape == (3, 1024)
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in w.values())


def tiny_csv(path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as fh:
        wr = csv.writer(fh)
        for i in range(n):
            p = MINS + rng.random(13) * (MAXS - MINS)
            desc = ("Warm", "bright ", "test")[i % 3] if i < 54 else "warmer"
            wr.writerow([i, desc, "", 2, 2, *p, "", "", "", "", "", "", f"h{i}"])
    return path


def test_train_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from floweq_tui import vae

    data = tiny_csv(tmp_path / "tiny.csv")
    out = tmp_path / "models"
    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "3"]
    assert cli.main([*argv, "--only", "2,0.001", "--jobs", "1"]) == 0
    printed = capsys.readouterr()
    assert "vae_d2_b0.001" in printed.out and "%" in printed.err  # table and progress bar
    fam = vae.load_family(out)
    model = fam.default
    assert (model.latent, model.beta) == (2, 0.001)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["command"].startswith("floweq-tui train --data ")
    assert set(manifest["data"]["split"]["hashes"]) == {"train", "val", "test"}
    assert "pca" in manifest["baselines"] and "mean_curve" in manifest["baselines"]
    assert {a.descriptor for a in model.anchors} == {"warm", "bright"}
    assert model.metrics["extended"]["stable"] and model.metrics["extended"]["in_range"]
    # --only adds to the family already in --out without dropping it
    assert cli.main([*argv, "--only", "1,0", "--jobs", "1"]) == 0
    assert set(vae.load_family(out).models) == {"vae_d1_b0", "vae_d2_b0.001"}


def test_train_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--data", str(tmp_path / "nope.csv")]) == 2
    assert cli.main(["train", "--data", str(tiny_csv(tmp_path / "t.csv")), "--only", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("floweq-tui: error:") for line in err)


def test_standardize_latent_is_exact() -> None:
    from floweq_tui.vae import Model

    torch.manual_seed(0)
    raw = training.VAE(3).export()
    x = np.random.default_rng(1).random((200, 13))
    m_raw = Model("raw", 3, 0.0, raw)
    mu = m_raw.encode_normalized(x) * 5.0 + 2.0  # pretend the data sits off-centre and wide
    tilt = -mu[:, 1] + 0.1 * mu[:, 0]  # axis 1 must be flipped, axis 0 kept
    w, m, s = training.standardize_latent(raw, mu, tilt)
    assert s[1] < 0 < s[0]
    m_std = Model("std", 3, 0.0, w)
    z = np.random.default_rng(2).normal(size=(20, 3))
    np.testing.assert_allclose(
        m_std.decode_normalized(z), m_raw.decode_normalized(m + s * z), atol=1e-5
    )
    np.testing.assert_allclose(
        m_std.encode_normalized(x), (m_raw.encode_normalized(x) - m) / s, atol=1e-4
    )
    assert all(v.dtype == np.float32 for v in w.values())
