"""What A/B costs the audio callback: the engine's Processor with A/B off, armed, and armed
with the loudness match, side by side in one run.

Stereo, 48 kHz, 128-frame blocks of noise, Manual mode with every band active; the other
slot a different setting. Each figure is the best (minimum) time per block of several timed
loops, the three variants interleaved so a busy machine slows them alike; reported in
microseconds and as ratios to A/B off.

Run from the repository root after ``pip install .``: ``python benchmarks/ab.py`` (about
10 s); ``--quick`` for short loops (rough numbers: checks that it runs). The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from time import perf_counter

import numpy as np

FS, CHANNELS, BLOCK = 48000, 2, 128
A = {"mode": 2, "p0": 4.0, "p2": -3.0, "p3": 400.0, "p5": 5.0, "p8": -6.0, "p11": 3.0}
B = {"p0": -4.0, "p2": 6.0, "p5": -2.0, "p8": 3.0, "p11": -5.0}


def make(variant: str):
    from floweq_tui import _dsp, ab
    from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE, Controls

    ctl = CONTROL_DEFAULTS.copy()
    c = Controls(ctl)
    c.update(A)
    if variant != "off":
        ab.copy_to_other(c)
        c.update({f"ab_{k}": v for k, v in B.items()})
        c["ab_match"] = 1 if variant == "matched" else 0
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(CHANNELS, float(FS), BLOCK, ctl, met, (), (), wall_clock=False)
    return proc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short loops: a few seconds")
    args = ap.parse_args(argv)
    loops, per_loop = (3, 200) if args.quick else (15, 2000)
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((BLOCK, CHANNELS))).astype(np.float32)
    out = np.empty_like(x)
    variants = ("off", "armed", "matched")
    procs = {v: make(v) for v in variants}
    for p in procs.values():  # warm up (the A/B cascade starts on the first block)
        for _ in range(50):
            p.process(x, out)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(loops):
        for v in variants:
            p = procs[v]
            t0 = perf_counter()
            for _ in range(per_loop):
                p.process(x, out)
            best[v] = min(best[v], (perf_counter() - t0) / per_loop)
    us = {v: best[v] * 1e6 for v in variants}
    block_us = BLOCK / FS * 1e6
    print(f"Processor, {CHANNELS} ch, {FS} Hz, {BLOCK}-frame blocks ({block_us:.0f} us each)")
    for v in variants:
        print(f"  A/B {v:8s} {us[v]:7.2f} us/block  {us[v] / us['off']:5.2f}x off  "
              f"{block_us / us[v]:7.0f}x real time")  # fmt: skip
    result = {
        "us_off": us["off"],
        "us_armed": us["armed"],
        "us_matched": us["matched"],
        "ratio_armed": us["armed"] / us["off"],
        "ratio_matched": us["matched"] / us["off"],
        "quick": args.quick,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
