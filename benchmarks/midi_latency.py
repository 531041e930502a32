"""CC-to-audio latency over real JACK MIDI: from a controller process sending a CC to the
audio block that applies it. Last line: one JSON object.

Method. The engine runs on JACK (a private dummy server, ``jackd -n midilat_PID``, unless
``--server NAME`` or ``--use-running`` names a running one) with the MIDI service beside it;
a separate process is the controller (a JACK MIDI output port that the service opens by
name). For each trial this script asks the controller to send one CC (knob x, alternating
between two values, each a real change); the controller reads
CLOCK_MONOTONIC just before ``send_message`` and reports it (``t_send``). Meanwhile this
script polls the meters block every ~0.5 ms until ``controls_applied`` increments; then
``block_of_last_change`` is the index of the block that applied the CC, and the audio
thread's ``heartbeat`` (CLOCK_MONOTONIC at the end of its latest block, with
``callbacks`` blocks done) dates it: that block started at about
``heartbeat - (callbacks - 1 - block) * period - callback_us``. Latency = that start minus
``t_send``: MIDI transport (the JACK cycle carrying the message), the service's 1 ms poll,
and the wait for the next audio block. It excludes the audio device's own output buffering
(constant, the same for any change). Trials are spaced by a random 10-20 ms so sends fall at
every phase of the audio period.

    python benchmarks/midi_latency.py [--trials 400] [--blocksize 128]
    python benchmarks/midi_latency.py --quick    # 20 trials: does it run?

Run it from the repository root after ``pip install .``: it measures the installed package
(and takes its JACK helpers from ``tests/harness``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    from floweq_tui import _dsp  # noqa: F401  (the installed package, compiled core included)
except ImportError as exc:
    sys.exit(f"midi_latency: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness only

from harness import jack  # noqa: E402

from floweq_tui.engine import Engine, EngineConfig  # noqa: E402
from floweq_tui.midi.state import LinkState  # noqa: E402

CTL = f"bench-ctl-{os.getpid()}"


def controller(conn, name: str) -> None:
    """Child: a JACK MIDI controller; ("cc", n, v) -> send now, reply the send time. Its
    port uses the system's libjack (tests/harness/jackctl.py says why not rtmidi's)."""
    from harness.jackctl import Output

    out = Output(name, "out")
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg[0] == "quit":
            break
        if msg[0] == "cc":
            t = time.monotonic()
            out.send([0xB0, msg[1], msg[2]])
            conn.send(t)
    out.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--quick", action="store_true", help="20 trials: does it run?")
    jack.add_server_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.trials = 20

    tmp = tempfile.mkdtemp(prefix="floweq-midi-bench-")
    log = Path(tmp) / "jackd.log"
    try:
        with jack.benchmark_server(args, args.samplerate, args.blocksize, log, "midilat"):
            return measure(args, tmp)
    except jack.ServerError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1


def measure(args: argparse.Namespace, tmp: str) -> int:
    """The trials on this process's JACK server; prints the summary and the JSON line."""
    cfg = EngineConfig(
        samplerate=args.samplerate,
        blocksize=args.blocksize,
        midi=True,
        midi_api="jack",
        midi_in=CTL,
        midi_out="none",
        midi_config=os.path.join(tmp, "midi.toml"),
    )
    flat = {f"p{i}": 0.0 for i in (0, 2, 5, 8, 11)}
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=controller, args=(child, CTL), daemon=True)
    eng = Engine(cfg, mode=2, **flat)
    try:
        eng.start()
        if "JACK" not in eng.status.hostapi:
            print(json.dumps({"error": f"the engine is not on JACK ({eng.status.device})"}))
            return 1
        proc.start()
        assert conn.poll(20) and conn.recv() == "ready"
        deadline = time.monotonic() + 15
        while eng.midi.status().hw.state is not LinkState.CONNECTED:
            if time.monotonic() > deadline:
                print(json.dumps({"error": "the MIDI service did not connect"}))
                return 1
            time.sleep(0.05)
        period = args.blocksize / eng.status.samplerate
        meters = eng.meters
        for v in (62, 63, 64, 65):  # pick the knob up (soft takeover)
            conn.send(("cc", 16, v))
            conn.recv()
        time.sleep(0.3)
        lat: list[float] = []
        misses = 0
        xruns0 = meters["xruns"]
        for k in range(args.trials):
            time.sleep(random.uniform(0.010, 0.020))
            before = meters["controls_applied"]
            conn.send(("cc", 16, 20 if k % 2 else 100))
            t_end = time.monotonic() + 1.0
            seen = None
            while time.monotonic() < t_end:
                m = meters.snapshot()
                if m["controls_applied"] != before:
                    seen = m
                    break
                time.sleep(0.0005)
            t_send = conn.recv()
            if seen is None:
                misses += 1
                continue
            block = seen["block_of_last_change"]
            start = (
                seen["heartbeat"]
                - (seen["callbacks"] - 1 - block) * period
                - seen["callback_us"] * 1e-6
            )
            lat.append((start - t_send) * 1e3)
        xruns = meters["xruns"] - xruns0
    finally:
        if proc.is_alive():
            conn.send(("quit",))
            proc.join(5)
        eng.stop()
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] if lat else float("nan")
    result = {
        "benchmark": "midi_cc_to_audio_latency",
        "transport": "JACK MIDI (dummy driver)",
        "samplerate": args.samplerate,
        "blocksize": args.blocksize,
        "block_ms": round(1e3 * period, 3),
        "trials": len(lat),
        "misses": misses,
        "xruns": int(xruns),
        "median_ms": round(statistics.median(lat), 3) if lat else None,
        "p99_ms": round(p99, 3),
        "min_ms": round(lat[0], 3) if lat else None,
        "max_ms": round(lat[-1], 3) if lat else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    print(
        f"CC -> audio block: median {result['median_ms']} ms, p99 {result['p99_ms']} ms over "
        f"{len(lat)} CCs ({result['block_ms']} ms blocks, {misses} missed, {int(xruns)} xruns)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
