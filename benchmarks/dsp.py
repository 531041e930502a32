"""Benchmark the DSP core side by side with scipy and pedalboard, in one run.

Stereo, 48 kHz, block sizes 32-1024 frames, one fixed seeded EQ setting (all five bands
active, every gain nonzero). Reported speed is x real time = block duration / time per block,
the best (minimum) of several timed loops of ~0.2 s each; the loops of all methods are
interleaved so a busy machine slows them alike. Also times the C decoder and the full control
update (latent point -> 13 parameters -> coefficients) against a NumPy decoder, and checks
that silence after loud audio costs no more than audio (no denormal slowdown).

Run from the repository root after ``pip install .``: ``python benchmarks/dsp.py`` (about
35 s). It measures the installed package, never the source tree. ``--quick`` does every step
with short loops (a few seconds; the numbers are rough: for checking that it runs). Prints a
table, PASS/MISS lines for the targets, and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from types import ModuleType

import numpy as np

FS = 48000.0
CHANNELS = 2
REF_BLOCK = 128
SEED = 2024
CHUNK = 32
"""floweq variants process one block CHUNK times per timed call, then the block is refilled
and the histories cleared (untimed): the block is filtered in place, so without a refill the
output would be fed back as input and grow without bound."""
HIDDEN = 1024
LATENT = 2

TARGETS = {
    "floweq_x": 1500.0,
    "floweq_vs_scipy": 30.0,
    "floweq_vs_pedalboard": 6.0,
    "floweq_glide_x": 500.0,
    "decoder_us": 3.0,
    "update_us": 5.0,
    "glide_over_constant": 2.0,
    "modulated_over_constant": 2.0,
}
MODULATORS = (("p6", "sine", 5.0), ("p5", "square", 20.0), ("p9", "sample_hold", 10.0))
"""The engine_mod case: three modulators on band 2's frequency and gain and band 3's
frequency (Manual mode), so every 64 samples a new target goes through the glide."""

# A timed loop: run(n) processes about n blocks and returns (seconds, blocks done).
Runner = Callable[[int], tuple[float, int]]


@dataclass(frozen=True)
class Plan:
    """How much to measure: block sizes, timed loops per figure and their length."""

    blocks: tuple[int, ...] = (32, 64, 128, 256, 1024)
    reps: int = 5
    loop_s: float = 0.2
    denormal_reps: int = 20


QUICK = Plan(blocks=(32, REF_BLOCK), reps=1, loop_s=0.01, denormal_reps=1)


def import_floweq() -> tuple[ModuleType, ModuleType, ModuleType]:
    """The installed package (exits with a one-line message when it is not installed)."""
    try:
        from floweq_tui import _dsp, eqmath, params
    except ImportError as exc:
        sys.exit(
            f"floweq_tui with its compiled core is not importable ({exc}): run `pip install .`"
        )
    return _dsp, eqmath, params


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def make_settings(params: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """Two seeded settings, all gains nonzero (3-9 dB), the second with every gain flipped."""
    rng = np.random.default_rng(SEED)
    out = []
    signs = rng.choice([-1.0, 1.0], size=params.N_BANDS)
    for flip in (1.0, -1.0):
        p = np.empty(params.N_PARAMS)
        for b in range(params.N_BANDS):
            p[params.GAIN_INDEX[b]] = flip * signs[b] * rng.uniform(3.0, 9.0)
            fi = params.FREQ_INDEX[b]
            lo, hi = params.MINS[fi] * 1.2, params.MAXS[fi] / 1.2
            p[fi] = np.exp(rng.uniform(np.log(lo), np.log(hi)))
            qi = params.Q_INDEX[b]
            if qi is not None:
                p[qi] = np.exp(rng.uniform(np.log(0.5), np.log(4.0)))
        out.append(p)
    return out[0], out[1]


def describe(params: ModuleType, setting: np.ndarray) -> str:
    parts = []
    for kind, gain, freq, q in params.band_params(setting):
        parts.append(
            f"{kind} {gain:+.1f} dB {freq:.0f} Hz" + (f" Q {q:.2f}" if kind == "peak" else "")
        )
    return "; ".join(parts)


def noise(frames: int, amplitude: float = 0.25, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal((frames, CHANNELS))).astype(np.float32)


# ------------------------------------------------------------------------------ runners


def floweq_runner(
    dsp: ModuleType,
    src: np.ndarray,
    setting: np.ndarray,
    other: np.ndarray | None = None,
    per_call: bool = False,
) -> Runner:
    """The core: bench_cascade (one C call per block, no GIL), or Cascade.process from Python.

    With ``other``, a new target is set before every block, alternating between the two
    settings, so the cascade never stops gliding.
    """
    cas = dsp.Cascade(CHANNELS, FS, params=setting)
    block = src.copy()
    process = cas.process
    bench = dsp.bench_cascade
    extra = () if other is None else (setting, other)

    def run(n: int) -> tuple[float, int]:
        chunks = max(1, n // CHUNK)
        total = 0.0
        for _ in range(chunks):
            cas.reset()
            np.copyto(block, src)
            if per_call:
                t0 = perf_counter()
                for _ in range(CHUNK):
                    process(block)
                total += perf_counter() - t0
            else:
                t0 = perf_counter()
                bench(cas, block, CHUNK, *extra)
                total += perf_counter() - t0
        if cas.nan_resets or not np.all(np.isfinite(block)):
            print(
                f"warning: floweq blew up in the timing loop ({cas.nan_resets} resets)",
                file=sys.stderr,
            )
        return total, chunks * CHUNK

    return run


def engine_runner(
    dsp: ModuleType, src: np.ndarray, setting: np.ndarray, modulated: bool = False
) -> Runner:
    """The engine's whole chain (``_dsp.Processor.process``, one Python call per block, as the
    audio callback makes it) on ``setting`` in Manual mode with the default 20 ms glide; with
    ``modulated``, the MODULATORS run, so the cascade glides all the time."""
    from floweq_tui.controls import (
        CONTROL_DEFAULTS,
        METERS_SIZE,
        MOD_SHAPES,
        MOD_TARGETS,
        Controls,
    )

    ctl = CONTROL_DEFAULTS.copy()
    values: dict[str, float] = {"mode": 2, **{f"p{i}": float(v) for i, v in enumerate(setting)}}
    if modulated:
        for k, (target, shape, rate) in enumerate(MODULATORS, start=1):
            values |= {
                f"lfo{k}_on": 1,
                f"lfo{k}_target": MOD_TARGETS.index(target),
                f"lfo{k}_shape": MOD_SHAPES.index(shape),
                f"lfo{k}_rate": rate,
                f"lfo{k}_depth": 0.3,
            }
    Controls(ctl).update(values)
    frames = len(src)
    proc = dsp.Processor(CHANNELS, FS, frames, ctl, np.zeros(METERS_SIZE), (), (), wall_clock=False)
    out = np.zeros_like(src)
    process = proc.process
    for _ in range(64):
        process(src, out)

    def run(n: int) -> tuple[float, int]:
        t0 = perf_counter()
        for _ in range(n):
            process(src, out)
        return perf_counter() - t0, n

    return run


def scipy_runner(eqmath: ModuleType, src: np.ndarray, setting: np.ndarray) -> Runner:
    """scipy.signal.sosfilt with zi carried across blocks, float32 -> float64 -> float32."""
    from scipy.signal import sosfilt

    sos = eqmath.design(setting, FS)
    zi = np.zeros((sos.shape[0], 2, CHANNELS))
    block = src.copy()

    def run(n: int) -> tuple[float, int]:
        nonlocal zi
        z = zi
        t0 = perf_counter()
        for _ in range(n):
            y, z = sosfilt(sos, block.astype(np.float64), axis=0, zi=z)
            y.astype(np.float32)
        elapsed = perf_counter() - t0
        zi = z
        return elapsed, n

    return run


def make_board(params: ModuleType, setting: np.ndarray):
    import pedalboard

    kinds = {
        "lowshelf": pedalboard.LowShelfFilter,
        "peak": pedalboard.PeakFilter,
        "highshelf": pedalboard.HighShelfFilter,
    }
    return pedalboard.Pedalboard(
        [
            kinds[kind](cutoff_frequency_hz=freq, gain_db=gain, q=q)
            for kind, gain, freq, q in params.band_params(setting)
        ]
    )


def pedalboard_runner(params: ModuleType, src: np.ndarray, setting: np.ndarray) -> Runner:
    """pedalboard's LowShelf/Peak x3/HighShelf chain, reset=False, native (channels, frames)."""
    board = make_board(params, setting)
    block = np.ascontiguousarray(src.T)

    def run(n: int) -> tuple[float, int]:
        t0 = perf_counter()
        for _ in range(n):
            board(block, FS, reset=False)
        return perf_counter() - t0, n

    return run


