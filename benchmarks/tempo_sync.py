"""Tempo sync accuracy: a synced modulator's cycle starts against a MIDI clock at 120 BPM from
another process, and against an Ableton Link peer. Last line: one JSON object.

Method. The engine runs on JACK (a private dummy server, 48 kHz, 128-frame blocks, unless
``--server NAME`` / ``--use-running``) with the MIDI service beside it; a 1/4 synced
modulator runs (its cycles start on every beat: the beat the engine computes is what places
them).

- MIDI clock: ``tests/harness/clocksend.c``, a C JACK client in another process, writes 24
  Clocks a beat at exact frames into the engine's virtual input and reports the
  CLOCK_MONOTONIC time of the frame each beat's Clock went out at (the reference), and the
  frames the server skipped for it since the Clock before (the sender counts the frames it
  runs, so it falls behind by them: when that happens right before a beat's Clock, the
  beat itself moved and no follower can foresee it; those beats are also reported apart).
- Link: a peer in this process (``aalink``) leads the session at 120 BPM; its beat line
  (read between two monotonic reads) is the reference, compared modulo the quantum (Link
  aligns phase, not beat numbers).

This script polls the meters block every ~2 ms: each read gives the engine's beat at a
block's start (``beat``) and that start (``heartbeat - callback_us``). For each beat k the
engine's cycle start is where its beat crosses k (interpolated between the two reads around
it, which lie on one straight beat line unless the anchor moved in between); the error is
that time minus the reference's beat k. Reported: the median, p99 and max of |error|, in
ms and in audio blocks (128 frames = 2.67 ms), over ``--bars`` bars (100: 400 beats, 200 s
per source). Not included: the modulator's own 64-sample evaluation grid (a cycle start
lands up to 64 samples, 1.3 ms, after the crossing, inside the same block) and the audio
device's output latency (constant, the same for every sound).

    python benchmarks/tempo_sync.py [--bars 100] [--source midi|link|both]
    python benchmarks/tempo_sync.py --quick    # 8 bars each: does it run?

Run it from the repository root after ``pip install '.[link]'``: it measures the installed
package (and takes its JACK helpers and the clock sender from ``tests/harness``).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

try:
    from floweq_tui import _dsp  # noqa: F401  (the installed package, compiled core included)
except ImportError as exc:
    sys.exit(f"tempo_sync: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness only

from harness import jack  # noqa: E402
from harness.clock import ClockSender  # noqa: E402

from floweq_tui.controls import NOTE_INDEX  # noqa: E402
from floweq_tui.engine import Engine, EngineConfig  # noqa: E402

BPM = 120.0
QUANTUM = 4.0


def sample(eng: Engine, seconds: float, extra=None) -> list[tuple[float, float, object]]:
    """(block start, engine beat, extra()) every ~2 ms for ``seconds`` (new blocks only)."""
    out: list[tuple[float, float, object]] = []
    meters = eng.meters
    end = time.monotonic() + seconds
    last = -1.0
    while time.monotonic() < end:
        m = meters.snapshot()
        if m["callbacks"] != last:
            last = m["callbacks"]
            out.append(
                (m["heartbeat"] - m["callback_us"] * 1e-6, m["beat"], extra() if extra else None)
            )
        time.sleep(0.002)
    return out


def crossings(samples: list[tuple[float, float, object]]) -> dict[int, float]:
    """Beat k -> the time the engine's beat crossed k (interpolated between two reads)."""
    out: dict[int, float] = {}
    for (t0, b0, _), (t1, b1, _) in zip(samples, samples[1:], strict=False):
        if b1 <= b0 or t1 - t0 > 0.05:  # (a jump or a gap: no line to interpolate on)
            continue
        k = int(b0) + 1 if b0 != int(b0) else int(b0)
        while k <= b1:
            if k >= b0:
                out[k] = t0 + (k - b0) / (b1 - b0) * (t1 - t0)
            k += 1
    return out


def summary(errors_s: list[float], block_s: float) -> dict[str, float]:
    a = sorted(abs(e) for e in errors_s)
    if not a:
        return {"n": 0}
    p99 = a[min(len(a) - 1, int(round(0.99 * (len(a) - 1))))]
    return {
        "n": len(a),
        "median_ms": round(statistics.median(a) * 1e3, 3),
        "p99_ms": round(p99 * 1e3, 3),
        "max_ms": round(a[-1] * 1e3, 3),
        "p99_blocks": round(p99 / block_s, 3),
        "mean_signed_ms": round(statistics.fmean(errors_s) * 1e3, 3),
        "within_one_block": sum(1 for e in a if e <= block_s) / len(a),
    }


def measure_midi(eng: Engine, seconds: float, block_s: float) -> dict[str, object]:
    eng.controls["tempo_source"] = 1.0
    port = eng.midi.status().virtual.port
    sender = ClockSender(f"bench-clock-{os.getpid()}", BPM, port)
    try:
        sender.send("start")
        sender.wait_beat(8)  # settle: the follower's window (4 beats) filled
        samples = sample(eng, seconds)
        sender.wait_beat(max(sender.beats))
        time.sleep(0.2)
        ref = dict(sender.beats)
        skipped = dict(sender.skipped)
    finally:
        sender.close()
    cross = crossings(samples)
    errors = [cross[k] - ref[k] for k in cross if k in ref]
    # beats whose own Clock the sender sent late (the server skipped its frames since the Clock
    # before: its phase moved right at the beat, which no follower can foresee)
    on_time = [cross[k] - ref[k] for k in cross if k in ref and not skipped.get(k)]
    ks = sorted(ref)
    real_bpm = 60.0 * (ks[-1] - ks[0]) / (ref[ks[-1]] - ref[ks[0]]) if len(ks) > 1 else 0.0
    return {
        "source": "midi", "clock_bpm_wallclock": round(real_bpm, 3), **summary(errors, block_s),
        "sender_late_beats": len(errors) - len(on_time),
        "on_time_beats": summary(on_time, block_s),
    }  # fmt: skip


