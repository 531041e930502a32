"""What the input history costs: the audio callback's write, side by side without it, and
the reader's copy of the last seconds (what the live-input match does at its key press).

Writer: the engine's Processor per 128-frame stereo block at 48 kHz (noise, Manual mode,
every band active) with no history and with a 30 s history, interleaved in one run; each
figure is the best (minimum) time per block of several timed loops. Reader:
``History.last`` of 5 s and of 30 s from a full 30 s history, the best of several copies,
against a plain NumPy copy of as many float32 samples (the floor for any reader).

Run from the repository root after ``pip install .``: ``python benchmarks/history.py``
(about 10 s); ``--quick`` for short loops (rough numbers: checks that it runs). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from time import perf_counter

import numpy as np

FS, CHANNELS, BLOCK, SECONDS = 48000, 2, 128, 30.0
SETTING = {"mode": 2, "p0": 4.0, "p2": -3.0, "p3": 400.0, "p5": 5.0, "p8": -6.0, "p11": 3.0}


def make(history):
    from floweq_tui import _dsp
    from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE, Controls

    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update(SETTING)
    return _dsp.Processor(
        CHANNELS, float(FS), BLOCK, ctl, np.zeros(METERS_SIZE), (), (), wall_clock=False,
        history=None if history is None else history.array,
    )  # fmt: skip


def best_of(fn, loops: int) -> float:
    best = float("inf")
    for _ in range(loops):
        t0 = perf_counter()
        fn()
        best = min(best, perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    from floweq_tui.controls import History, history_frames, history_size

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short loops: a few seconds")
    args = ap.parse_args(argv)
    loops, per_loop, copies = (3, 200, 3) if args.quick else (15, 2000, 20)
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((BLOCK, CHANNELS))).astype(np.float32)
    out = np.empty_like(x)
    history = History.empty(SECONDS, FS)
    procs = {"off": make(None), "on": make(history)}
    for p in procs.values():
        for _ in range(50):
            p.process(x, out)
    best = dict.fromkeys(procs, float("inf"))
    for _ in range(loops):
        for v, p in procs.items():
            t0 = perf_counter()
            for _ in range(per_loop):
                p.process(x, out)
            best[v] = min(best[v], (perf_counter() - t0) / per_loop)
    # fill the history (and wrap it) so a read copies across the wrap like a running engine's
    p = procs["on"]
    for _ in range(int(1.3 * SECONDS * FS) // BLOCK - history.written // BLOCK):
        p.process(x, out)
    us = {v: best[v] * 1e6 for v in best}
    block_us = BLOCK / FS * 1e6
    reads = {}
    for secs in (5.0, SECONDS):
        n = int(secs * FS)
        got = history.last(n)
        assert len(got) == n, (len(got), n)
        plain = np.ones(n, np.float32)  # written pages, as the ring's
        reads[secs] = (
            best_of(lambda n=n: history.last(n), copies) * 1e3,
            best_of(lambda plain=plain: plain.copy(), copies) * 1e3,
        )
    mb = history_size(history_frames(SECONDS, FS)) * 8 / 1e6
    print(f"Processor, {CHANNELS} ch, {FS} Hz, {BLOCK}-frame blocks ({block_us:.0f} us each)")
    for v in procs:
        print(f"  history {v:3s} {us[v]:7.2f} us/block  {us[v] / us['off']:5.3f}x off  "
              f"{block_us / us[v]:7.0f}x real time")  # fmt: skip
    print(f"History of {SECONDS:g} s at {FS} Hz: {mb:.2f} MB of shared memory")
    for secs, (ms, floor) in reads.items():
        print(f"  last {secs:4g} s: {ms:6.2f} ms per read ({floor:5.2f} ms for a plain copy)")
    result = {
        "us_off": us["off"],
        "us_on": us["on"],
        "ratio_on": us["on"] / us["off"],
        "read_5s_ms": reads[5.0][0],
        "read_30s_ms": reads[SECONDS][0],
        "copy_30s_ms": reads[SECONDS][1],
        "megabytes": mb,
        "quick": args.quick,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
