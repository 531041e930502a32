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


def log_size(log: str | Path | None) -> int:
    """Current size of a jackd log (an offset to count from), 0 when there is none."""
    try:
        return Path(log).stat().st_size if log else 0
    except OSError:
        return 0


def xrun_lines(log: str | Path | None, offset: int = 0) -> list[str]:
    """The xrun lines jackd logged after ``offset``."""
    if not log:
        return []
    try:
        with open(log, errors="replace") as fh:
            fh.seek(offset)
            return [ln.strip() for ln in fh if "XRun" in ln]
    except OSError:
        return []


def late_count(lines: list[str], client: str) -> int:
    """Cycles in which ``client`` had not finished ("client = NAME was not finished")."""
    return sum(1 for ln in lines if f"client = {client} was not finished" in ln)


def timer_late_count(lines: list[str]) -> int:
    """Cycles in which the server's own timer woke late (no client to blame)."""
    return sum(1 for ln in lines if "JackTimedDriver::Process XRun" in ln)


class ReferenceClient:
    """A native C JACK client (jack_metro, from jackd2) running next to the engine.

    On a virtual machine without a preemptible kernel even a C client misses cycles now
    and then; counting its misses in the same window tells the machine's share of the
    xruns from ours.
    """

    def __init__(self, name: str = "fq-reference") -> None:
        self.name = name
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        """Start it (nearly silent, unconnected); False when jack_metro cannot run."""
        tool = shutil.which("jack_metro")
        if tool is None:
            return False
        self._proc = subprocess.Popen(
            [tool, "-n", self.name, "-b", "120", "-A", "0.001"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        return self._proc.poll() is None

    def stop(self) -> None:
        stop(self._proc)  # type: ignore[arg-type]
        self._proc = None


def xrun_allowance(reference_misses: int | None, timer_misses: int | None) -> int:
    """How many xruns a soak may show that the machine, not the engine, is to blame for.

    Zero is the target and what a quiet run shows. This VM's kernel is not preemptible
    (PREEMPT_NONE) and its timers are late now and then: even jack_metro misses cycles.
    So a soak may show at most 2 xruns plus twice what the reference client and the
    server's timer missed in the same window. A real fault (a blocked callback, GIL
    contention) shows hundreds.
    """
    return 2 + 2 * ((reference_misses or 0) + (timer_misses or 0))
