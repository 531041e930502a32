"""Find or start a JACK server (the dummy backend needs no sound card): tests, soak, demos."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


def running(name: str | None = None) -> bool:
    """True if a JACK server (the default one, or the one called ``name``) answers."""
    tool = shutil.which("jack_wait")
    if tool is None:
        return False
    try:
        server = ["-s", name] if name else []
        done = subprocess.run([tool, "-c", *server], capture_output=True, timeout=5)
        return done.stdout.strip() == b"running"
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_dummy(
    samplerate: int = 48000,
    period: int = 128,
    log: str | Path | None = None,
    name: str | None = None,
) -> subprocess.Popen[bytes] | None:
    """Start ``jackd -R -P 80 -d dummy`` and wait until it answers; None if it cannot run.

    Real-time scheduling (-R) matters: without it the dummy driver reports xruns even idle.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        return None
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    cmd = [jackd, *(["-n", name] if name else []), "-R", "-P", "80"]
    cmd += ["-d", "dummy", "-r", str(samplerate), "-p", str(period)]
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if running(name):
            return proc
        time.sleep(0.1)
    stop(proc)
    return None


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server started by ``start_dummy`` (idempotent)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(2)


def count_xruns(log: str | Path) -> int:
    """How many times jackd logged an xrun ("JackEngine::XRun") in its log file."""
    try:
        return Path(log).read_text(errors="replace").count("XRun")
    except OSError:
        return 0
