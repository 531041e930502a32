"""The floor of a JACK client's idle cost: what its process thread costs, woken every period.

    python benchmarks/jack_floor.py [--seconds 15] [--rounds 2] [--period 128]
    python benchmarks/jack_floor.py --quick     # one 2 s round: does it run?

Starts a private JACK dummy server (``jackd -n floor_PID -d dummy -p PERIOD``) and runs, one
at a time and alternating, each client below alone on it for ``--seconds`` (after 2 s to
settle), reading every thread's /proc/PID/task/TID/schedstat before and after:

* ``floor``: ``benchmarks/jack_floor.c`` compiled (cc): one MIDI input, one MIDI output and a
  process callback that returns at once, the cheapest client there is;
* ``midi_dump``: ``jack_midi_dump`` (JACK's example MIDI monitor), if installed;
* ``jackmidi``: a Python process holding this package's :mod:`floweq_tui.midi._jackmidi`
  client with the MIDI service's four ports (two inputs, two outputs, none connected),
  sleeping (no Python loop: the JACK thread alone).

Per client it reports the JACK process thread (the real-time one): % of one core and how
often it ran per second; the JSON line (last on stdout) has every round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness only

from harness import jack  # noqa: E402

JACKMIDI = """
import sys, time
from floweq_tui.midi import _jackmidi
c = _jackmidi.Client("fq-floor")
c.add_input("floweq-tui"); c.add_input("controller")
c.add_output("feedback"); c.add_output("controller-feedback")
c.activate()
print("ready", flush=True)
time.sleep(3600)
"""


def threads(pid: int) -> dict[int, tuple[int, int, bool]]:
    """tid -> (ns on a CPU, times run, real-time: the JACK process thread)."""
    out: dict[int, tuple[int, int, bool]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ns, _, runs = (int(x) for x in (task / "schedstat").read_text().split())
            policy = int((task / "stat").read_text().rsplit(")", 1)[1].split()[38])
        except (OSError, ValueError, IndexError):
            continue
        out[int(task.name)] = (ns, runs, policy in (1, 2))  # SCHED_FIFO, SCHED_RR
    return out


def measure(cmd: list[str], seconds: float) -> dict[str, float]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "ready" not in line:
            return {"error": 1.0}
        time.sleep(2.0)
        t0, a = time.monotonic(), threads(proc.pid)
        time.sleep(seconds)
        t1, b = time.monotonic(), threads(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    dt = t1 - t0
    per = {
        tid: (
            (ns - a.get(tid, (0, 0, rt))[0]) / 1e9 / dt * 100,
            (n - a.get(tid, (0, 0, rt))[1]) / dt,
            rt,
        )
        for tid, (ns, n, rt) in b.items()
    }
    rts = [v for v in per.values() if v[2]] or list(per.values())
    busiest = max(rts, key=lambda v: v[0])
    total = sum(v[0] for v in per.values())
    return {
        "jack_thread_cpu": round(busiest[0], 3),
        "jack_thread_runs_per_s": round(busiest[1], 1),
        "us_per_run": round(busiest[0] / 100 / busiest[1] * 1e6, 1) if busiest[1] else 0.0,
        "process_cpu": round(total, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--period", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--quick", action="store_true", help="one 2 s round: does it run?")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 2.0, 1
    cc = shutil.which("cc") or shutil.which("gcc")
    tmp = Path(tempfile.mkdtemp(prefix="floweq-floor-"))
    clients: dict[str, list[str]] = {}
    if cc:
        exe = tmp / "jack_floor"
        subprocess.run(
            [cc, "-O2", "-o", str(exe), str(REPO / "benchmarks" / "jack_floor.c"), "-ldl"],
            check=True,
        )
        clients["floor"] = [str(exe), "fq-floor"]
    dump = shutil.which("jack_midi_dump")
    if dump:
        clients["midi_dump"] = ["sh", "-c", f"echo ready; exec {dump}"]
    clients["jackmidi"] = [sys.executable, "-c", JACKMIDI]
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        with jack.private_server(
            args.samplerate, args.period, tmp / "jackd.log", f"floor_{os.getpid()}"
        ):
            for r in range(args.rounds):
                order = list(clients) if r % 2 == 0 else list(reversed(clients))
                got = {name: measure(clients[name], args.seconds) for name in order}
                rounds.append(got)
                for name, res in got.items():
                    print(f"jack_floor: round {r + 1} {name:10s} {res}", file=sys.stderr)
    except jack.ServerError as exc:
        print(f"jack_floor: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "benchmark": "jack_floor",
                "period": args.period,
                "samplerate": args.samplerate,
                "seconds": args.seconds,
                "load_avg": Path("/proc/loadavg").read_text().split()[:3],
                "rounds": rounds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