def best_per_block(
    runners: dict[tuple[str, int], Runner], plan: Plan
) -> dict[tuple[str, int], float]:
    """Seconds per block, min over plan.reps loops of ~plan.loop_s each, runners interleaved."""
    counts = {}
    for key, run in runners.items():
        run(CHUNK)  # warm up
        t, done = run(4 * CHUNK)
        per = max(t / done, 1e-9)
        counts[key] = max(CHUNK, int(plan.loop_s / per))
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(plan.reps):
        for key, run in runners.items():
            t, done = run(counts[key])
            best[key] = min(best[key], t / done)
    return best


# ------------------------------------------------------------------------------ decoder


def time_call(fn: Callable[[int], object], plan: Plan) -> float:
    """Seconds per repeat of fn(repeats), min over plan.reps loops of ~plan.loop_s."""
    fn(100)
    t0 = perf_counter()
    fn(1000)
    per = max((perf_counter() - t0) / 1000, 1e-9)
    n = max(1000, int(plan.loop_s / per))
    best = float("inf")
    for _ in range(plan.reps):
        t0 = perf_counter()
        fn(n)
        best = min(best, (perf_counter() - t0) / n)
    return best


def decoder_weights() -> tuple[np.ndarray, ...]:
    """Seeded random decoder weights of the real shape (PyTorch Linear init ranges)."""
    rng = np.random.default_rng(SEED)
    k1, k2 = 1.0 / np.sqrt(LATENT), 1.0 / np.sqrt(HIDDEN)
    w1 = rng.uniform(-k1, k1, (HIDDEN, LATENT)).astype(np.float32)
    b1 = rng.uniform(-k1, k1, HIDDEN).astype(np.float32)
    w2 = rng.uniform(-k2, k2, (13, HIDDEN)).astype(np.float32)
    b2 = rng.uniform(-k2, k2, 13).astype(np.float32)
    return w1, b1, w2, b2


