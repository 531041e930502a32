"""`floweq-tui preset list|show|save|rm` and `--preset NAME` at start (the real headless)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import package_env

from floweq_tui import presets
from floweq_tui.cli import main


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_save_list_show_rm(dirs, capsys) -> None:
    assert main(["preset", "save", "wide", "-x", "-1.5", "-y", "0.5", "--strength", "0.7"]) == 0
    assert "saved 'wide'" in capsys.readouterr().out
    p = presets.load("wide")
    assert p.values["x"] == -1.5 and p.values["y"] == 0.5 and p.values["strength"] == 0.7
    assert p.curve is not None and len(p.curve) == 13
    assert main(["preset", "save", "flat", "--params", "0,150,0,650,0.71,0,1000,0.71,0,3300,"
                 "0.71,0,8200"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["preset", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["flat", "wide"]
    assert "traverse" in out[1] and "x -1.50 y +0.50" in out[1]
    assert main(["preset", "show", "wide"]) == 0
    shown = capsys.readouterr().out
    assert 'mode = "traverse"' in shown and "x = -1.5" in shown
    # a second save of the same name needs --force
    assert main(["preset", "save", "wide", "-x", "1"]) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["preset", "save", "wide", "-x", "1", "--force"]) == 0
    assert presets.load("wide").values["x"] == 1.0
    # --preset as the base of a save: the preset's sound with the options on top
    assert main(["preset", "save", "wide2", "--preset", "wide", "-y", "-1"]) == 0
    assert presets.load("wide2").values["x"] == 1.0 and presets.load("wide2").values["y"] == -1
    assert main(["preset", "rm", "wide2"]) == 0
    assert presets.names() == ["flat", "wide"]


def test_errors_are_one_line(dirs, capsys) -> None:
    for argv, words in (
        (["preset", "show", "nope"], "no preset 'nope'"),
        (["preset", "rm", "nope"], "no preset 'nope'"),
        (["preset", "save", "a/b"], "may not start with '.' or hold '/'"),
        (["render", "in.wav", "out.wav", "--preset", "nope"], "--preset: no preset 'nope'"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_list_reports_a_bad_file_and_keeps_it(dirs, capsys) -> None:
    main(["preset", "save", "ok"])
    bad = dirs / "data" / "floweq-tui" / "presets" / "broken.toml"
    bad.write_text("version = 1\n[latent]\nx = 'far'\n")
    capsys.readouterr()
    assert main(["preset", "list"]) == 0
    out, err = capsys.readouterr()
    assert out.split()[0] == "ok"
    assert f"skipped {bad}:3: [latent] x must be a number" in err
    assert bad.read_text() == "version = 1\n[latent]\nx = 'far'\n"


def test_headless_starts_on_the_preset(dirs) -> None:
    """The real `--headless --preset NAME`: the engine plays the preset's latent point."""
    assert main(["preset", "save", "corner", "-x", "-1.25", "-y", "0.75"]) == 0
    env = package_env(XDG_DATA_HOME=str(dirs / "data"), XDG_CONFIG_HOME=str(dirs / "config"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "floweq_tui", "--headless", "--silent", "--no-midi",
         "--status-every", "0.3", "--preset", "corner"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if re.search(r"z \(-1\.25, \+0\.75", line):
                break
        assert any("preset 'corner' recalled" in s for s in seen), seen
        assert re.search(r"z \(-1\.25, \+0\.75", seen[-1]), seen
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
