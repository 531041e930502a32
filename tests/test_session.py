"""The session and the composition root: restored at start (the command line wins), saved on
the way out, by the UI and headless alike; a bad file is kept, never silently replaced."""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import time

import pytest
from conftest import package_env
from harness.fakes import FakeEngine, synthetic_family

from floweq_tui import session as settings
from floweq_tui.cli import build_parser, instrument, root

FAMILY = synthetic_family()


def _args(*extra: str, **kw) -> argparse.Namespace:
    argv = []
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}" if len(k) > 1 else f"-{k}", str(v)]
    return build_parser().parse_args(["--silent", *argv, *extra])


def _fake_run(monkeypatch, engines: list) -> dict:
    """cmd_ui over a FakeEngine built by the real composition root; the 'user' sets strength."""
    pytest.importorskip("textual")
    from floweq_tui.tui.app import FloweqApp

    def make(config, controls):
        eng = FakeEngine(FAMILY)
        eng.controls.update(controls)
        engines.append(eng)
        return eng

    real = root.compose
    monkeypatch.setattr(instrument, "compose", lambda args: real(args, make_engine=make))
    seen: dict = {}

    def run(self, *a, **k):
        seen["notice"] = self.startup_notice
        self.engine.controls["strength"] = 0.5  # the user did something
        return 0

    monkeypatch.setattr(FloweqApp, "run", run)
    return seen


def test_ui_saves_session_and_stops_engine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    engines: list = []
    _fake_run(monkeypatch, engines)
    assert instrument.cmd_ui(_args(x=1.5, mode="manual")) == 0
    assert engines[0].stopped
    data = json.loads((tmp_path / "floweq-tui" / "session.json").read_text())
    assert data["controls"]["x"] == 1.5 and data["controls"]["strength"] == 0.5
    assert data["model_name"] == "vae_d2_b0.001" and "mute" not in data["controls"]
    # next start: restored, and the command line wins over the session
    instrument.cmd_ui(_args(y=-1.0))
    eng = engines[1]
    assert eng.controls["x"] == 1.5 and eng.controls["mode"] == 2
    assert eng.controls["y"] == -1.0
    assert list((tmp_path / "floweq-tui").iterdir()) == [tmp_path / "floweq-tui" / "session.json"]


def test_corrupt_session_is_kept_aside_with_a_notice_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "floweq-tui" / "session.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    data, notice = settings.load_session()
    assert data is None and notice.startswith("settings not restored:") and "\n" not in notice
    assert path.read_text() == "{not json"
    engines: list = []
    seen = _fake_run(monkeypatch, engines)
    instrument.cmd_ui(_args())
    assert seen["notice"].startswith("settings not restored") and "\n" not in seen["notice"]
    assert engines[0].controls["x"] == 0.0  # defaults used
    assert json.loads(path.read_text())["controls"]["strength"] == 0.5  # a successful save
    kept = [p for p in path.parent.iterdir() if p.name.startswith("session.json.bad-")]
    assert len(kept) == 1 and kept[0].read_text() == "{not json"  # nothing lost
    assert kept[0].name in seen["notice"]


