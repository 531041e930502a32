"""Tempo sync accuracy: the beat the engine computes at each block start against a MIDI
clock from another process, and against an Ableton Link peer.

On a private JACK dummy server (48 kHz, 128-frame blocks), a native sender
(tests/harness/jack_clock.c) plays a MIDI clock at 120 BPM (Start, 24 ticks a beat, each
written at the frame offset of its scheduled time, optionally with +-N ms of jitter) into
the MIDI service's virtual input; the service (its real loop, on a thread here) follows it
into the tempo slots. The slots are read every millisecond; at every block start the
contract's beat (beat_origin + (t - beat_time) * bpm / 60, from the slots as last read
before it) is compared with the sender's schedule. Then the same against a Link peer in
another process (120 BPM, quantum 4): the beat phase at the peer's own readings.

    python benchmarks/tempo_sync.py              # 100 bars each (about 7 minutes)
    python benchmarks/tempo_sync.py --quick      # 4 bars each: does it run?
    python benchmarks/tempo_sync.py --jitter-ms 1

Prints the figures, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

try:
    from floweq_tui.midi import _jackmidi  # noqa: F401  (the installed package, compiled)
except ImportError as exc:
    sys.exit(f"tempo_sync: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness only

from harness import jack, tempo_rig  # noqa: E402

from floweq_tui.tempo.service import TempoService  # noqa: E402
from floweq_tui.tempo.slots import SLOT_NAMES  # noqa: E402

RATE, BLOCK = 48000, 128
BLOCK_S = BLOCK / RATE


def midi_clock(tool: str, tmp: Path, bars: int, bpm: float, jitter_ms: float) -> dict:
    """The MIDI clock run: errors in blocks at every block start while the clock runs."""
    rig = tempo_rig.ServiceThread({}, tmp / "midi.toml")
    try:
        beats = 4 * bars
        sender = subprocess.Popen(
            [tool, "send", "fq-clock", rig.virtual_port, str(bpm), str(beats), str(jitter_ms),
             "11"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        t0 = float(sender.stdout.readline().split()[1])
        length = beats * 60 / bpm
        samples = tempo_rig.sample(rig.slots, t0 + length + 0.3 - time.monotonic(), 0.001)
        sender.communicate(30)
        follower = rig.service.tempo.clock_in
        received, missed = rig.service.tempo.realtime, follower.missed
    finally:
        rig.close()
    first_tick = t0 + 0.001 * jitter_ms
    blocks, got = tempo_rig.block_beats(samples, first_tick, t0 + length - 0.01, BLOCK_S)
    err = np.abs(got - (blocks - t0) * bpm / 60) * 60 / bpm / BLOCK_S
    settled = err[blocks >= t0 + 60 / bpm]
    return {
        "sent": beats * 24 + 2,
        "received": received,
        "ticks_counted_lost": missed,
        "blocks": int(len(err)),
        "blocks_over_1": int((err > 1).sum()),  # (the Start's: the old anchor until written)
        "p99_blocks": round(float(np.percentile(err, 99)), 4),
        "max_blocks": round(float(err.max()), 4),
        "p99_blocks_after_beat1": round(float(np.percentile(settled, 99)), 4),
        "max_blocks_after_beat1": round(float(settled.max()), 4),
    }


def link(bars: int, bpm: float) -> dict:
    """The Link run: beat-phase error at the peer's readings (every 20 ms), in blocks."""
    seconds = bars * 4 * 60 / bpm
    peer = subprocess.Popen(
        [sys.executable, "-c", tempo_rig.LINK_PEER, str(bpm), str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    svc = TempoService(np.zeros(len(SLOT_NAMES)), {"tempo_source": "link"},
                       index={n: i for i, n in enumerate(SLOT_NAMES)})  # fmt: skip
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            due = svc.poll(time.monotonic())
            time.sleep(max(0.0, min(due - time.monotonic(), 0.05)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        line = peer.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"the Link peer did not start: {peer.stderr.read()[-300:]}")
        samples = tempo_rig.sample(svc.slots, seconds + 0.5, 0.001)
        out, _ = peer.communicate(30)
    finally:
        stop.set()
        thread.join(5)
        svc.close()
    rows = [tuple(map(float, ln.split())) for ln in out.splitlines()]
    rows = rows[25:]  # (the first half second: the session converging)
    err = np.abs(tempo_rig.phase_errors(samples, [(t, b) for t, b, _ in rows]))
    err_blocks = err * 60 / rows[-1][2] / BLOCK_S
    return {
        "readings": len(err_blocks),
        "tempo_agreed": abs(samples[-1][1].bpm - rows[-1][2]) < 0.01,
        "p99_blocks": round(float(np.percentile(err_blocks, 99)), 4),
        "max_blocks": round(float(err_blocks.max()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 bars each: does it run?")
    ap.add_argument("--bars", type=int, default=100)
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0, help="+- jitter of the clock sent")
    ap.add_argument("--no-link", action="store_true", help="only the MIDI clock")
    args = ap.parse_args(argv)
    bars = 4 if args.quick else args.bars
    result: dict = {"bars": bars, "bpm": args.bpm, "jitter_ms": args.jitter_ms,
                    "block_ms": round(BLOCK_S * 1000, 3)}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tool = tempo_rig.build_clock_tool(tmp)
        if tool is None:
            print(json.dumps({"error": "no C compiler (cc/gcc) for the clock sender"}))
            return 1
        try:
            with jack.private_server(RATE, BLOCK, tmp / "jackd.log", f"fq_tsync_{os.getpid()}"):
                result["midi_clock"] = midi_clock(tool, tmp, bars, args.bpm, args.jitter_ms)
        except jack.ServerError as exc:
            print(json.dumps({"error": str(exc)}))
            return 1
    if not args.no_link:
        try:
            import aalink  # noqa: F401

            result["link"] = link(bars, args.bpm)
        except ImportError:
            result["link"] = "aalink is not installed (pip install aalink)"
    m = result["midi_clock"]
    print(f"MIDI clock: p99 {m['p99_blocks']} blocks, max {m['max_blocks']} ({m['blocks']} blocks)")
    if isinstance(result.get("link"), dict):
        lk = result["link"]
        print(f"Link: p99 {lk['p99_blocks']} blocks, max {lk['max_blocks']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
