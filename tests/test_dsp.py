"""The Cython core against the NumPy/SciPy references, and its real-time promises.

Tolerances: the core keeps float64 state and writes float32, so against scipy's float64
sosfilt it must agree to float32 rounding of the output: max error <= 1e-6 * max(1, peak).

Click measure: a 200 Hz sine through the EQ while the target jumps between extreme
settings every block; the output is high-passed at 4 kHz (8th-order Butterworth), where a
steady EQ of a 200 Hz sine has nothing (about -135 dB). A click or zipper puts broadband
energy there. Gliding must keep that residual below -80 dB re the sine's amplitude; the
same jumps without a glide (each target reached at once with finish_glide) measure around
+10 dB, which shows the measure sees clicks. A glide is never shorter than _dsp.MIN_GLIDE_MS
(glide 0 means the fastest change that stays bounded, tests/test_processor.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss
from conftest import REPO, package_env
from hypothesis import given, settings
from hypothesis import strategies as st

from floweq_tui import _dsp, eqmath, params
from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX, METERS_SIZE, Controls

KERNEL = REPO / "dsp_kernel.c"

RATES = [8000, 22050, 44100, 48000, 96000, 192000]
CHANNELS = [1, 2, 3, 6]


def random_params(rng: np.random.Generator) -> np.ndarray:
    """A random parameter vector, frequencies and Qs log-uniform over their ranges."""
    u = rng.random(params.N_PARAMS)
    p = params.MINS + u * (params.MAXS - params.MINS)
    for i in params.FREQ_INDEX + (4, 7, 10):
        p[i] = np.exp(np.log(params.MINS[i]) + u[i] * np.log(params.MAXS[i] / params.MINS[i]))
    return params.sort_bands(p)


def extreme_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two settings at opposite corners of the parameter space."""
    a = params.MINS.copy()
    a[list(params.GAIN_INDEX)] = [12, -12, 12, -12, 12]
    b = params.MAXS.copy()
    b[list(params.GAIN_INDEX)] = [-12, 12, -12, 12, -12]
    return a, b


def run_blocks(
    cas: _dsp.Cascade, x: np.ndarray, block: int, targets=None, jump: bool = False
) -> np.ndarray:
    """Process x in blocks (copy), optionally setting targets[i % len] before each block
    (with ``jump``, reached at once: a broken core without any glide)."""
    y = np.ascontiguousarray(x, dtype=np.float32).copy()
    for n, i in enumerate(range(0, len(y), block)):
        if targets is not None:
            cas.set_params(targets[n % len(targets)])
            if jump:
                cas.finish_glide()
        cas.process(y[i : i + block])
    return y


def hf_residual_db(y: np.ndarray, fs: float, amplitude: float, skip: int) -> float:
    hp = ss.butter(8, 4000, "hp", fs=fs, output="sos")
    r = ss.sosfilt(hp, np.asarray(y, dtype=np.float64))[skip:]
    return 20 * np.log10(np.abs(r).max() / amplitude + 1e-300)