def measure_link(eng: Engine, seconds: float, block_s: float) -> dict[str, object]:
    try:
        import aalink
    except ImportError as exc:
        return {"source": "link", "error": f"aalink is not installed: {exc}"}
    loop = asyncio.new_event_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        peer = aalink.Link(BPM, loop)
    peer.quantum = QUANTUM
    peer.enabled = True
    try:
        eng.controls["tempo_source"] = 2.0
        deadline = time.monotonic() + 20
        while peer.num_peers < 1 or abs(eng.meters["bpm_now"] - BPM) > 0.01:
            if time.monotonic() > deadline:
                return {"source": "link", "error": "the engine's Link peer did not join"}
            peer.tempo = BPM
            time.sleep(0.05)
        time.sleep(2.0)

        def peer_line() -> tuple[float, float]:
            a = time.monotonic()
            b = float(peer.beat)
            return (a + time.monotonic()) / 2, b

        samples = sample(eng, seconds, peer_line)
    finally:
        peer.enabled = False
        loop.close()
    errors = []
    bps = BPM / 60.0
    cross = crossings(samples)
    # the peer's beat at each crossing, from the read nearest to it (its line is straight)
    times = [s[0] for s in samples]
    for k, t in cross.items():
        i = min(bisect.bisect_left(times, t), len(samples) - 1)
        tp, bp = samples[i][2]  # type: ignore[misc]
        peer_beat = bp + (t - tp) * bps
        d = (k - peer_beat) % QUANTUM
        d = d if d < QUANTUM / 2 else d - QUANTUM
        errors.append(-d / bps)  # >0: the engine's cycle started after the peer's beat
    return {"source": "link", **summary(errors, block_s)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=100)
    ap.add_argument("--source", choices=("midi", "link", "both"), default="both")
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--quick", action="store_true", help="8 bars each: does it run?")
    jack.add_server_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.bars = 8
    tmp = tempfile.mkdtemp(prefix="floweq-tempo-bench-")
    log = Path(tmp) / "jackd.log"
    try:
        with jack.benchmark_server(args, args.samplerate, args.blocksize, log, "tempobench"):
            return measure(args, tmp)
    except jack.ServerError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1


def measure(args: argparse.Namespace, tmp: str) -> int:
    cfg = EngineConfig(
        samplerate=args.samplerate, blocksize=args.blocksize, midi=True, midi_api="jack",
        midi_in="none", midi_out="none", midi_config=os.path.join(tmp, "midi.toml"),
    )  # fmt: skip
    lfo = {"lfo1_on": 1, "lfo1_target": 0, "lfo1_sync": 1, "lfo1_note": NOTE_INDEX["1/4"]}
    eng = Engine(cfg, tempo_source=1.0, **lfo)
    results: list[dict[str, object]] = []
    try:
        eng.start()
        if "JACK" not in eng.status.hostapi:
            print(json.dumps({"error": f"the engine is not on JACK ({eng.status.device})"}))
            return 1
        deadline = time.monotonic() + 20
        while not eng.midi.status().virtual.port:
            if time.monotonic() > deadline:
                print(json.dumps({"error": "the MIDI service's virtual port did not open"}))
                return 1
            time.sleep(0.05)
        block_s = args.blocksize / eng.status.samplerate
        seconds = args.bars * 4 * 60.0 / BPM
        xruns0 = eng.meters["xruns"]
        if args.source in ("midi", "both"):
            results.append(measure_midi(eng, seconds, block_s))
        if args.source in ("link", "both"):
            results.append(measure_link(eng, seconds, block_s))
        xruns = int(eng.meters["xruns"] - xruns0)
    finally:
        eng.stop()
    for r in results:
        if "error" in r:
            print(f"{r['source']:>5}: {r['error']}")
            continue
        print(
            f"{r['source']:>5}: {r['n']} cycle starts, |error| median {r['median_ms']} ms, "
            f"p99 {r['p99_ms']} ms ({r['p99_blocks']} blocks), max {r['max_ms']} ms, "
            f"within one block {100 * r['within_one_block']:.1f}%"  # type: ignore[operator]
        )
        if "on_time_beats" in r:
            o = r["on_time_beats"]
            print(
                f"       without the {r['sender_late_beats']} beats the sender itself sent late: "
                f"p99 {o.get('p99_ms')} ms ({o.get('p99_blocks')} blocks), max {o.get('max_ms')} "
                f"ms, within one block {100 * o.get('within_one_block', 0):.1f}%"  # type: ignore
            )
    print(json.dumps({
        "benchmark": "tempo_sync", "bars": args.bars, "bpm": BPM,
        "samplerate": args.samplerate, "blocksize": args.blocksize, "xruns": xruns,
        "machine": platform.machine(), "cpus": os.cpu_count(), "results": results,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