def test_save_is_atomic_when_write_fails(tmp_path, monkeypatch) -> None:
    path = tmp_path / "s.json"
    settings.save_session({"controls": {"x": 1.0}}, path)
    monkeypatch.setattr(
        settings.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(OSError("disk"))
    )
    with pytest.raises(OSError):
        settings.save_session({"controls": {"x": 2.0}}, path)
    assert json.loads(path.read_text())["controls"]["x"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_session_roundtrip_by_name() -> None:
    names = ["a", "b", "c"]
    labels = ["warm", "bright"]
    ctl = dict(zip(("model", "anchor_a", "anchor_b", "x", "mute"), (2, 1, 0, 0.5, 1), strict=True))
    data = settings.session_from_controls(ctl, names, labels)
    back = settings.controls_from_session(data, ["c", "a", "b"], ["bright", "warm"])
    assert back == {"model": 0.0, "anchor_a": 0.0, "anchor_b": 1.0, "x": 0.5}
    assert not math.isnan(back["x"])


def _headless(tmp_path, *extra: str) -> subprocess.Popen[str]:
    env = package_env(XDG_CONFIG_HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    return subprocess.Popen(
        [sys.executable, "-m", "floweq_tui", "--headless", "--silent", "--no-midi",
         "--status-every", "0.2", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str], tmp_path, timeout: float = 30.0) -> int:
    """SIGTERM, then its exit status; if it outlives ``timeout``, every thread's stack
    (SIGUSR2 writes them to logs/headless.log) goes into the failure."""
    proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log = tmp_path / "state" / "floweq-tui" / "logs" / "headless.log"
        proc.send_signal(signal.SIGUSR2)
        end = time.monotonic() + 5.0
        while not (log.exists() and "Current thread" in log.read_text()) and time.monotonic() < end:
            time.sleep(0.05)
        stacks = log.read_text()[-8000:] if log.exists() else "(no headless.log)"
        proc.kill()
        proc.wait()
        raise AssertionError(f"headless did not stop within {timeout} s:\n{stacks}") from None


def _read_until(proc: subprocess.Popen[str], want: str, limit: float = 60.0) -> list[str]:
    """Lines of stdout up to the first containing ``want`` (fails after ``limit`` s)."""
    lines: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if want in line:
            return lines
    proc.kill()
    raise AssertionError(f"no {want!r} in headless output: {lines}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_headless_restores_the_session_and_stops_cleanly(tmp_path, sig) -> None:
    path = tmp_path / "floweq-tui" / "session.json"
    settings.save_session({"controls": {"x": 1.5, "y": -0.5, "strength": 0.7}}, path)
    proc = _headless(tmp_path, "-y", "0.25")  # the command line wins for y
    try:
        _read_until(proc, "z (+1.50, +0.25")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("floweq-tui: stopped")
    assert "Traceback" not in err and "leaked" not in err
    saved = json.loads(path.read_text())["controls"]
    assert (saved["x"], saved["y"], saved["strength"]) == (1.5, 0.25, 0.7)


def test_headless_taps_dumps_stacks_and_stops_through_a_storm(tmp_path) -> None:
    """The signals a headless box gets, for real: four SIGUSR1 taps half a second apart set
    the tempo; SIGUSR2 writes every thread's stack to logs/headless.log and it plays on;
    then 500 taps at once and a SIGTERM among them: it stops cleanly (its stop handler
    takes no lock: one that did hung a headless instance in CI)."""
    proc = _headless(tmp_path)
    try:
        _read_until(proc, "floweq-tui: ")
        for _ in range(4):
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
        line = _read_until(proc, "tap 4: ")[-1]
        bpm = float(line.split("tap 4: ")[1].split()[0])
        assert 60.0 < bpm < 240.0, line  # (four taps 0.5 s apart: about 120)
        log = tmp_path / "state" / "floweq-tui" / "logs" / "headless.log"
        proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not (log.exists() and "Current thread" in log.read_text()):
            assert time.monotonic() < deadline, "no stacks in headless.log"
            time.sleep(0.05)
        assert "in run" in log.read_text()  # (the main thread's loop)
        _read_until(proc, " LUFS ")  # still playing: its status lines go on
        for i in range(500):
            proc.send_signal(signal.SIGTERM if i == 250 else signal.SIGUSR1)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("floweq-tui: stopped")
    assert "Traceback" not in err and "leaked" not in err


def test_a_second_instance_is_refused_unless_allowed(tmp_path) -> None:
    first = _headless(tmp_path)
    try:
        _read_until(first, "floweq-tui: ")  # the first one runs (its lock is taken)
        second = _headless(tmp_path)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2 and err.count("\n") == 1
        assert f"another floweq-tui (pid {first.pid}) is running" in err
        assert "--allow-second" in err and "Traceback" not in err
        allowed = _headless(tmp_path, "--allow-second")
        _read_until(allowed, "floweq-tui: ")
        assert _stop(allowed, tmp_path) == 0
        # a killed instance leaves no stale lock behind
        first.kill()
        first.wait(30)
        third = _headless(tmp_path)
        _read_until(third, "floweq-tui: ")
        assert _stop(third, tmp_path) == 0
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()


def test_a_fresh_session_pairs_warm_with_bright(tmp_path, monkeypatch) -> None:
    """issue 12: the default Semantic pair was warm -> warm 1 (one descriptor twice)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    engines: list = []
    _fake_run(monkeypatch, engines)
    assert instrument.cmd_ui(_args()) == 0
    data = json.loads((tmp_path / "floweq-tui" / "session.json").read_text())
    assert (data["anchor_a_name"], data["anchor_b_name"]) == ("warm", "bright")
    # a pair the user chose is kept, even one descriptor at two intensities
    instrument.cmd_ui(_args(anchor_b="warm 1"))
    instrument.cmd_ui(_args())
    data = json.loads((tmp_path / "floweq-tui" / "session.json").read_text())
    assert data["anchor_b_name"] == "warm 1"


def test_default_anchor_pair_is_two_descriptors() -> None:
    from floweq_tui.vae import core_models, default_anchor_pair

    labels = core_models().anchor_labels
    a, b = default_anchor_pair(labels)
    assert (labels[a], labels[b]) == ("warm", "bright")
    assert default_anchor_pair(["soft", "soft 1", "airy"]) == (0, 2)
    assert default_anchor_pair(["only"]) == (0, 0)
    assert default_anchor_pair([]) == (0, 1)