# ---------------------------------------------------------------- against scipy


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("channels", CHANNELS)
def test_cascade_matches_sosfilt_on_noise(fs, channels):
    rng = np.random.default_rng(fs + channels)
    p = random_params(rng)
    x = (0.3 * rng.standard_normal((fs // 4, channels))).astype(np.float32)
    cas = _dsp.Cascade(channels, fs, params=p)
    y = run_blocks(cas, x, 128)
    ref = ss.sosfilt(eqmath.design(p, fs), x.astype(np.float64), axis=0)
    assert np.abs(y - ref).max() <= 1e-6 * max(1.0, np.abs(ref).max())


def test_cascade_matches_sosfilt_on_real_music(piano):
    data, fs = piano
    rng = np.random.default_rng(7)
    for _ in range(3):
        p = random_params(rng)
        cas = _dsp.Cascade(data.shape[1], fs, params=p)
        y = run_blocks(cas, data, 256)
        ref = ss.sosfilt(eqmath.design(p, fs), data.astype(np.float64), axis=0)
        assert np.abs(y - ref).max() <= 1e-6 * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("fs", [8000, 44100, 192000])
def test_design_matches_reference(fs):
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = random_params(rng)
        active = rng.random(5) > 0.3
        got, ref = _dsp.design_sos(p, fs, active), eqmath.design(p, fs, active)
        np.testing.assert_allclose(got[active], ref[active], rtol=1e-12, atol=1e-12)
        # a bypassed band is the 0 dB design (numerator == denominator): an exact identity
        np.testing.assert_allclose(got[~active, :3], got[~active, 3:], rtol=1e-12, atol=1e-12)


def test_design_sanitises_like_the_audio_thread():
    p = params.DEFAULTS.copy()
    p[0], p[3] = np.nan, 1e9  # NaN -> default, out of range -> clamped
    expected = params.DEFAULTS.copy()
    expected[3] = params.MAXS[3]
    np.testing.assert_allclose(_dsp.design_sos(p, 48000), eqmath.design(expected, 48000))


# ---------------------------------------------------------------- chunking


@pytest.mark.parametrize("block", [1, 63, 64, 65, 4096])
@pytest.mark.parametrize("fs", [22050, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_chunked_equals_whole_even_while_gliding(block, fs, channels):
    rng = np.random.default_rng(block)
    p0, p1 = random_params(rng), random_params(rng)
    x = (0.3 * rng.standard_normal((8192, channels))).astype(np.float32)
    whole = _dsp.Cascade(channels, fs, params=p0)
    chunked = _dsp.Cascade(channels, fs, params=p0)
    whole.set_params(p1)  # a glide under way across the whole signal
    chunked.set_params(p1)
    y_whole = run_blocks(whole, x, len(x))
    y_chunked = run_blocks(chunked, x, block)
    np.testing.assert_array_equal(y_chunked, y_whole)


# ---------------------------------------------------------------- glides


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("block", [64, 128, 257])
def test_jumping_between_extremes_every_block_is_click_free(fs, block):
    n = fs // 2
    amp = 0.25
    x = (amp * np.sin(2 * np.pi * 200 * np.arange(n) / fs)).astype(np.float32)[:, None]
    a, b = extreme_pair()
    lo, hi = params.MINS.copy(), params.MAXS.copy()
    lo[list(params.GAIN_INDEX)], hi[list(params.GAIN_INDEX)] = -12, 12
    skip = fs // 20
    steady = max(
        hf_residual_db(run_blocks(_dsp.Cascade(1, fs, params=p), x, block)[:, 0], fs, amp, skip)
        for p in (a, b, lo, hi)
    )
    for pair in ((a, b), (lo, hi)):
        glided = run_blocks(_dsp.Cascade(1, fs, glide_ms=20, params=pair[0]), x, block, pair)
        jumped = run_blocks(_dsp.Cascade(1, fs, params=pair[0]), x, block, pair, jump=True)
        assert steady < -120
        assert hf_residual_db(glided[:, 0], fs, amp, skip) < -80
        assert hf_residual_db(jumped[:, 0], fs, amp, skip) > -20  # the measure does see clicks


def glide_coords(p: np.ndarray) -> np.ndarray:
    """A setting in the glide's coordinates: (gain dB, ln f, ln Q) per band (shelves Q 0.71)."""
    q = [params.SHELF_Q if i is None else p[i] for i in params.Q_INDEX]
    return np.column_stack(
        [p[list(params.GAIN_INDEX)], np.log(p[list(params.FREQ_INDEX)]), np.log(q)]
    )


def coords_setting(c: np.ndarray) -> np.ndarray:
    """The inverse of glide_coords (a shelf's Q coordinate is its fixed 0.71)."""
    p = np.empty(params.N_PARAMS)
    p[list(params.GAIN_INDEX)] = c[:, 0]
    p[list(params.FREQ_INDEX)] = np.exp(c[:, 1])
    for b, i in enumerate(params.Q_INDEX):
        if i is not None:
            p[i] = np.exp(c[b, 2])
    return p


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("glide_ms", [20, 100])
@pytest.mark.parametrize("block", [128, 257])
def test_a_finished_glide_is_click_free_to_its_end(fs, glide_ms, block):
    """One target change, then the glide runs to its end and past it: the click measure
    covers every step of the glide, its last one and the settled filter after it.

    (The every-block test above never lets a glide finish.) Measured on the linear
    (gain dB, ln f, ln Q) glide redesigned every 32 samples: about -69 dB; a glide whose
    last 32-sample step is a jump, or that jumps after 80 % of the way, measures far above.
    """
    amp = 0.25
    a, b = extreme_pair()
    lo, hi = params.MINS.copy(), params.MAXS.copy()
    lo[list(params.GAIN_INDEX)], hi[list(params.GAIN_INDEX)] = -12, 12
    settle = fs // 5  # the settings' own start-up transients die out first
    n = settle + int(glide_ms * 1e-3 * fs) + fs // 10
    x = (amp * np.sin(2 * np.pi * 200 * np.arange(n) / fs)).astype(np.float32)[:, None]
    for p0, p1 in ((a, b), (b, a), (lo, hi), (hi, lo)):
        cas = _dsp.Cascade(1, fs, glide_ms=glide_ms, params=p0)
        y = x.copy()
        for i in range(0, n, block):
            if i <= settle < i + block:
                cas.set_params(p1)
            cas.process(y[i : i + block])
        assert not cas.gliding  # the glide did finish inside the signal
        assert hf_residual_db(y[:, 0], fs, amp, fs // 10) < -60


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("glide_ms", [0, 1, 20, 100])
def test_glide_duration_and_path_are_pinned(fs, glide_ms):
    """A glide lasts exactly round(max(glide_ms, MIN_GLIDE_MS) * fs / 1000) samples and moves
    linearly in (gain dB, ln f, ln Q): at every redesign point the coefficients are the design
    of the interpolated setting, so a glide at half its time, one that jumps before its end,
    or a glide 0 that jumps, fails here."""
    rng = np.random.default_rng(fs + glide_ms)
    p0, p1 = random_params(rng), random_params(rng)
    c0, c1 = glide_coords(p0), glide_coords(p1)
    total = int(max(glide_ms, _dsp.MIN_GLIDE_MS) * 1e-3 * fs + 0.5)
    assert total >= _dsp.SUBBLOCK
    cas = _dsp.Cascade(1, fs, glide_ms=glide_ms, params=p0)
    cas.set_params(p1)
    done = 0
    for stop in sorted({*range(_dsp.SUBBLOCK, total, _dsp.SUBBLOCK), total}):
        cas.process(np.zeros(stop - done, np.float32))
        done = stop
        mid = coords_setting(c0 + (c1 - c0) * done / total)
        np.testing.assert_allclose(cas.sos, eqmath.design(mid, fs), rtol=0, atol=1e-12)
        assert cas.gliding == (done < total), done
    np.testing.assert_allclose(cas.sos, eqmath.design(p1, fs), rtol=0, atol=1e-13)
    cas.process(np.zeros(3 * _dsp.SUBBLOCK, np.float32))
    np.testing.assert_allclose(cas.sos, eqmath.design(p1, fs), rtol=0, atol=1e-13)


def test_glide_reaches_the_target_exactly_after_glide_time():
    fs = 48000
    rng = np.random.default_rng(11)
    p0, p1 = random_params(rng), random_params(rng)
    cas = _dsp.Cascade(2, fs, glide_ms=20, params=p0)
    cas.set_params(p1)
    block = np.zeros((64, 2), np.float32)
    cas.process(block)
    assert cas.gliding
    for _ in range(int(0.020 * fs) // 64 + 2):
        cas.process(block)
    assert not cas.gliding
    np.testing.assert_allclose(cas.sos, eqmath.design(p1, fs), rtol=0, atol=1e-13)


def test_glide_time_zero_takes_the_shortest_glide_and_finish_glide_completes():
    fs = 48000
    rng = np.random.default_rng(12)
    p0, p1 = random_params(rng), random_params(rng)
    cas = _dsp.Cascade(1, fs, glide_ms=0, params=p0)
    shortest = int(_dsp.MIN_GLIDE_MS * 1e-3 * fs + 0.5)
    cas.set_params(p1)
    cas.process(np.zeros(shortest - 1, np.float32))
    assert cas.gliding
    cas.process(np.zeros(1, np.float32))
    assert not cas.gliding
    np.testing.assert_allclose(cas.sos, eqmath.design(p1, fs), atol=1e-13)
    cas.glide_ms = 50
    cas.set_params(p0)
    cas.process(np.zeros(10, np.float32))
    cas.finish_glide()
    np.testing.assert_allclose(cas.sos, eqmath.design(p0, fs), atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    fs=st.sampled_from(RATES),
    glide=st.floats(1.0, 50.0),
    coefficient_target=st.booleans(),
)
def test_every_step_of_a_glide_is_stable(seed, fs, glide, coefficient_target):
    rng = np.random.default_rng(seed)
    p0, p1 = random_params(rng), random_params(rng)
    cas = _dsp.Cascade(1, fs, glide_ms=glide, params=p0)
    if coefficient_target:
        cas.set_sos(eqmath.design(p1, fs))
    else:
        cas.set_params(p1)
    x = rng.standard_normal(int(glide * 1e-3 * fs) + 64).astype(np.float32)
    for i in range(0, len(x), 16):
        cas.process(x[i : i + 16])
        assert np.all(np.abs(eqmath.poles(cas.sos)) < 1.0)
    assert np.all(np.isfinite(x))


def test_retargeting_mid_glide_starts_from_where_it_stands():
    """A new target mid-glide continues smoothly: no jump back to the old start or target."""
    fs = 48000
    a, b = extreme_pair()
    cas = _dsp.Cascade(1, fs, glide_ms=20, params=a)
    cas.set_params(b)
    cas.process(np.zeros(320, np.float32))
    before = cas.sos.copy()
    cas.set_params(a)
    cas.process(np.zeros(1, np.float32))
    step = np.abs(cas.sos - before).max()
    total = np.abs(eqmath.design(a, fs) - eqmath.design(b, fs)).max()
    assert step < 0.05 * total


def test_band_bypass_is_identity_and_click_free():
    fs = 48000
    rng = np.random.default_rng(5)
    p = random_params(rng)
    active = np.array([True, False, True, False, True])
    x = (0.3 * rng.standard_normal((4096, 2))).astype(np.float32)
    y = run_blocks(_dsp.Cascade(2, fs, params=p, active=active), x, 128)
    ref_sos = eqmath.design(p, fs, active)
    ref = ss.sosfilt(ref_sos, x.astype(np.float64), axis=0)
    assert np.abs(y - ref).max() <= 1e-6 * max(1.0, np.abs(ref).max())
    np.testing.assert_array_equal(ref_sos[1], [1, 0, 0, 1, 0, 0])

    amp, n = 0.25, fs // 2
    sine = (amp * np.sin(2 * np.pi * 200 * np.arange(n) / fs)).astype(np.float32)[:, None]
    a, _ = extreme_pair()
    cas = _dsp.Cascade(1, fs, params=a)
    out = sine.copy()
    for k, i in enumerate(range(0, n, 128)):
        cas.set_params(a, active=np.array([k % 2 == 0] * 5))
        cas.process(out[i : i + 128])
    assert hf_residual_db(out[:, 0], fs, amp, fs // 20) < -80


# ---------------------------------------------------------------- robustness


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_recovers_within_one_block(bad):
    fs, ch = 48000, 2
    rng = np.random.default_rng(1)
    p = random_params(rng)
    cas = _dsp.Cascade(ch, fs, params=p)
    block = (0.1 * rng.standard_normal((128, ch))).astype(np.float32)
    poisoned = block.copy()
    poisoned[17, 1] = bad
    assert cas.process(poisoned) is True
    assert np.all(poisoned == 0.0)
    assert cas.nan_resets == 1
    nxt = block.copy()
    assert cas.process(nxt) is False
    fresh = block.copy()
    _dsp.Cascade(ch, fs, params=p).process(fresh)
    np.testing.assert_array_equal(nxt, fresh)


def test_silence_after_loud_audio_flushes_to_exact_zero():
    """No denormals: the histories and output reach exact zero instead of creeping down."""
    fs = 192000
    p = params.DEFAULTS.copy()
    p[0], p[1] = 12.0, 22.0  # the slowest pole in range: 22 Hz shelf at 192 kHz
    cas = _dsp.Cascade(2, fs, params=p)
    rng = np.random.default_rng(0)
    run_blocks(cas, (0.9 * rng.standard_normal((fs, 2))).astype(np.float32), 256)
    silence = np.zeros((fs * 3, 2), np.float32)
    out = run_blocks(cas, silence, 256)
    assert np.all(cas.state == 0.0)
    tail = out[-fs // 10 :]
    assert np.all(tail == 0.0)
    tiny = np.abs(out[(out != 0)])
    assert not np.any(tiny < np.finfo(np.float32).tiny)  # no subnormal float32 ever written


@settings(max_examples=200, deadline=None)
@given(
    u=st.lists(st.floats(0.0, 1.0), min_size=13, max_size=13),
    fs=st.floats(8000, 192000),
)
def test_any_parameters_at_any_rate_are_stable(u, fs):
    p = params.MINS + np.array(u) * (params.MAXS - params.MINS)
    sos = _dsp.design_sos(p, fs)
    assert np.all(np.abs(eqmath.poles(sos)) < 1.0)
    cas = _dsp.Cascade(1, fs, params=p)
    x = np.random.default_rng(0).standard_normal(2048).astype(np.float32)
    cas.process(x)
    assert np.all(np.isfinite(x))


def warm_blocks():
    """Blocks the audio thread would run, warmed up: Cascade.process, Processor.process with
    fixed controls, and Processor.process with a control change (new latent point) every block,
    which re-runs the decoder, the design and the glide set-up on the audio thread."""
    cas = _dsp.Cascade(2, 48000, params=random_params(np.random.default_rng(2)))
    block = np.random.default_rng(3).standard_normal((128, 2)).astype(np.float32)
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl).update({"mode": 0, "x": 0.3, "y": -0.5})
    met = np.zeros(METERS_SIZE)
    _, dec = random_decoder(2, seed=4)
    proc = _dsp.Processor(2, 48000.0, 128, ctl, met, [dec])
    out = np.zeros_like(block)
    x = CONTROL_INDEX["x"]
    flip = [0]

    def moving() -> None:
        flip[0] ^= 1
        ctl[x] = 0.3 + 0.5 * flip[0]
        proc.process(block, out)

    calls = {
        "Cascade.process": lambda: cas.process(block),
        "Processor.process": lambda: proc.process(block, out),
        "Processor.process, controls moving": moving,
    }
    for fn in calls.values():
        for _ in range(100):
            fn()
    return calls


def test_process_allocates_nothing_per_call():
    """No memory kept and none taken and given back within a call (tracemalloc sees Python
    objects and NumPy buffers): a 64 KiB temporary per call raises the peak by 64 KiB."""
    for name, fn in warm_blocks().items():
        tracemalloc.start()
        try:
            snap0 = tracemalloc.take_snapshot()
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            for _ in range(2000):
                fn()
            _, peak = tracemalloc.get_traced_memory()
            snap1 = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename") if s.size_diff > 0)
        assert grown < 1024, f"{name} kept {grown} bytes over 2000 calls"
        assert peak - base < 1024, f"{name} took {peak - base} bytes at once within its calls"


MALLOC_COUNTER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
/* Counts heap allocations made by the thread that armed it; glibc does the real work. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static __thread int armed __attribute__((tls_model("initial-exec")));
static long count;
void fq_count_arm(int on) { armed = on; }
long fq_count_get(void) { return count; }
void *malloc(size_t n) { count += armed; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count += armed; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count += armed; return __libc_realloc(p, n); }
typedef int (*pm_fn)(void **, size_t, size_t);
typedef void *(*al_fn)(size_t, size_t);
int posix_memalign(void **p, size_t a, size_t n)
{
    static pm_fn next;
    if (!next) next = (pm_fn)dlsym(RTLD_NEXT, "posix_memalign");
    count += armed;
    return next(p, a, n);
}
void *aligned_alloc(size_t a, size_t n)
{
    static al_fn next;
    if (!next) next = (al_fn)dlsym(RTLD_NEXT, "aligned_alloc");
    count += armed;
    return next(a, n);
}
void *memalign(size_t a, size_t n)
{
    static al_fn next;
    if (!next) next = (al_fn)dlsym(RTLD_NEXT, "memalign");
    count += armed;
    return next(a, n);
}
"""

MALLOC_CHILD = """
import ctypes, json, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_dsp import warm_blocks
counter = ctypes.CDLL(sys.argv[1])  # the preloaded copy: dlopen returns the same object
counter.fq_count_get.restype = ctypes.c_long
out = {}
for name, fn in warm_blocks().items():
    before = counter.fq_count_get()
    counter.fq_count_arm(1)
    for _ in range(1000):
        fn()
    counter.fq_count_arm(0)
    out[name] = counter.fq_count_get() - before
before = counter.fq_count_get()
counter.fq_count_arm(1)
for _ in range(1000):
    np.empty(16384, np.float32)  # the control: 64 KiB from the heap per call
counter.fq_count_arm(0)
out["control"] = counter.fq_count_get() - before
print(json.dumps(out))
"""


def test_process_calls_no_c_allocator(tmp_path):
    """Not one malloc/calloc/realloc/aligned allocation in 1000 warm calls, counted in C.

    tracemalloc cannot see the C kernel's heap; an LD_PRELOAD shim counting every allocator
    call made by the calling thread can, so a malloc/free inside the kernel fails here."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the malloc-counting shim")
    (tmp_path / "counter.c").write_text(MALLOC_COUNTER)
    shim = tmp_path / "counter.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-o", str(shim), str(tmp_path / "counter.c"), "-ldl"],
        check=True,
    )
    preload = " ".join(filter(None, [str(shim), os.environ.get("LD_PRELOAD")]))
    here = str(Path(__file__).resolve().parent)
    res = subprocess.run(
        [sys.executable, "-c", MALLOC_CHILD, str(shim), here],
        env=package_env(LD_PRELOAD=preload),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    counts = json.loads(res.stdout.strip().splitlines()[-1])
    assert counts.pop("control") >= 1000, "the shim does not see allocations"
    assert len(counts) == 3
    assert counts == dict.fromkeys(counts, 0), f"allocator calls in 1000 calls: {counts}"


def test_kernel_compiles_without_warnings(tmp_path):
    """dsp_kernel.c is clean under setup.py's -Wall -Wextra: any warning is an error here,
    both in a syntax-only pass and in a full -O3 compile (which runs the flow analyses)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to compile dsp_kernel.c")
    assert KERNEL.is_file(), f"{KERNEL} is missing"
    setup_py = (REPO / "setup.py").read_text()
    assert '"-Wall", "-Wextra"' in setup_py, "setup.py must build the core with -Wall -Wextra"
    warn = ["-Wall", "-Wextra", "-Werror", f"-I{REPO}"]
    for mode in (["-fsyntax-only"], ["-O3", "-fno-math-errno", "-c", "-o", str(tmp_path / "k.o")]):
        res = subprocess.run(
            [cc, *warn, *mode, str(KERNEL)], cwd=REPO, capture_output=True, text=True
        )
        assert res.returncode == 0, f"{' '.join(mode)}: {res.stderr}"


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="sample rate"):
        _dsp.Cascade(2, 7000)
    with pytest.raises(ValueError, match="channels"):
        _dsp.Cascade(0, 48000)
    cas = _dsp.Cascade(2, 48000)
    with pytest.raises(TypeError, match="float32"):
        cas.process(np.zeros((64, 2)))
    with pytest.raises(ValueError, match="channels"):
        cas.process(np.zeros((64, 3), np.float32))
    with pytest.raises((ValueError, BufferError)):
        cas.process(np.zeros((2, 64), np.float32).T)
    with pytest.raises(ValueError, match="13 parameters"):
        cas.set_params(np.zeros(12))
    with pytest.raises(ValueError, match="unit circle"):
        cas.set_sos(np.tile([1, 0, 0, 1, 0, 1.5], (5, 1)))
    with pytest.raises(ValueError, match="glide"):
        cas.glide_ms = -1


# ---------------------------------------------------------------- decoder


def random_decoder(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((1024, d)).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(1024)).astype(np.float32)
    w2 = (0.05 * rng.standard_normal((13, 1024))).astype(np.float32)
    b2 = (0.1 * rng.standard_normal(13)).astype(np.float32)
    return (w1, b1, w2, b2), _dsp.Decoder(w1, b1, w2, b2)


def numpy_decoder(weights, z):
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    h = np.maximum(w1 @ z + b1, 0.0)
    return 1.0 / (1.0 + np.exp(-(w2 @ h + b2)))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_decoder_matches_numpy(d):
    weights, dec = random_decoder(d, seed=d)
    assert dec.latent_dim == d and dec.hidden == 1024
    rng = np.random.default_rng(d)
    for z in rng.uniform(-4, 4, size=(50, d)):
        ref = numpy_decoder(weights, z)
        np.testing.assert_allclose(dec.forward(z), ref, atol=2e-6)
        expected = params.sort_bands(params.denormalize(ref))
        got = dec.params(z)
        assert np.all(np.diff(got[[3, 6, 9]]) >= 0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_control_update_matches_reference_chain():
    weights, dec = random_decoder(2, seed=9)
    z = np.array([0.7, -1.3])
    active = np.array([True, True, False, True, True])
    p = params.sort_bands(params.denormalize(numpy_decoder(weights, z)))
    expected = eqmath.design(params.apply_strength(p, 0.6), 44100, active)
    got = dec.update_sos(z, 44100, 0.6, active)
    np.testing.assert_allclose(got[active], expected[active], atol=1e-5)
    np.testing.assert_allclose(got[~active, :3], got[~active, 3:], atol=1e-12)


def test_decoder_rejects_bad_weights_and_latents():
    (w1, b1, w2, b2), dec = random_decoder(2)
    with pytest.raises(ValueError, match="shapes"):
        _dsp.Decoder(w1, b1[:-1], w2, b2)
    with pytest.raises(ValueError, match="d in 1..3"):
        _dsp.Decoder(np.zeros((1024, 4), np.float32), b1, w2, b2)
    bad = w2.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _dsp.Decoder(w1, b1, bad, b2)
    with pytest.raises(ValueError, match="2 values"):
        dec.forward([0.0])
    out = dec.forward([np.nan, 0.0])  # a non-finite coordinate is read as 0
    np.testing.assert_allclose(out, dec.forward([0.0, 0.0]))
