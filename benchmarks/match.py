"""Match a reference: known answers and speed (targets: median curve error <= 1 dB, a 5 s
reference matched in <= 200 ms).

Known answers: the piano from ../shared (the demo loop when it is absent) EQ'd with N seeded
SAFE-DB settings (from ../shared; random in-range settings when it is absent) and matched
against the original; the recovered curve's mean absolute error from 50 Hz to 15 kHz (level
aligned, as the match normalises loudness) for the parameter fit, the latent fit and a flat
EQ. Speed: the whole match (spectra, both fits) of a 5 s input against a 5 s reference,
in CPU time (the process's own, so other load on a shared machine does not count; the wall
time and the load average are printed beside it), next to a fixed NumPy workload measured
in the same run (``ratio``: match / workload, so a slower machine can be compared). Prints
one JSON object as its last line. Run from the repository root after ``pip install .`` (it
measures the installed package; one BLAS thread, so the CPU time is the match's own):

    OMP_NUM_THREADS=1 python benchmarks/match.py   # 50 settings, 20 timed matches
    python benchmarks/match.py --quick      # 4 settings, 3 timed matches: does it run?
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PIANO = SHARED / "data" / "audio" / "piano_flowEQ_demo.flac"
SAFE = SHARED / "data" / "safe" / "SAFEEqualiserUserData.csv"


def _workload() -> float:
    """A fixed NumPy job (FFTs and products of a match's size): CPU seconds, best of 3."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16384))
    best = np.inf
    for _ in range(3):
        t = time.process_time()
        for _ in range(4):
            np.abs(np.fft.rfft(x * np.hanning(16384), axis=1)) ** 2
        best = min(best, time.process_time() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50, help="SAFE-DB settings (default 50)")
    ap.add_argument("--repeats", type=int, default=20, help="timed matches (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 settings, 3 timed matches")
    args = ap.parse_args(argv)
    rows, repeats = (4, 3) if args.quick else (args.rows, args.repeats)
    try:
        from scipy.signal import sosfilt

        from floweq_tui import eqmath, match, params, sources
    except ImportError as exc:
        sys.exit(f"match: needs the installed floweq_tui ({exc}): run `pip install .` first")

    if PIANO.is_file():
        import soundfile as sf

        x, fs = sf.read(str(PIANO), always_2d=True)
        audio = "piano_flowEQ_demo.flac"
    else:
        fs, audio = 44100, "demo loop (../shared absent)"
        x = sources.demo_source(fs, 2, seconds=5.0).astype(np.float64)
    rng = np.random.default_rng(args.seed)
    if SAFE.is_file():
        from floweq_tui.training.safedb import load_safe

        data = load_safe(SAFE)
        settings = data.params[rng.choice(len(data), rows, replace=False)]
        source = f"SAFE-DB rows, seed {args.seed}"
    else:
        u = rng.uniform(size=(rows, params.N_PARAMS))
        settings = params.sort_bands(params.MINS + u * (params.MAXS - params.MINS))
        source = f"random settings, seed {args.seed} (../shared absent)"
    model = match.load_model()

    errs: dict[str, list[float]] = {"params": [], "latent": [], "flat": []}
    for p in settings:
        res = match.match(x, fs, sosfilt(eqmath.design(p, fs), x, axis=0), fs, model=model)
        m = (res.freqs >= 50.0) & (res.freqs <= 15000.0)
        true = eqmath.response_db(p, res.freqs, fs)
        for key, rec in (
            ("params", eqmath.response_db(res.params.params, res.freqs, fs)),
            ("latent", eqmath.response_db(res.latent.params, res.freqs, fs)),
            ("flat", np.zeros_like(true)),
        ):
            d = (rec - true)[m]
            errs[key].append(float(np.mean(np.abs(d - d.mean()))))

    five = x[: int(5 * fs)]
    ref = sosfilt(eqmath.design(settings[0], fs), five, axis=0)
    match.match(five, fs, ref, fs, model=model)  # warm up
    times, cpu, phases = [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = match.match(five, fs, ref, fs, model=model)
        cpu.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
        phases.append(res.seconds)
    work = _workload()
    med = float(np.median(cpu))
    # phases are wall time (from MatchResult.seconds)
    phase = {k: round(1e3 * float(np.median([p[k] for p in phases])), 1) for k in phases[0]}

    def stats(v: list[float]) -> dict[str, float]:
        return {
            "median": round(float(np.median(v)), 3),
            "p90": round(float(np.percentile(v, 90)), 3),
            "max": round(float(np.max(v)), 3),
        }

    print(
        json.dumps(
            {
                "audio": audio,
                "settings": source,
                "rows": int(rows),
                "curve_mae_db": {k: stats(v) for k, v in errs.items()},
                "target_mae_db": 1.0,
                "match_cpu_ms_median": round(1e3 * med, 1),
                "match_cpu_ms_max": round(1e3 * max(cpu), 1),
                "match_wall_ms_median": round(1e3 * float(np.median(times)), 1),
                "load_average": round(os.getloadavg()[0], 2),
                "phases_wall_ms_median": phase,
                "workload_ms": round(1e3 * work, 1),
                "ratio": round(med / work, 2),
                "target_ms": 200,
                "model": model.name,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
