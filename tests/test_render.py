"""`floweq-tui render` never loses a file: not the input, not an existing output, not on a full
disk; it streams, so memory stays flat and there is no length limit."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import package_env

from floweq_tui.cli import main

RATE = 8000


def tone(path: Path, seconds: float = 0.5, channels: int = 1, rate: int = RATE) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.repeat(x[:, None], channels, axis=1), rate, subtype="PCM_16")
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["render", "-q", *argv])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("spelling", ["same", "dot", "parent", "symlink", "hardlink"])
def test_refuses_to_write_onto_the_input(tmp_path, capsys, monkeypatch, spelling) -> None:
    monkeypatch.chdir(tmp_path)
    src = tone(tmp_path / "take.wav")
    before = src.read_bytes()
    out = {
        "same": "take.wav",
        "dot": "./take.wav",
        "parent": f"../{tmp_path.name}/take.wav",
    }.get(spelling)
    if spelling == "symlink":
        os.symlink(src, tmp_path / "link.wav")
        out = "link.wav"
    if spelling == "hardlink":
        os.link(src, tmp_path / "hard.wav")
        out = "hard.wav"
    code, err = run(capsys, "take.wav", out, "--force", "-x", "1")
    assert code == 2 and "it is the input file" in err and err.count("\n") == 1
    assert src.read_bytes() == before


def test_existing_output_needs_force(tmp_path, capsys) -> None:
    src = tone(tmp_path / "in.wav")
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    code, err = run(capsys, str(src), str(out), "-x", "1")
    assert code == 2 and "exists: add --force" in err and out.read_bytes() == b"precious"
    code, err = run(capsys, str(src), str(out), "-x", "1", "--force")
    assert code == 0 and sf.info(str(out)).frames == sf.info(str(src)).frames


def test_forced_symlink_output_stays_a_link(tmp_path, capsys) -> None:
    src = tone(tmp_path / "in.wav")
    target = tone(tmp_path / "target.wav", seconds=0.1)
    link = tmp_path / "out.wav"
    os.symlink(target, link)
    code, _ = run(capsys, str(src), str(link), "--force")
    assert code == 0 and link.is_symlink() and os.readlink(link) == str(target)
    assert sf.info(str(target)).frames == sf.info(str(src)).frames


def test_full_disk_says_so_and_keeps_the_old_output(tmp_path, capsys) -> None:
    """A real full file system: a 1 MiB tmpfs (needs root to mount, as in CI)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", f"floweq-{uuid.uuid4().hex[:6]}", str(mnt)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        out = mnt / "out.wav"
        out.write_bytes(b"old take")
        src = tone(tmp_path / "long.wav", seconds=120)  # ~1.9 MB of 8 kHz PCM_16 > 1 MiB
        code, err = run(capsys, str(src), str(out), "--force")
        assert code == 2 and err.count("\n") == 1
        assert "no space left on device" in err
        assert out.read_bytes() == b"old take"
        assert [p.name for p in mnt.iterdir()] == ["out.wav"]  # no temporary file left
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


RSS_PROBE = """
import resource, sys
from floweq_tui.render import render_file
render_file(sys.argv[1], sys.argv[2], {"x": 1.0}, 512, force=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(src: Path, out: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(src), str(out)],
        capture_output=True, text=True, env=package_env(), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_streams_with_flat_memory_and_no_length_limit(tmp_path) -> None:
    """31 minutes (past the old 30-minute limit) costs the memory of 10 seconds."""
    short = tone(tmp_path / "short.wav", seconds=10)
    long = tmp_path / "long.wav"
    block = 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE * 60) / RATE)
    with sf.SoundFile(long, "w", RATE, 1, "PCM_16") as f:
        for _ in range(31):
            f.write(block)
    small = _peak_rss_kib(short, tmp_path / "o1.wav")
    big = _peak_rss_kib(long, tmp_path / "o2.wav")
    assert sf.info(str(tmp_path / "o2.wav")).frames == 31 * 60 * RATE
    # holding the whole file would add >= 2 x 4 bytes x 14.9M frames = 119 MB
    assert big - small < 16 * 1024, (small, big)


@pytest.fixture
def models_copy(tmp_path, monkeypatch):
    """A copy of the shipped models the render command loads instead (to corrupt)."""
    import shutil

    from floweq_tui import vae

    root = tmp_path / "models"
    shutil.copytree(vae.default_path(), root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(vae, "default_path", lambda: root)
    return root


def test_a_corrupt_model_disables_only_itself(tmp_path, capsys, models_copy) -> None:
    src = tone(tmp_path / "in.wav", seconds=1.0, rate=44100)
    (models_copy / "vae_d3_b0.01.npz").write_bytes(b"garbage")
    code, err = run(capsys, str(src), str(tmp_path / "eq.wav"), "-x", "1", "-y", "1")
    assert code == 0 and err.count("\n") == 1
    assert "warning: model left out" in err and "vae_d3_b0.01.npz" in err
    code, _ = run(capsys, str(src), str(tmp_path / "flat.wav"), "--strength", "0")
    eq, flat = sf.read(tmp_path / "eq.wav")[0], sf.read(tmp_path / "flat.wav")[0]
    assert np.abs(eq - flat).max() > 0.01  # the EQ really acts


def test_a_render_whose_model_is_unavailable_fails(tmp_path, capsys, models_copy) -> None:
    src = tone(tmp_path / "in.wav", seconds=0.5)
    (models_copy / "vae_d2_b0.001.npz").write_bytes(b"garbage")  # the default
    code, err = run(capsys, str(src), str(tmp_path / "o.wav"), "-x", "1", "-y", "1")
    assert code == 2 and "default model vae_d2_b0.001 is unavailable" in err
    assert err.count("\n") == 1 and not (tmp_path / "o.wav").exists()
    code, err = run(capsys, str(src), str(tmp_path / "o.wav"), "--model", "vae_d2_b0.001")
    assert code == 2 and "no model named 'vae_d2_b0.001'" in err
    code, _ = run(capsys, str(src), str(tmp_path / "o.wav"), "--model", "vae_d2_b0.01", "-x", "1")
    assert code == 0
    for f in models_copy.glob("*.npz"):
        f.write_bytes(b"")
    code, err = run(capsys, str(src), str(tmp_path / "o2.wav"), "-x", "1")
    assert code == 2 and "models not loaded" in err and not (tmp_path / "o2.wav").exists()
    code, _ = run(capsys, str(src), str(tmp_path / "o3.wav"), "--params", ",".join(["0"] * 13))
    assert code == 2  # (0 Hz is out of range: a manual setting is still validated)
    setting = "-3,150,2,650,0.71,0,1000,0.71,0,3300,0.71,0,8200"
    code, _ = run(capsys, str(src), str(tmp_path / "o4.wav"), "--params", setting)
    assert code == 0  # manual mode needs no model
