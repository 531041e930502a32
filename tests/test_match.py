"""`match`: known answers on the real piano and SAFE-DB settings, other material, mono vs
stereo, other rates, silence, short and unreadable files, --json and --save.

The known-answer test here uses 8 seeded SAFE-DB rows; benchmarks/match.py measures the
documented >= 50 (docs/match.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import package_env
from scipy.signal import sosfilt

from floweq_tui import eqmath, match, sources
from floweq_tui.cli import main
from floweq_tui.params import MAXS, MID_BANDS, MINS
from floweq_tui.session import controls_from_session, load_session
from floweq_tui.training.safedb import load_safe

BAND = (50.0, 15000.0)


def curve_mae(recovered, true, freqs) -> float:
    """Mean absolute difference from 50 Hz to 15 kHz, the overall level aligned (the match
    normalises loudness, so a constant cannot be recovered and is not counted)."""
    m = (freqs >= BAND[0]) & (freqs <= BAND[1])
    d = (recovered - true)[m]
    return float(np.mean(np.abs(d - d.mean())))


@pytest.fixture(scope="module")
def model():
    return match.load_model()


@pytest.fixture(scope="module")
def rows(safe_csv) -> np.ndarray:
    data = load_safe(safe_csv)
    rng = np.random.default_rng(2018)
    return data.params[rng.choice(len(data), 8, replace=False)]


def eq(audio: np.ndarray, p: np.ndarray, fs: float) -> np.ndarray:
    return sosfilt(eqmath.design(p, fs), audio, axis=0)


def test_known_answers_on_the_piano(piano, rows, model) -> None:
    x, fs = piano
    errs = {"params": [], "latent": [], "flat": []}
    for p in rows:
        res = match.match(x, fs, eq(x, p, fs), fs, model=model)
        true = eqmath.response_db(p, res.freqs, fs)
        errs["params"].append(
            curve_mae(eqmath.response_db(res.params.params, res.freqs, fs), true, res.freqs)
        )
        errs["latent"].append(
            curve_mae(eqmath.response_db(res.latent.params, res.freqs, fs), true, res.freqs)
        )
        errs["flat"].append(curve_mae(np.zeros_like(true), true, res.freqs))
        assert ((res.params.params >= MINS) & (res.params.params <= MAXS)).all()
        freqs = [res.params.params[b[1]] for b in MID_BANDS]
        assert freqs == sorted(freqs)
        assert res.latent.z is not None and max(map(abs, res.latent.z)) <= match.LATENT_LIMIT
    med = {k: float(np.median(v)) for k, v in errs.items()}
    assert med["params"] <= 1.0, med
    assert med["params"] < med["flat"], med


def test_mono_against_stereo_at_another_rate(piano, rows, tmp_path) -> None:
    x, fs = piano
    p = rows[0]
    src, ref = tmp_path / "in.wav", tmp_path / "ref.flac"
    sources.write_file(src, x, fs)  # stereo, 44.1 kHz
    mono = eq(x, p, fs).mean(axis=1)
    sources.write_file(ref, sources._resample(mono[:, None].astype(np.float32), fs, 32000), 32000)
    res = match.match_files(src, ref, fit="params")
    true = eqmath.response_db(p, res.freqs, fs)
    m = res.freqs <= 14000  # the 32 kHz file says nothing above 14.4 kHz
    assert res.weights[res.freqs > 0.45 * 32000].sum() == 0
    rec = eqmath.response_db(res.params.params, res.freqs, fs)
    d = (rec - true)[m & (res.freqs >= 50)]
    assert np.mean(np.abs(d - d.mean())) <= 1.0


def test_different_material_gives_a_sensible_result(piano, model) -> None:
    x, fs = piano
    demo = sources.demo_source(48000, 2, seconds=6.0)  # another piece, another rate
    res = match.match(x, fs, demo, 48000, model=model, samplerate=48000)
    for fit in (res.params, res.latent):
        assert np.isfinite(fit.params).all()
        assert ((fit.params >= MINS) & (fit.params <= MAXS)).all()
        assert np.isfinite(fit.error_db) and fit.error_db <= res.flat_error_db + 1e-9
    assert np.abs(res.target_db).max() <= match.CLAMP_DB


def test_amount_scales_gains_like_strength(piano, rows) -> None:
    x, fs = piano
    y = eq(x, rows[1], fs)
    full = match.match(x, fs, y, fs, fit="params")
    half = match.match(x, fs, y, fs, fit="params", amount=0.5)
    zero = match.match(x, fs, y, fs, fit="params", amount=0.0)
    gains = [0, 2, 5, 8, 11]
    np.testing.assert_allclose(half.params.played[gains], 0.5 * half.params.params[gains])
    assert np.all(zero.params.played[gains] == 0.0)
    assert zero.params.error_db == pytest.approx(0.0, abs=1e-9)
    assert full.params.error_db < full.flat_error_db


def write(path, audio, fs=44100) -> str:
    sf.write(str(path), np.asarray(audio, dtype=np.float32), fs)
    return str(path)


@pytest.mark.parametrize(
    "which, make, words",
    [
        ("INPUT", lambda p: write(p / "s.wav", np.zeros((44100, 2))), "INPUT is silent"),
        ("REFERENCE", lambda p: write(p / "t.wav", np.ones(1000) * 0.1), "REFERENCE is too short"),
        ("REFERENCE", lambda p: str(p / "missing.flac"), "audio file not found"),
        ("INPUT", lambda p: (p / "bad.wav").write_text("not audio") and str(p / "bad.wav"),
         "cannot read"),
        ("INPUT", lambda p: write(p / "e.wav", np.zeros((0, 1))), "empty"),
    ],
)  # fmt: skip
def test_bad_audio_is_one_line(tmp_path, piano, capsys, which, make, words) -> None:
    good = write(tmp_path / "good.wav", piano[0][:44100], piano[1])
    bad = make(tmp_path)
    argv = [bad, good] if which == "INPUT" else [good, bad]
    assert main(["match", *argv, "--fit", "params"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, words",
    [(["--amount", "150"], "amount must be 0-100"),
     (["--smoothing", "x"], "not a number of octaves"),
     (["--smoothing", "9"], "0-4 octaves"),
     (["--model", "vae_nope"], "no model")],
)  # fmt: skip
def test_bad_options_are_one_line(tmp_path, piano, capsys, argv, words) -> None:
    good = write(tmp_path / "good.wav", piano[0][:44100], piano[1])
    with pytest.raises(SystemExit) if words != "no model" else _nothing():
        code = main(["match", good, good, *argv])
        assert code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_json_and_save_restore_the_match(tmp_path, piano, rows) -> None:
    x, fs = piano
    src = write(tmp_path / "in.wav", x, fs)
    ref = write(tmp_path / "ref.wav", eq(x, rows[2], fs), fs)
    dest = tmp_path / "session.json"
    proc = subprocess.run(
        [sys.executable, "-m", "floweq_tui", "match", src, ref, "--json", "--amount", "80",
         "--smoothing", "1/6", "--save", str(dest)],
        capture_output=True, text=True, env=package_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["params"]) == 13 and len(out["latent"]) >= 1 and out["model"]
    assert set(out["error_db"]) >= {"params", "latent", "flat"}
    assert out["error_db"]["params"] < out["error_db"]["flat"]
    assert out["amount"] == 0.8 and out["smoothing_octaves"] == pytest.approx(1 / 6)
    data, notice = load_session(dest)
    assert notice == "" and data is not None
    restored = controls_from_session(data, [out["model"]], [])
    assert restored["mode"] == 0 and restored["model"] == 0  # traverse, the model by name
    assert restored["strength"] == pytest.approx(0.8)
    full = np.array([restored[f"p{i}"] for i in range(13)])
    gains = [0, 2, 5, 8, 11]
    np.testing.assert_allclose(full[gains] * 0.8, np.array(out["params"])[gains], atol=1e-3)


def test_save_keeps_other_settings_and_a_bad_file(tmp_path, piano, rows, capsys) -> None:
    x, fs = piano
    src = write(tmp_path / "in.wav", x, fs)
    ref = write(tmp_path / "ref.wav", eq(x, rows[3], fs), fs)
    dest = tmp_path / "session.json"
    dest.write_text('{"version": 1, "controls": {"out_gain": -3.0}}')
    assert main(["match", src, ref, "--fit", "params", "--save", str(dest)]) == 0
    data, _ = load_session(dest)
    assert data["controls"]["out_gain"] == -3.0 and data["controls"]["mode"] == 2
    dest.write_text("{broken")
    assert main(["match", src, ref, "--fit", "params", "--save", str(dest)]) == 0
    assert list(tmp_path.glob("session.json.bad-*"))
    assert "kept as" in capsys.readouterr().err


def test_very_different_material_gets_a_note(tmp_path, piano, capsys) -> None:
    x, fs = piano
    src = write(tmp_path / "in.wav", x, fs)
    t = np.arange(3 * 48000) / 48000
    sine = write(tmp_path / "sine.wav", 0.3 * np.sin(2 * np.pi * 100 * t), 48000)
    assert main(["match", src, sine, "--fit", "params"]) == 0
    out = capsys.readouterr().out
    assert "params  error" in out and "note: the best fit is" in out


def test_the_match_saved_as_a_preset(tmp_path, piano, rows) -> None:
    """``--preset NAME`` writes a preset that recalls the match: Traverse at the fitted
    point, the parameter fit in the manual slots, strength = amount; an existing preset is
    kept unless ``--force``."""
    from floweq_tui import presets

    x, fs = piano
    src = write(tmp_path / "in.wav", x, fs)
    ref = write(tmp_path / "ref.wav", eq(x, rows[4], fs), fs)
    env = package_env(XDG_DATA_HOME=str(tmp_path / "data"))
    cmd = [sys.executable, "-m", "floweq_tui", "match", src, ref, "--json", "--amount", "90",
           "--preset", "like the ref"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["saved"].endswith("like the ref.toml")
    p = presets.load("like the ref", tmp_path / "data" / "floweq-tui" / "presets")
    assert p.values["mode"] == 0 and p.values["strength"] == pytest.approx(0.9)
    assert p.names["model"] == out["model"]
    scale = 2.0 if p.values["extend"] else 1.0  # (a point beyond +-2 is played with Extend)
    assert p.values["x"] * scale == pytest.approx(out["latent"][0], abs=1e-6)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode != 0 and "like the ref" in again.stderr  # not replaced
    assert len(again.stderr.strip().splitlines()) == 1
