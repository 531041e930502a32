"""JACK dummy servers for tests and benchmarks: start, stop, private servers, xrun accounting.

Only ``running()`` is product code (``floweq_tui.jackserver``); everything here starts and
reads servers for measurement. A private server (``jackd -n NAME``) is chosen by its
clients through the ``JACK_DEFAULT_SERVER`` environment variable, so a test or benchmark
can stop or restart its own server without touching a server others share.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from floweq_tui.jackserver import running

__all__ = [
    "ReferenceClient",
    "Server",
    "ServerError",
    "SoakAllowance",
    "add_server_args",
    "benchmark_server",
    "count_xruns",
    "is_late",
    "late_count",
    "log_size",
    "private_server",
    "running",
    "soak_allowance",
    "start_dummy",
    "stop",
    "timer_late_count",
    "xrun_allowance",
    "xrun_lines",
]


SHM = Path("/dev/shm")


def jackd_running() -> bool:
    """True if any jackd process runs on this machine (any user, any server name)."""
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "jackd":
                return True
        except OSError:
            continue
    return False


def clean_stale_registry() -> list[str]:
    """Remove JACK's shared-memory leftovers when no jackd runs; returns what was removed.

    JACK2 keeps a registry of at most 8 servers in /dev/shm. A server killed hard (the fault
    tests kill jackd on purpose) leaves its entry behind, and an entry is reclaimed only by
    a new server of the same name: after eight such names no jackd can start at all (it
    exits silently). With no jackd running nothing uses these files, so they can go.
    """
    if jackd_running() or not SHM.is_dir():
        return []
    removed = []
    for p in [SHM / "jack-shm-registry", *SHM.glob("jack-*"), *SHM.glob("jack_*")]:
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
            else:
                continue
            removed.append(p.name)
        except OSError:
            continue
    return removed


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
        proc.wait(10)  # a clean exit frees the server's registry entry; a kill does not
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(2)


@dataclass
class Server:
    """A JACK server in use: ``name`` (None: the default one), its jackd ``log`` and process
    when we started it (None when reusing a running server: its log is not ours)."""

    name: str | None
    log: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def started(self) -> bool:
        return self.proc is not None


class ServerError(RuntimeError):
    """No JACK server to use: jackd is missing, failed to start, or the named one is not up."""


@contextlib.contextmanager
def private_server(
    samplerate: int, period: int, log: Path, name: str | None = None
) -> Iterator[Server]:
    """Start ``jackd -n NAME -d dummy`` and make it this process's default server.

    ``JACK_DEFAULT_SERVER`` is set in ``os.environ`` for the duration, so every client
    started meanwhile (engine processes, jack_* tools, the reference client) uses it; the
    previous value is restored and the server stopped on exit. Raises ServerError when it
    cannot start (the last line of jackd's log says why).
    """
    name = name or f"fq_private_{os.getpid()}"
    if running(name):
        raise ServerError(f"a JACK server named {name!r} already runs; choose another name")
    proc = start_dummy(samplerate, period, log, name=name)
    if proc is None:
        why = "jackd is not installed" if shutil.which("jackd") is None else f"see {log}"
        raise ServerError(f"cannot start a JACK dummy server named {name!r} ({why})")
    before = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield Server(name, Path(log), proc)
    finally:
        stop(proc)
        if before is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = before


def add_server_args(ap: argparse.ArgumentParser) -> None:
    """``--server NAME`` / ``--use-running``: a benchmark's choice of JACK server."""
    group = ap.add_mutually_exclusive_group()
    group.add_argument(
        "--server", metavar="NAME", help="use the running JACK server NAME (jackd -n NAME)"
    )
    group.add_argument(
        "--use-running",
        action="store_true",
        help="use the running default JACK server (JACK_DEFAULT_SERVER or 'default')",
    )


@contextlib.contextmanager
def benchmark_server(
    args: argparse.Namespace, samplerate: int, period: int, log: Path, prefix: str
) -> Iterator[Server]:
    """The server a benchmark runs on: a private one it starts (``PREFIX_PID``), unless
    ``args.server`` or ``args.use_running`` (from ``add_server_args``) name a running one."""
    if args.server:
        if not running(args.server):
            raise ServerError(f"no JACK server named {args.server!r} is running")
        before = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = args.server
        try:
            yield Server(args.server)
        finally:
            if before is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = before
        return
    if args.use_running:
        if not running():
            raise ServerError("no JACK server is running (start one, or drop --use-running)")
        yield Server(os.environ.get("JACK_DEFAULT_SERVER"))
        return
    with private_server(samplerate, period, log, f"{prefix}_{os.getpid()}") as server:
        yield server


# ----------------------------------------------------------------- reading jackd's log


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
    """Cycles in which ``client`` was late: it had not finished when the next one began
    ("client = NAME was not finished") or finished after it ("client NAME finished after
    current callback"); jackd logs either."""
    return sum(1 for ln in lines if is_late(ln, client))


def is_late(line: str, client: str) -> bool:
    """The xrun line ``line`` is about ``client`` being late."""
    return f"client = {client} was not finished" in line or (
        f"client {client} finished after" in line
    )


def timer_late_count(lines: list[str]) -> int:
    """Cycles in which the server's own timer woke late (no client to blame)."""
    return sum(1 for ln in lines if "JackTimedDriver::Process XRun" in ln)


# ----------------------------------------------------------------- the machine's share


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
        stop(self._proc)
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


@dataclass
class SoakAllowance:
    """The machine's misses in a soak window and the xruns they allow (JSON-ready)."""

    reference_misses: int | None
    """Cycles the reference client (jack_metro) missed; None without it or without a log."""
    timer_misses: int | None
    """Cycles the server's timer woke late; None without a jackd log to read."""
    allowed: int
    """``xrun_allowance`` of the two."""


def soak_allowance(
    log: str | Path | None, offset: int, reference: ReferenceClient | None
) -> SoakAllowance:
    """What the machine missed in jackd's ``log`` after ``offset``, and the xrun allowance.

    ``reference`` is the reference client if it ran through the window (None if it did
    not start). Without a log (a server we did not start) both counts are None and the
    allowance is the bare 2. The soak test and ``benchmarks/soak.py`` both use this.
    """
    lines = xrun_lines(log, offset)
    ref = late_count(lines, reference.name) if (log and reference is not None) else None
    timer = timer_late_count(lines) if log else None
    return SoakAllowance(ref, timer, xrun_allowance(ref, timer))
