"""Benchmark a playing motion recording in the engine's chain: none, one lane, two lanes.

The engine's whole chain (``_dsp.Processor.process``, one call per block as the audio
callback makes it), stereo 48 kHz, Manual mode, the default 20 ms glide, with: no recording;
a recording of one target (band 2's frequency, a 1-beat loop, so the cascade glides all the
time); a recording of two (band 2's frequency and gain: a gesture's two lanes). The loops of
the three are interleaved (the order turning each round) so a busy machine slows them alike;
each figure is the best (minimum) time per block over the rounds.

Run from the repository root: ``python benchmarks/motion.py`` (a few seconds; ``--quick``:
under one, rough); ``--cases none,one_lane`` runs those alone (an older tree, before two
lanes, has only these: run it with ``PYTHONPATH=OLD`` to set two trees side by side). Prints
a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from time import perf_counter

import numpy as np

from floweq_tui import _dsp
from floweq_tui.automation.recorder import recording_controls
from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE, MOD_TARGETS, Controls

FS = 48000.0
BLOCKS = (32, 128, 1024)
CASES = ("none", "one_lane", "two_lanes")


def runner(frames: int, case: str) -> Callable[[int], float]:
    """A timed loop of ``n`` blocks of ``frames`` for one case; returns seconds."""
    ctl = CONTROL_DEFAULTS.copy()
    values: dict[str, float] = {"mode": 2, "bpm": 120}
    pts = list(0.5 + 0.4 * np.sin(np.linspace(0, 2 * np.pi, 128, endpoint=False)))
    if case == "one_lane":
        values |= recording_controls(pts, MOD_TARGETS.index("p6"), 1.0)
    elif case == "two_lanes":
        values |= recording_controls(
            pts, MOD_TARGETS.index("p6"), 1.0, points2=pts[::-1], target2=MOD_TARGETS.index("p5")
        )
    Controls(ctl).update(values)
    src = (0.25 * np.random.default_rng(7).standard_normal((frames, 2))).astype(np.float32)
    out = np.zeros_like(src)
    proc = _dsp.Processor(2, FS, frames, ctl, np.zeros(METERS_SIZE), (), (), wall_clock=False)
    process = proc.process
    for _ in range(64):
        process(src, out)

    def run(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            process(src, out)
        return perf_counter() - t0

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short loops (rough numbers)")
    ap.add_argument("--cases", default=",".join(CASES), help="which cases (comma-separated)")
    args = ap.parse_args()
    cases = tuple(c for c in CASES if c in args.cases.split(","))
    rounds, loop_s = (3, 0.2) if args.quick else (20, 2.0)  # loop_s: seconds of audio
    best: dict[str, float] = {}
    for frames in BLOCKS:
        runs = {c: runner(frames, c) for c in cases}
        n = max(int(loop_s * FS / frames), 10)
        for r in range(rounds):
            k = r % len(cases)
            order = cases[k:] + cases[:k]
            for c in order:
                t = runs[c](n) / n
                key = f"{c}@{frames}"
                best[key] = min(best.get(key, t), t)
    print("us per block (best of the rounds), stereo 48 kHz, Manual mode")
    two = "two_lanes" in cases and "one_lane" in cases
    print(f"{'frames':>6} " + "".join(f"{c:>12}" for c in cases) + (f"{'two/one':>10}" * two))
    ratios = {}
    for f in BLOCKS:
        row = [1e6 * best[f"{c}@{f}"] for c in cases]
        line = f"{f:>6} " + "".join(f"{v:>12.2f}" for v in row)
        if two:
            ratios[str(f)] = round(best[f"two_lanes@{f}"] / best[f"one_lane@{f}"], 3)
            line += f"{ratios[str(f)]:>10.3f}"
        print(line)
    out = {k: round(1e6 * v, 3) for k, v in best.items()}
    print(json.dumps({"us_per_block": out, "two_over_one": ratios}))


if __name__ == "__main__":
    main()
