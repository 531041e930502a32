"""Soak the live engine on a JACK dummy server: xruns, callback times and CPU over a long run.

    python benchmarks/soak.py --seconds 60 --blocksize 128 [--hammer-rate 300] [--busy]
    python benchmarks/soak.py --quick     # a few seconds: does it run?

Run it from the repository root after ``pip install .``: it measures the installed package
(and takes its JACK helpers from ``tests/harness``). It starts a private JACK dummy server,
``jackd -n soak_PID -d dummy`` with ``--blocksize`` as its period, and runs everything on it
through ``JACK_DEFAULT_SERVER`` (the server is stopped at the end); ``--server NAME`` uses the
running server NAME instead, ``--use-running`` the running default one.

While the engine runs, a separate process attaches to the controls block by name and writes
controls (the 13 manual parameters, strength, gains, x/y) ``--hammer-rate`` times a second;
with ``--busy`` another process burns a CPU core in a busy loop. The parent samples the
meters about every millisecond.

Prints notes on stderr and, as its last line on stdout, one JSON object:

* ``callbacks``, ``xruns``: blocks processed and blocks flagged as an under/overflow by
  PortAudio during the measured window (the engine's own meters). PortAudio's JACK host API
  flags a block after *any* xrun of the server, so on a server shared with other clients
  (``other_jack_clients``, sampled with jack_lsp once a second) they are not all the
  engine's;
* ``jack_xruns``: xruns jackd logged in that window, or null when the server was already
  running (its log is not ours to read);
* ``reference_misses``, ``timer_misses``, ``xrun_allowance``, ``within_allowance``: the
  machine's own share, as the soak test judges it (``harness.jack.soak_allowance``). On a
  server it started, the script runs a native C client (jack_metro) through the window;
  ``reference_misses`` is the cycles it missed, ``timer_misses`` the cycles the server's
  timer woke late, and ``xrun_allowance`` = 2 + 2 x their sum, the most xruns the test
  lets pass. Both counts are null on a reused server (no log), and the allowance is 2;
* ``callback_p99_us``, ``callback_max_us``: over the distinct blocks seen by the ~1 ms
  sampling of ``meters["callback_us"]`` (the processing time of the last block);
  ``worst_block_us`` is the engine's own worst block since it started (every block);
* ``engine_cpu_percent``: the engine process's utime + stime over the window (/proc), as a
  percentage of one core;
* ``server_period``: the running server's period; the engine's block size is independent of
  it (PortAudio splits or joins blocks when they differ).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    from floweq_tui import _dsp  # noqa: F401  (the installed package, compiled core included)
except ImportError as exc:
    sys.exit(f"soak: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness only

import numpy as np  # noqa: E402
from harness import jack, loadgen  # noqa: E402

from floweq_tui.controls import METER_INDEX, N_METERS  # noqa: E402
from floweq_tui.engine import Engine, EngineConfig  # noqa: E402


def note(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


def jack_value(tool: str) -> int | None:
    """The running server's buffer size or sample rate (the tools print it when given no args)."""
    path = shutil.which(tool)
    if path is None:
        return None
    try:
        out = subprocess.run([path], capture_output=True, text=True, timeout=5).stdout
        return int(out.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def jack_clients() -> set[str]:
    """Names of the JACK clients that have ports (jack_lsp), without "system" and the
    reference client."""
    path = shutil.which("jack_lsp")
    if path is None:
        return set()
    try:
        out = subprocess.run([path], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    names = {line.split(":", 1)[0] for line in out.splitlines() if ":" in line}
    return names - {"system", jack.ReferenceClient().name}


class ClientWatch(threading.Thread):
    """Samples the JACK clients once a second: PortAudio flags every xrun of the server, so
    xruns on a server shared with other clients cannot be attributed to the engine."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: list[set[str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.seen.append(jack_clients())
            self.done.wait(1.0)

    def others(self) -> list[str]:
        """Clients besides one PortAudio client (the engine), if any sample had more."""
        if all(len(s) <= 1 for s in self.seen):
            return []
        return sorted(set().union(*self.seen))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--hammer-rate", type=float, default=300.0, help="control writes per second")
    ap.add_argument("--busy", action="store_true", help="run a CPU-bound process alongside")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    ap.add_argument("--quick", action="store_true", help="2 s after 0.5 s warm-up: does it run?")
    jack.add_server_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = 2.0, 0.5

    log = Path(tempfile.mkdtemp(prefix="floweq-soak-")) / "jackd.log"
    try:
        with jack.benchmark_server(args, args.samplerate, args.blocksize, log, "soak") as server:
            return soak(args, server)
    except jack.ServerError as exc:
        note(str(exc))
        return 1


def soak(args: argparse.Namespace, server: jack.Server) -> int:
    """The measurement on ``server`` (this process's JACK_DEFAULT_SERVER); prints the JSON."""
    period = jack_value("jack_bufsize")
    rate = jack_value("jack_samplerate")
    if server.started:
        note(
            f"started jackd -n {server.name} -d dummy -r {args.samplerate} -p {args.blocksize} "
            f"(log {server.log})"
        )
    else:
        note(f"using the running JACK server {server.name or 'default'!r} ({period}, {rate} Hz)")
    if period is not None and period != args.blocksize:
        note(
            f"the server's period is {period} frames, not {args.blocksize}: the engine runs "
            f"{args.blocksize}-frame blocks inside {period}-frame server cycles"
        )
    if rate is not None and rate != args.samplerate:
        note(f"the server runs at {rate} Hz; the engine asks for {args.samplerate} Hz")

    ctx = mp.get_context("spawn")
    cfg = EngineConfig(samplerate=args.samplerate, blocksize=args.blocksize)
    eng = Engine(cfg, mode=2)
    procs: list[mp.process.BaseProcess] = []
    reference = jack.ReferenceClient()
    have_reference = False
    try:
        eng.start()
        st = eng.status
        note(f"engine: {st.state} on {st.device} ({st.hostapi}), {st.blocksize} frames")
        if st.state != "running":
            note(f"the engine is not on the JACK server: {st.message}")
            return 1
        parent, child = ctx.Pipe()
        ham = ctx.Process(
            target=loadgen.hammer,
            args=(eng.controls_name, args.seconds, args.hammer_rate, child, True),
        )
        procs.append(ham)
        ham.start()
        child.close()
        if not parent.poll(60.0) or parent.recv() != "ready":
            note("the hammer process did not start")
            return 1
        if args.busy:
            b = ctx.Process(target=loadgen.busy, args=(args.seconds + args.warmup + 5.0,))
            procs.append(b)
            b.start()
        # the machine's share, as the soak test counts it: a C client on a server of ours
        have_reference = server.log is not None and reference.start()
        time.sleep(args.warmup)

        met = eng.meters.array
        i_cb, i_us = METER_INDEX["callbacks"], METER_INDEX["callback_us"]
        m0 = met[:N_METERS].copy()
        jack0 = jack.count_xruns(server.log) if server.log else None
        log_offset = jack.log_size(server.log)
        cpu0, t0 = cpu_seconds(eng.pid), time.monotonic()
        parent.send("go")
        watch = ClientWatch()
        watch.start()
        samples = np.empty(int(args.seconds * 1500) + 1000)
        n, last_cb = 0, m0[i_cb]
        end = t0 + args.seconds
        while time.monotonic() < end:
            time.sleep(0.001)
            m = met[:N_METERS].copy()  # one copy: callbacks and callback_us of the same block
            if m[i_cb] != last_cb and n < len(samples):
                last_cb = m[i_cb]
                samples[n] = m[i_us]
                n += 1
        cpu1, t1 = cpu_seconds(eng.pid), time.monotonic()
        watch.done.set()
        watch.join(10.0)
        m1 = met[:N_METERS].copy()
        jack1 = jack.count_xruns(server.log) if server.log else None
        machine = jack.soak_allowance(server.log, log_offset, reference if have_reference else None)
        sent = parent.recv() if parent.poll(30.0) else None
        state_end = eng.state
    finally:
        reference.stop()
        for p in procs:
            p.join(10.0)
            if p.is_alive():
                p.terminate()
                p.join(5.0)
        eng.stop()

    d = {name: m1[i] - m0[i] for name, i in METER_INDEX.items()}
    us = samples[:n]
    block_us = 1e6 * args.blocksize / args.samplerate
    result = {
        "seconds": round(t1 - t0, 3),
        "blocksize": args.blocksize,
        "samplerate": args.samplerate,
        "callbacks": int(d["callbacks"]),
        "xruns": int(d["xruns"]),
        "jack_xruns": None if jack0 is None else jack1 - jack0,
        "reference_misses": machine.reference_misses,
        "timer_misses": machine.timer_misses,
        "xrun_allowance": machine.allowed,
        "within_allowance": int(d["xruns"]) <= machine.allowed,
        "control_changes_sent": sent,
        "controls_applied": int(d["controls_applied"]),
        "callback_p99_us": round(float(np.percentile(us, 99)), 2) if n else None,
        "callback_max_us": round(float(us.max()), 2) if n else None,
        "block_period_us": round(block_us, 2),
        "engine_cpu_percent": round(100.0 * (cpu1 - cpu0) / (t1 - t0), 2),
        "callback_median_us": round(float(np.median(us)), 2) if n else None,
        "blocks_sampled": n,
        "worst_block_us": round(float(m1[METER_INDEX["cpu_max"]]) * block_us, 2),
        "xruns_since_start": int(m1[METER_INDEX["xruns"]]),
        "other_jack_clients": watch.others(),
        "server_period": period,
        "server": "started" if server.started else "reused",
        "server_name": server.name or os.environ.get("JACK_DEFAULT_SERVER", "default"),
        "reference_client": reference.name if have_reference else None,
        "busy": args.busy,
        "hammer_rate": args.hammer_rate,
        "state_end": state_end,
        "mode": int(m1[METER_INDEX["mode"]]),
        "models": len(st.models),
    }
    print(json.dumps(result))
    return 0 if state_end == "running" else 1


if __name__ == "__main__":
    sys.exit(main())