LATENT_POINT = np.array([0.3, -0.7])


def decoder_times(dsp: ModuleType, plan: Plan) -> dict[str, float]:
    """C decoder, C control update and NumPy decoder, random weights of the real shape."""
    w1, b1, w2, b2 = decoder_weights()
    dec = dsp.Decoder(w1, b1, w2, b2)
    z = LATENT_POINT

    w1d, b1d, w2d, b2d = (a.astype(np.float64) for a in (w1, b1, w2, b2))

    def np_forward(zz: np.ndarray) -> np.ndarray:
        h = np.maximum(w1d @ zz + b1d, 0.0)
        return 1.0 / (1.0 + np.exp(-(w2d @ h + b2d)))

    diff = float(np.abs(dec.forward(z) - np_forward(z)).max())

    def np_loop(n: int) -> None:
        for _ in range(n):
            np_forward(z)

    return {
        "decoder_us": 1e6 * time_call(lambda n: dsp.bench_decode(dec, z, n), plan),
        "update_us": 1e6 * time_call(lambda n: dsp.bench_control_update(dec, z, FS, n), plan),
        "numpy_decoder_us": 1e6 * time_call(np_loop, plan),
        "decoder_max_diff": diff,
    }


# ------------------------------------------------------------------------------ denormals


def denormal_check(dsp: ModuleType, setting: np.ndarray, reps: int = 20) -> dict[str, float]:
    """Time per 128-frame block: 1 s of silence right after 2 s of loud noise vs 1 s of noise.

    Each block is processed once (views of one long buffer, no feedback), timed as one loop.
    """
    fs = int(FS)
    loud = noise(2 * fs, amplitude=1.0, seed=SEED + 1)
    buf = np.concatenate([loud, np.zeros((fs, CHANNELS), np.float32)])
    n = REF_BLOCK
    best_audio = best_silence = float("inf")
    state_zero = True
    for _ in range(reps):
        work = buf.copy()
        views = [work[i : i + n] for i in range(0, len(work) - n + 1, n)]
        first, audio, silence = views[: fs // n], views[fs // n : 2 * fs // n], views[2 * fs // n :]
        cas = dsp.Cascade(CHANNELS, FS, params=setting)
        process = cas.process
        for v in first:
            process(v)
        t0 = perf_counter()
        for v in audio:
            process(v)
        t1 = perf_counter()
        for v in silence:
            process(v)
        t2 = perf_counter()
        best_audio = min(best_audio, (t1 - t0) / len(audio))
        best_silence = min(best_silence, (t2 - t1) / len(silence))
        state_zero = state_zero and not np.any(cas.state)
    return {
        "audio_us": 1e6 * best_audio,
        "silence_us": 1e6 * best_silence,
        "ratio": best_silence / best_audio,
        "state_zero": float(state_zero),
    }


# ------------------------------------------------------------------------------ against


def load_core(path: str) -> ModuleType:
    """Another build of the core (a floweq_tui._dsp extension file), beside the installed one."""
    spec = importlib.util.spec_from_file_location("floweq_tui._dsp", path)
    if spec is None or spec.loader is None or not Path(path).is_file():
        sys.exit(f"not a compiled floweq_tui._dsp: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def c_paths(dsp: ModuleType, setting: np.ndarray, other: np.ndarray) -> dict[str, Runner]:
    """The core's C paths as runners: the cascade (steady and gliding) and the control path."""
    dec = dsp.Decoder(*decoder_weights())
    z = LATENT_POINT

    def calls(fn: Callable[[int], object]) -> Runner:
        def run(n: int) -> tuple[float, int]:
            t0 = perf_counter()
            fn(n)
            return perf_counter() - t0, n

        return run

    src = noise(REF_BLOCK)
    return {
        f"cascade @{REF_BLOCK}": floweq_runner(dsp, src, setting),
        f"glide @{REF_BLOCK}": floweq_runner(dsp, src, setting, other),
        "decoder": calls(lambda n: dsp.bench_decode(dec, z, n)),
        "control update": calls(lambda n: dsp.bench_control_update(dec, z, FS, n)),
    }


def against(dsp: ModuleType, params: ModuleType, path: str, plan: Plan) -> int:
    """Time the installed core and another build side by side, in this one process.

    Both run the same C paths with their timed loops interleaved (the order flipping each
    round), so a busy machine slows both alike; the ratio installed / other is what counts.
    """
    other_dsp = load_core(path)
    setting, other = make_settings(params)
    mine, theirs = c_paths(dsp, setting, other), c_paths(other_dsp, setting, other)
    runners = {(name, "installed"): run for name, run in mine.items()}
    runners |= {(name, "other"): run for name, run in theirs.items()}
    counts = {}
    for key, run in runners.items():
        run(CHUNK)
        t, done = run(4 * CHUNK)
        counts[key] = max(CHUNK, int(plan.loop_s / max(t / done, 1e-9)))
    best = dict.fromkeys(runners, float("inf"))
    for r in range(3 * plan.reps):
        for name in mine:
            for tag in ("installed", "other") if r % 2 == 0 else ("other", "installed"):
                t, done = runners[name, tag](counts[name, tag])
                best[name, tag] = min(best[name, tag], t / done)
    print(f"installed: {Path(dsp.__file__)}")
    print(f"other:     {Path(other_dsp.__file__)}")
    print(f"{'us per call':<16}{'installed':>11}{'other':>11}{'ratio':>8}")
    ratios = {}
    for name in mine:
        a, b = best[name, "installed"], best[name, "other"]
        ratios[name] = round(a / b, 3)
        print(f"{name:<16}{1e6 * a:>11.3f}{1e6 * b:>11.3f}{a / b:>8.3f}")
    print(json.dumps({"time_ratio_installed_to_other": ratios, "quick": plan is QUICK}))
    return 0


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short loops, two block sizes: a few seconds"
    )
    parser.add_argument(
        "--against",
        metavar="CORE",
        help="another build of the core (a _dsp*.so, e.g. a previous commit's): time its C "
        "paths side by side with the installed one's, interleaved in this process",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    dsp, eqmath, params = import_floweq()
    if args.against:
        return against(dsp, params, args.against, plan)
    try:
        import pedalboard
    except ImportError:
        pedalboard = None
        print(
            "note: pedalboard is not installed; its column is skipped "
            "(pip install 'floweq-tui[bench]')",
            file=sys.stderr,
        )
    import scipy

    setting, other = make_settings(params)
    print(f"machine: {machine()}")
    versions = f"numpy {np.__version__}, scipy {scipy.__version__}"
    if pedalboard is not None:
        versions += f", pedalboard {pedalboard.__version__}"
    print(f"versions: {versions}; core: {Path(dsp.__file__).name}")
    print(f"setting:         {describe(params, setting)}")
    print(f"glide also uses: {describe(params, other)}")

    # Same work: the core's output against scipy (float64) and pedalboard (float32).
    x = noise(int(FS), seed=SEED + 2)
    ours = x.copy()
    dsp.Cascade(CHANNELS, FS, params=setting).process(ours)
    from scipy.signal import sosfilt

    ref = sosfilt(eqmath.design(setting, FS), x.astype(np.float64), axis=0)
    check = f"same output: max |floweq - scipy| = {np.abs(ours - ref).max():.1e}"
    if pedalboard is not None:
        pb = make_board(params, setting)(np.ascontiguousarray(x.T), FS).T
        check += f", max |floweq - pedalboard| = {np.abs(ours - pb).max():.1e}"
    print(check + " (signal RMS 0.25)")

    methods = ["floweq", "floweq_py", "floweq_glide", "engine", "engine_mod", "scipy"]
    if pedalboard is not None:
        methods.append("pedalboard")
    runners: dict[tuple[str, int], Runner] = {}
    for frames in plan.blocks:
        src = noise(frames)
        runners["floweq", frames] = floweq_runner(dsp, src, setting)
        runners["floweq_py", frames] = floweq_runner(dsp, src, setting, per_call=True)
        runners["floweq_glide", frames] = floweq_runner(dsp, src, setting, other)
        runners["engine", frames] = engine_runner(dsp, src, setting)
        runners["engine_mod", frames] = engine_runner(dsp, src, setting, modulated=True)
        runners["scipy", frames] = scipy_runner(eqmath, src, setting)
        if pedalboard is not None:
            runners["pedalboard", frames] = pedalboard_runner(params, src, setting)
    per_block = best_per_block(runners, plan)

    xrt: dict[str, dict[str, float | None]] = {}
    for m in ("floweq", "floweq_glide", "floweq_py", "engine", "engine_mod", "scipy", "pedalboard"):
        xrt[m] = {
            str(f): (round(f / FS / per_block[m, f], 1) if (m, f) in per_block else None)
            for f in plan.blocks
        }

    dec = decoder_times(dsp, plan)
    den = denormal_check(dsp, setting, reps=plan.denormal_reps)

    print()
    print("x real time (higher is better), stereo 48 kHz; time per block in us below")
    width = 13
    print("frames  block ms  " + "".join(f"{m:>{width}}" for m in methods))
    for f in plan.blocks:
        print(
            f"{f:>6}  {1e3 * f / FS:>8.3f}  "
            + "".join(f"{xrt[m][str(f)]:>{width - 1}.0f}x" for m in methods)
        )
    for f in plan.blocks:
        print(
            f"{f:>6}  {'us/block':>8}  "
            + "".join(f"{1e6 * per_block[m, f]:>{width}.2f}" for m in methods)
        )
    print()
    print(
        f"decoder forward (C):            {dec['decoder_us']:8.3f} us  "
        f"(max |C - numpy| = {dec['decoder_max_diff']:.1e})"
    )
    print(f"control update (z -> params -> coefficients): {dec['update_us']:.3f} us")
    print(f"decoder forward (numpy):        {dec['numpy_decoder_us']:8.3f} us")
    print(
        f"denormals: {den['silence_us']:.2f} us per {REF_BLOCK}-frame block of silence after "
        f"loud noise vs {den['audio_us']:.2f} us for noise: ratio {den['ratio']:.3f}; "
        f"filter state exactly zero after 1 s of silence: {bool(den['state_zero'])}"
    )

    fw = xrt["floweq"][str(REF_BLOCK)]
    sc = xrt["scipy"][str(REF_BLOCK)]
    pbx = xrt["pedalboard"][str(REF_BLOCK)]
    ratios = {
        "floweq_vs_scipy": round(fw / sc, 2),
        "floweq_vs_pedalboard": round(fw / pbx, 2) if pbx else None,
    }
    checks = [
        (f"floweq @{REF_BLOCK}: {fw:.0f}x real time", fw, TARGETS["floweq_x"], "x"),
        (
            f"floweq vs scipy @{REF_BLOCK}: {ratios['floweq_vs_scipy']}x",
            ratios["floweq_vs_scipy"],
            TARGETS["floweq_vs_scipy"],
            "x",
        ),
        (
            f"floweq vs pedalboard @{REF_BLOCK}: {ratios['floweq_vs_pedalboard']}x",
            ratios["floweq_vs_pedalboard"],
            TARGETS["floweq_vs_pedalboard"],
            "x",
        ),
        (
            f"floweq_glide @{REF_BLOCK}: {xrt['floweq_glide'][str(REF_BLOCK)]:.0f}x real time",
            xrt["floweq_glide"][str(REF_BLOCK)],
            TARGETS["floweq_glide_x"],
            "x",
        ),
    ]
    print()
    for label, value, target, unit in checks:
        if value is None:
            name = label.split(":")[0]
            print(f"SKIP  {name}: pedalboard not installed (target >= {target:g}{unit})")
        else:
            print(f"{'PASS' if value >= target else 'MISS'}  {label} (target >= {target:g}{unit})")
    slow = {
        "glide_over_constant": round(
            per_block["floweq_glide", REF_BLOCK] / per_block["floweq", REF_BLOCK], 2
        ),
        "modulated_over_constant": round(
            per_block["engine_mod", REF_BLOCK] / per_block["engine", REF_BLOCK], 2
        ),
    }
    for key, label in (
        ("glide_over_constant", "cascade gliding / constant"),
        ("modulated_over_constant", "engine with modulators / constant"),
    ):
        ok = slow[key] <= TARGETS[key]
        print(
            f"{'PASS' if ok else 'MISS'}  {label} @{REF_BLOCK}: {slow[key]:.2f}x the time "
            f"(target <= {TARGETS[key]:g}x)"
        )
    for key, label in (("decoder_us", "decoder forward"), ("update_us", "control update")):
        ok = dec[key] <= TARGETS[key]
        print(
            f"{'PASS' if ok else 'MISS'}  {label}: {dec[key]:.2f} us "
            f"(target <= {TARGETS[key]:g} us)"
        )

    result = {
        "x_realtime": xrt,
        "decoder_us": round(dec["decoder_us"], 3),
        "update_us": round(dec["update_us"], 3),
        "numpy_decoder_us": round(dec["numpy_decoder_us"], 3),
        "denormal_ratio": round(den["ratio"], 3),
        "ratios_128": ratios,
        "slowdown_128": slow,
        "machine": machine(),
        "quick": args.quick,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
