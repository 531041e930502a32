# cython: language_level=3
"""floweq_tui._dsp: the real-time core (Cython over a small C kernel).

Everything the audio callback needs, callable without the GIL and without allocating:

* ``Cascade``: the 5-biquad equalizer over N interleaved float32 channels (float64 state,
  in place). Direct form I with shared histories between sections, so a coefficient change
  never leaves an inconsistent internal state. New targets glide click-free: 13-parameter
  targets move linearly in (gain dB, log f, log Q) and are redesigned every 64 samples, with
  the coefficients interpolated per sample between designs; coefficient targets move
  linearly in coefficient space (stable at every step: the stability triangle is convex).
* ``Decoder``: the beta-VAE decoder forward pass d -> 1024 ReLU -> 13 sigmoid (float32).
* ``design_sos``: the JUCE/RBJ coefficient design for all 5 bands, as scipy SOS.
* ``Processor``: the engine's whole signal chain for one audio block (input gain, EQ,
  K-weighted loudness meters, auto gain, bypass, output gain, mute, limiter).

The cascade, the coefficient design and the decoder are C in ``dsp_kernel.c`` /
``dsp_kernel.h`` beside this file (built with the extension, warning-free under
-Wall -Wextra); the processor's chain is written in Cython below.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from libc.math cimport ceil, exp, fabs, isfinite, log, log10, pow, sqrt
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcmp, memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import numpy as np

cdef extern from "dsp_kernel.h":
    enum:
        FQ_BANDS
        FQ_NPARAMS
        FQ_SUB
        FQ_OUT_PAD

    double FQ_MIN_GLIDE_MS

    ctypedef struct fq_cascade:
        int nch
        double fs
        int glide_len
        double c0[25]
        double dc[25]
        double c1[25]
        int ramp_pos
        int ramp_len
        int glide_mode
        int glide_done
        int glide_total
        int pending
        double pend_p[13]
        int pend_active[5]
        double pend_k[25]
        double coords[15]
        int coords_valid
        double *hist
        int64_t nan_resets

    ctypedef struct fq_decoder:
        int d
        int hidden
        float *w1
        float *b1
        float *scratch
        float *w2t
        float b2[16]

    void fq_design_band(int kind, double gain_db, double freq, double q, double fs, double *c) nogil
    void fq_design_all(const double *p, const int *active, double fs, double *coef) nogil
    void fq_sanitize_params(const double *inp, double *out) nogil
    void fq_apply_strength(double *p, double strength) nogil
    int fq_glide_samples(double glide_ms, double fs) nogil
    void fq_cascade_reset(fq_cascade *s) nogil
    int fq_cascade_process(fq_cascade *s, float *buf, int frames) nogil
    void fq_cascade_finish(fq_cascade *s) nogil
    void fq_decode(const fq_decoder *m, const double *z, double *out) nogil
    void fq_denormalize_sorted(const double *u, double *p) nogil

cdef extern from "path_kernel.h":
    void fq_path_eval(const double *wp, int n, double pos, double *xyz) nogil
    double fq_rec_eval(const double *pts, int n, double phase) nogil

cdef extern from "mod_kernel.h":
    enum:
        FQ_LFOS
        FQ_MOD_CHUNK
        FQ_WALK

    ctypedef struct fq_lfo_params:
        int on, target, shape, sync, unipolar
        double rate_hz, note_beats, depth, phase

    ctypedef struct fq_fig_params:
        int on, shape, sync
        double rate_hz, note_beats, depth, ratio, aspect, phase

    ctypedef struct fq_mod_state:
        uint64_t seed
        double cycles[4]
        double fig_cycles
        double walk_cycles
        double walk[2]
        double walk_dir[2]

    void fq_mod_reset(fq_mod_state *st) nogil
    double fq_mod_rand(uint64_t seed, uint64_t stream, int64_t k) nogil
    double fq_mod_wave(int shape, double cycles, uint64_t seed, uint64_t stream) nogil
    double fq_lfo_offset(const fq_mod_state *st, const fq_lfo_params *p, int i, double beat) nogil
    void fq_fig_offset(const fq_mod_state *st, const fq_fig_params *p, double beat, double *xy) nogil
    void fq_mod_advance(fq_mod_state *st, const fq_lfo_params *lfo, const fq_fig_params *fig,
                        double dt, double bps, double cx, double cy) nogil

cdef extern from "poll.h" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum: POLLIN


cdef extern from "stdlib.h" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)
    void free(void *ptr)

cdef extern from *:
    """
    /* the input history's samples are stored before its count is: readers in other
       processes trust the count (x86 keeps stores in order; this stops the compiler too) */
    static inline void fq_publish_fence(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
    """
    void fq_publish_fence() nogil

DEF AUTO_SNAP_DB = 1e-7  # auto gain fading back to 0 dB is 0 dB below this (1e-8 of a sample)

cdef extern from *:
    """
    #include <sys/mman.h>
    #include <unistd.h>
    #ifndef MADV_POPULATE_WRITE
    #define MADV_POPULATE_WRITE 23
    #endif
    /* Map every page of [p, p + n) for writing now, so that the audio thread never takes a
       page fault (shared memory: the kernel allocates and zeroes a page at its first store)
       while it fills the block. The contents stay as they are. MADV_POPULATE_WRITE (Linux
       5.14) does it without touching the data; elsewhere each page's first byte is read
       and written back, before anything else writes the block. */
    static void fq_prefault(void *p, size_t n) {
        long page = sysconf(_SC_PAGESIZE);
        if (page <= 0 || n == 0) return;
        uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1), end = (uintptr_t)p + n;
        if (madvise((void *)a, end - a, MADV_POPULATE_WRITE) == 0) return;
        for (uintptr_t q = (uintptr_t)p; q < end; q = (q & ~(uintptr_t)(page - 1)) + page) {
            volatile char *c = (volatile char *)q;
            *c = *c;
        }
    }
    """
    void fq_prefault(void *p, size_t n) nogil

# the input history block (controls.History): header slots, then float32 samples
DEF H_POS = 0
DEF H_FRAMES = 1
DEF H_RATE = 2
DEF H_MARGIN = 3
DEF H_START = 4
DEF H_HEADER = 8


N_BANDS = FQ_BANDS
N_PARAMS = FQ_NPARAMS
SUBBLOCK = FQ_SUB
"""Samples between coefficient redesigns while gliding (coefficients are interpolated in between)."""
MIN_GLIDE_MS = FQ_MIN_GLIDE_MS
"""The shortest glide: a smaller glide time (0 included) glides over this long."""
MIN_RATE = 8000.0
MAX_RATE = 192000.0
MAX_CHANNELS = 64


cdef void* _aligned(size_t nbytes) except NULL:
    cdef void *p = NULL
    if posix_memalign(&p, 64, nbytes if nbytes > 0 else 64) != 0:
        raise MemoryError()
    memset(p, 0, nbytes)
    return p


def _check_rate(double samplerate):
    if not (MIN_RATE <= samplerate <= MAX_RATE):
        raise ValueError(f"sample rate {samplerate:g} Hz is outside the supported 8000-192000 Hz")


cdef void _vec13(object params, double *out) except *:
    arr = np.ascontiguousarray(params, dtype=np.float64)
    if arr.shape != (FQ_NPARAMS,):
        raise ValueError(f"expected {FQ_NPARAMS} parameters, got shape {arr.shape}")
    cdef const double[::1] v = arr
    cdef int i
    for i in range(FQ_NPARAMS):
        out[i] = v[i]


cdef void _active5(object active, int *out) except *:
    cdef int b
    if active is None:
        for b in range(FQ_BANDS):
            out[b] = 1
        return
    flags = np.asarray(active, dtype=bool)
    if flags.shape != (FQ_BANDS,):
        raise ValueError(f"active must have {FQ_BANDS} flags, got shape {flags.shape}")
    for b in range(FQ_BANDS):
        out[b] = 1 if flags[b] else 0


def design_sos(params, double samplerate, active=None):
    """Coefficients of the 5 bands as scipy SOS (5, 6), designed by the C kernel.

    Parameters are sanitised first (clamped into range; NaN -> default), exactly as the
    audio thread does.
    """
    _check_rate(samplerate)
    cdef double p[13]
    cdef int act[5]
    cdef double c[25]
    _vec13(params, p)
    _active5(active, act)
    fq_sanitize_params(p, p)
    with nogil:
        fq_design_all(p, act, samplerate, c)
    out = np.empty((FQ_BANDS, 6))
    cdef int b
    for b in range(FQ_BANDS):
        out[b, 0] = c[5 * b]
        out[b, 1] = c[5 * b + 1]
        out[b, 2] = c[5 * b + 2]
        out[b, 3] = 1.0
        out[b, 4] = c[5 * b + 3]
        out[b, 5] = c[5 * b + 4]
    return out


cdef class Cascade:
    """Five biquads in series over ``channels`` interleaved float32 channels, in place.

    ``set_params`` / ``set_sos`` set a target; the filter glides there over ``glide_ms``.
    ``process`` runs without the GIL and allocates nothing.
    """

    cdef fq_cascade s
    cdef double _glide_ms

    def __cinit__(self, int channels, double samplerate, double glide_ms=20.0, params=None, active=None):
        if channels < 1 or channels > MAX_CHANNELS:
            raise ValueError(f"channels must be 1-{MAX_CHANNELS}, got {channels}")
        _check_rate(samplerate)
        memset(&self.s, 0, sizeof(fq_cascade))
        self.s.nch = channels
        self.s.fs = samplerate
        self.s.hist = <double *>_aligned(sizeof(double) * channels * 12)
        self.glide_ms = glide_ms
        cdef int b
        for b in range(FQ_BANDS * 5):
            self.s.c0[b] = 0.0
        for b in range(FQ_BANDS):  # identity sections until a target arrives
            self.s.c0[5 * b] = 1.0
            self.s.c1[5 * b] = 1.0
        self.set_params(np.array([0, 150, 0, 650, 0.71, 0, 1000, 0.71, 0, 3300, 0.71, 0, 8200.0])
                        if params is None else params, active)
        fq_cascade_finish(&self.s)

    def __dealloc__(self):
        if self.s.hist != NULL:
            free(self.s.hist)
            self.s.hist = NULL

    @property
    def channels(self) -> int:
        return self.s.nch

    @property
    def samplerate(self) -> float:
        return self.s.fs

    @property
    def glide_ms(self) -> float:
        """Time a new target takes to be reached, in ms (at least MIN_GLIDE_MS is used)."""
        return self._glide_ms

    @glide_ms.setter
    def glide_ms(self, double value):
        if not (0.0 <= value <= 10000.0):
            raise ValueError(f"glide time must be 0-10000 ms, got {value}")
        self._glide_ms = value
        self.s.glide_len = fq_glide_samples(value, self.s.fs)

    @property
    def gliding(self) -> bool:
        """True while a glide (or a pending target) is still moving the coefficients."""
        return bool(self.s.pending or self.s.glide_mode or self.s.ramp_pos < self.s.ramp_len)

    @property
    def nan_resets(self) -> int:
        """How many blocks had non-finite input and were replaced by silence."""
        return self.s.nan_resets

    cdef void set_params_c(self, const double *params, const int *active) noexcept nogil:
        fq_sanitize_params(params, self.s.pend_p)
        cdef int b
        for b in range(FQ_BANDS):
            self.s.pend_active[b] = active[b]
        self.s.pending = 1

    def set_params(self, params, active=None):
        """Glide to 13 parameters (sanitised: clamped to range, NaN -> default).

        ``active`` (5 flags) bypasses bands; a bypassed band glides to 0 dB, so toggling
        is click-free too.
        """
        cdef double p[13]
        cdef int act[5]
        _vec13(params, p)
        _active5(active, act)
        self.set_params_c(p, act)

    def set_sos(self, sos):
        """Glide to arbitrary coefficients (5, 6) in scipy layout; sections must be stable."""
        arr = np.asarray(sos, dtype=np.float64)
        if arr.shape != (FQ_BANDS, 6):
            raise ValueError(f"expected SOS of shape (5, 6), got {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr[:, 3] == 0):
            raise ValueError("SOS must be finite with a0 != 0")
        arr = arr / arr[:, 3:4]
        a1, a2 = arr[:, 4], arr[:, 5]
        if np.any(np.abs(a2) >= 1.0) or np.any(np.abs(a1) >= 1.0 + a2):
            raise ValueError("SOS has a section with poles on or outside the unit circle")
        cdef int b
        for b in range(FQ_BANDS):
            self.s.pend_k[5 * b] = arr[b, 0]
            self.s.pend_k[5 * b + 1] = arr[b, 1]
            self.s.pend_k[5 * b + 2] = arr[b, 2]
            self.s.pend_k[5 * b + 3] = arr[b, 4]
            self.s.pend_k[5 * b + 4] = arr[b, 5]
        self.s.pending = 2

    cdef int process_c(self, float *buf, int frames) noexcept nogil:
        return fq_cascade_process(&self.s, buf, frames)

    def process(self, object block) -> bool:
        """Filter a C-contiguous float32 block (frames, channels) in place; no GIL, no allocation.

        Returns True if the block held non-finite samples: the state was reset and the
        block silenced (the next block is processed normally).
        """
        cdef Py_buffer view
        PyObject_GetBuffer(block, &view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)
        cdef int frames
        cdef int bad
        cdef const char *fmt
        try:
            fmt = view.format
            if fmt != NULL and (fmt[0] == 60 or fmt[0] == 61 or fmt[0] == 64):  # '<', '=', '@'
                fmt += 1
            if view.itemsize != 4 or fmt == NULL or fmt[0] != 102 or fmt[1] != 0:  # 'f'
                raise TypeError("block must be float32")
            if view.ndim == 2:
                if view.shape[1] != self.s.nch:
                    raise ValueError(f"block has {view.shape[1]} channels, cascade has {self.s.nch}")
                frames = <int>view.shape[0]
            elif view.ndim == 1 and self.s.nch == 1:
                frames = <int>view.shape[0]
            else:
                raise ValueError(f"block must be (frames, {self.s.nch}) float32")
            with nogil:
                bad = fq_cascade_process(&self.s, <float *>view.buf, frames)
        finally:
            PyBuffer_Release(&view)
        return bad != 0

    @property
    def state(self):
        """A copy of the filter histories, (channels, 6, 2) float64 (for tests and meters)."""
        cdef int n = self.s.nch * 12
        return np.array([self.s.hist[i] for i in range(n)]).reshape(self.s.nch, 6, 2)

    def reset(self):
        """Clear the filter histories (the coefficients and any glide are kept)."""
        fq_cascade_reset(&self.s)

    def finish_glide(self):
        """Jump to the current target at once (for offline use and tests)."""
        fq_cascade_finish(&self.s)

    @property
    def sos(self):
        """The coefficients in use at this instant, as SOS (5, 6)."""
        out = np.empty((FQ_BANDS, 6))
        cdef int b
        cdef double t = self.s.ramp_pos
        for b in range(FQ_BANDS):
            for j, k in ((0, 0), (1, 1), (2, 2), (4, 3), (5, 4)):
                if self.s.ramp_len > 0:
                    out[b, j] = self.s.c0[5 * b + k] + t * self.s.dc[5 * b + k]
                else:
                    out[b, j] = self.s.c1[5 * b + k]
            out[b, 3] = 1.0
        return out


cdef class Decoder:
    """The beta-VAE decoder forward pass in C: z (d) -> 1024 ReLU -> 13 sigmoid.

    Weights use PyTorch Linear layout: w1 (hidden, d), b1 (hidden,), w2 (13, hidden), b2 (13,).
    """

    cdef fq_decoder m

    def __cinit__(self, w1, b1, w2, b2):
        w1 = np.ascontiguousarray(w1, dtype=np.float32)
        b1 = np.ascontiguousarray(b1, dtype=np.float32)
        w2 = np.ascontiguousarray(w2, dtype=np.float32)
        b2 = np.ascontiguousarray(b2, dtype=np.float32)
        if w1.ndim != 2 or not (1 <= w1.shape[1] <= 3):
            raise ValueError(f"w1 must be (hidden, d) with d in 1..3, got {w1.shape}")
        hidden, d = w1.shape
        if b1.shape != (hidden,) or w2.shape != (FQ_NPARAMS, hidden) or b2.shape != (FQ_NPARAMS,):
            raise ValueError(
                f"decoder shapes do not fit: w1 {w1.shape}, b1 {b1.shape}, w2 {w2.shape}, b2 {b2.shape}"
            )
        for a in (w1, b1, w2, b2):
            if not np.all(np.isfinite(a)):
                raise ValueError("decoder weights contain NaN or Inf")
        self.m.d = d
        self.m.hidden = hidden
        self.m.w1 = <float *>_aligned(sizeof(float) * hidden * 3)
        self.m.scratch = <float *>_aligned(sizeof(float) * hidden)
        self.m.b1 = <float *>_aligned(sizeof(float) * hidden)
        self.m.w2t = <float *>_aligned(sizeof(float) * hidden * FQ_OUT_PAD)
        cdef const float[:, ::1] vw1 = w1
        cdef const float[::1] vb1 = b1
        cdef const float[:, ::1] vw2 = w2
        cdef const float[::1] vb2 = b2
        cdef int i, j
        for i in range(hidden):
            self.m.b1[i] = vb1[i]
            for j in range(d):
                self.m.w1[j * hidden + i] = vw1[i, j]
            for j in range(FQ_NPARAMS):
                self.m.w2t[i * FQ_OUT_PAD + j] = vw2[j, i]
        for j in range(FQ_OUT_PAD):
            self.m.b2[j] = vb2[j] if j < FQ_NPARAMS else 0.0

    def __dealloc__(self):
        free(self.m.w1)
        free(self.m.scratch)
        free(self.m.b1)
        free(self.m.w2t)

    @property
    def latent_dim(self) -> int:
        return self.m.d

    @property
    def hidden(self) -> int:
        return self.m.hidden

    cdef void forward_c(self, const double *z, double *out) noexcept nogil:
        fq_decode(&self.m, z, out)

    cdef void params_c(self, const double *z, double *params) noexcept nogil:
        cdef double u[13]
        fq_decode(&self.m, z, u)
        fq_denormalize_sorted(u, params)

    def forward(self, z):
        """Normalised decoder output (13,) in [0, 1] for a latent point z (d,)."""
        cdef double zz[3]
        cdef double out[13]
        self._latent(z, zz)
        with nogil:
            fq_decode(&self.m, zz, out)
        return np.array([out[i] for i in range(FQ_NPARAMS)])

    def params(self, z):
        """The 13 EQ parameters (denormalised, in range, middle bands sorted) for z (d,)."""
        cdef double zz[3]
        cdef double out[13]
        self._latent(z, zz)
        with nogil:
            self.params_c(zz, out)
        return np.array([out[i] for i in range(FQ_NPARAMS)])

    def update_sos(self, z, double samplerate, double strength=1.0, active=None):
        """The full control update: z -> 13 parameters -> strength -> coefficients (5, 6)."""
        cdef double zz[3]
        cdef double p[13]
        cdef int act[5]
        cdef double c[25]
        self._latent(z, zz)
        _active5(active, act)
        _check_rate(samplerate)
        with nogil:
            control_update(&self.m, zz, strength, act, samplerate, p, c)
        return np.array([[c[5 * b], c[5 * b + 1], c[5 * b + 2], 1.0, c[5 * b + 3], c[5 * b + 4]]
                         for b in range(FQ_BANDS)])

    cdef void _latent(self, z, double *zz) except *:
        arr = np.asarray(z, dtype=np.float64).reshape(-1)
        if arr.shape[0] != self.m.d:
            raise ValueError(f"latent point must have {self.m.d} values, got {arr.shape[0]}")
        cdef int k
        for k in range(3):
            zz[k] = arr[k] if k < self.m.d else 0.0


cdef void control_update(const fq_decoder *m, const double *z, double strength, const int *active,
                         double fs, double *params, double *coef) noexcept nogil:
    """Latent point -> parameters (with strength) -> coefficients, all in C."""
    cdef double u[13]
    fq_decode(m, z, u)
    fq_denormalize_sorted(u, params)
    fq_apply_strength(params, strength)
    fq_design_all(params, active, fs, coef)


def bench_control_update(Decoder dec, z, double samplerate, int repeats):
    """Run the full control update ``repeats`` times without the GIL (for benchmarks)."""
    cdef double zz[3]
    cdef double p[13]
    cdef double c[25]
    cdef int act[5]
    cdef int i
    dec._latent(z, zz)
    for i in range(5):
        act[i] = 1
    with nogil:
        for i in range(repeats):
            zz[0] += 1e-9
            control_update(&dec.m, zz, 1.0, act, samplerate, p, c)
    return float(c[0])


def bench_decode(Decoder dec, z, int repeats):
    """Run the decoder forward pass ``repeats`` times without the GIL (for benchmarks)."""
    cdef double zz[3]
    cdef double out[13]
    cdef int i
    dec._latent(z, zz)
    with nogil:
        for i in range(repeats):
            zz[0] += 1e-9
            fq_decode(&dec.m, zz, out)
    return float(out[0])


def bench_cascade(Cascade cas, float[:, ::1] block, int repeats, params_a=None, params_b=None):
    """Process ``block`` ``repeats`` times in C; with params_a/params_b, retarget every block."""
    cdef double pa[13]
    cdef double pb[13]
    cdef int act[5]
    cdef int i
    cdef int glide = params_a is not None
    for i in range(5):
        act[i] = 1
    if glide:
        _vec13(params_a, pa)
        _vec13(params_b, pb)
    cdef int frames = block.shape[0]
    with nogil:
        for i in range(repeats):
            if glide:
                if i % 2:
                    cas.set_params_c(pa, act)
                else:
                    cas.set_params_c(pb, act)
            fq_cascade_process(&cas.s, &block[0, 0], frames)
    return None


# ====================================================================== the engine's processor
#
# Slots in the shared blocks. They mirror floweq_tui/controls.py (a test checks that).

cdef enum:
    C_MODE = 0
    C_MODEL = 1
    C_X = 2
    C_Y = 3
    C_Z = 4
    C_EXTEND = 5
    C_ANCHOR_A = 6
    C_ANCHOR_B = 7
    C_INTERP = 8
    C_P0 = 9
    C_ACTIVE0 = 22
    C_STRENGTH = 27
    C_IN_GAIN = 28
    C_OUT_GAIN = 29
    C_AUTO = 30
    C_AUTO_TIME = 31
    C_AUTO_RANGE = 32
    C_BYPASS = 33
    C_MUTE = 34
    C_GLIDE = 35
    C_BPM = 36
    C_BEAT_ORIGIN = 37
    C_BEAT_TIME = 38
    C_TRANSPORT = 39
    C_TEMPO_SOURCE = 40
    C_LFO0 = 41           # 4 modulators of C_LFO_SLOTS slots: on, target, shape, sync, rate,
    C_LFO_SLOTS = 9       # note, depth, phase, unipolar
    C_FIG = 77            # fig_on, shape, sync, rate, note, depth, ratio, aspect, phase
    # the path and the recording (path_kernel.c) follow the figure; relative, so slots added
    # before them move them all by one edit of C_PATH_ON
    C_PATH_ON = C_FIG + 9
    C_PATH_POS = C_PATH_ON + 1
    C_PATH_N = C_PATH_ON + 2
    C_WP0 = C_PATH_ON + 3         # N_WAYPOINTS_C x (x, y, z)
    N_WAYPOINTS_C = 8
    C_REC_PLAY = C_WP0 + 3 * N_WAYPOINTS_C   # rec_play, arm, overdub, target, bars, state,
    C_REC_TARGET = C_REC_PLAY + 3            # start, beats, n, then the points
    C_REC_START = C_REC_PLAY + 6
    C_REC_BEATS = C_REC_PLAY + 7
    C_REC_N = C_REC_PLAY + 8
    C_REC_V0 = C_REC_PLAY + 9     # REC_POINTS_C points (fractions of the target's range)
    REC_POINTS_C = 128
    C_REC_TARGET2 = C_REC_V0 + REC_POINTS_C   # the second lane: target + 1 (0: none),
    C_REC_LANES = C_REC_TARGET2 + 1           # the lanes the loop holds (1, 2),
    C_REC_W0 = C_REC_TARGET2 + 2              # then its REC_POINTS_C points
    C_MORPH_MS = C_REC_W0 + REC_POINTS_C   # preset morphs (docs/presets.md)
    C_MORPH_BEATS = C_MORPH_MS + 1
    C_MORPH_SEQ = C_MORPH_MS + 2
    C_PROGRAM = C_MORPH_MS + 3    # program, preset_next/prev/save (the MIDI process's)
    C_TAP = C_PROGRAM + 4     # tap tempo (read by the MIDI service, not here)
    C_AB_ON = C_TAP + 1       # A/B: on, slot, fade ms, loudness match, copy, then the other
    C_AB_SLOT = C_AB_ON + 1   # slot's sound: a twin of slots 0 .. C_SOUND - 1
    C_AB_FADE = C_AB_ON + 2
    C_AB_MATCH = C_AB_ON + 3
    C_AB_COPY = C_AB_ON + 4   # an action for the writers (floweq_tui/ab.py); not read here
    C_AB_SOUND = C_AB_ON + 5
    C_SOUND = 28              # mode .. strength: what an A/B slot holds
    N_CONTROLS_C = C_AB_SOUND + C_SOUND
    N_MOD_TARGETS = 21    # x y z interpolate strength in_gain out_gain p0..p12 path_pos
    T_IN_GAIN = 5
    T_OUT_GAIN = 6
    T_PATH_POS = 20

cdef enum:
    M_CALLBACKS = 0
    M_FRAMES = 1
    M_XRUNS = 2
    M_CPU = 3
    M_CPU_MAX = 4
    M_CALLBACK_US = 5
    M_PEAK_IN = 6
    M_PEAK_OUT = 7
    M_LUFS_IN = 8
    M_LUFS_OUT = 9
    M_AUTO_DB = 10
    M_LIMITED = 11
    M_LIMITER_DB = 12
    M_NAN_RESETS = 13
    M_APPLIED = 14
    M_LAST_CHANGE = 15
    M_MODE = 16
    M_MODEL = 17
    M_ZX = 18
    M_P0 = 21
    M_SOURCE_POS = 34
    M_RING_POS = 35
    M_SAMPLERATE = 36
    M_BLOCKSIZE = 37
    M_CHANNELS = 38
    M_STATE = 39
    M_HEARTBEAT = 40
    M_BEAT = 41
    M_BPM_NOW = 42
    M_LFO_VALUE0 = 43
    M_MOD_X = 47
    M_MOD_Y = 48
    M_MODS_RUNNING = 49
    N_METERS_C = 50

CONTROL_SLOTS = {
    "mode": C_MODE, "model": C_MODEL, "x": C_X, "y": C_Y, "z": C_Z, "extend": C_EXTEND,
    "anchor_a": C_ANCHOR_A, "anchor_b": C_ANCHOR_B, "interpolate": C_INTERP, "p0": C_P0,
    "active0": C_ACTIVE0, "strength": C_STRENGTH, "in_gain": C_IN_GAIN, "out_gain": C_OUT_GAIN,
    "auto_gain": C_AUTO, "auto_time": C_AUTO_TIME, "auto_range": C_AUTO_RANGE,
    "bypass": C_BYPASS, "mute": C_MUTE, "glide_ms": C_GLIDE, "bpm": C_BPM,
    "beat_origin": C_BEAT_ORIGIN, "beat_time": C_BEAT_TIME, "transport": C_TRANSPORT,
    "tempo_source": C_TEMPO_SOURCE, "lfo1_on": C_LFO0, "lfo2_on": C_LFO0 + C_LFO_SLOTS,
    "lfo4_unipolar": C_LFO0 + 4 * C_LFO_SLOTS - 1, "fig_on": C_FIG, "fig_phase": C_FIG + 8,
    "path_on": C_PATH_ON, "path_pos": C_PATH_POS, "path_n": C_PATH_N, "path_wp0_x": C_WP0,
    "path_wp7_z": C_WP0 + 3 * N_WAYPOINTS_C - 1, "rec_play": C_REC_PLAY,
    "rec_target": C_REC_TARGET, "rec_start": C_REC_START, "rec_beats": C_REC_BEATS,
    "rec_n": C_REC_N, "rec_v0": C_REC_V0, "rec_v127": C_REC_V0 + REC_POINTS_C - 1,
    "rec_target2": C_REC_TARGET2, "rec_lanes": C_REC_LANES, "rec_w0": C_REC_W0,
    "rec_w127": C_REC_W0 + REC_POINTS_C - 1,
    "morph_ms": C_MORPH_MS, "morph_beats": C_MORPH_BEATS, "morph_seq": C_MORPH_SEQ,
    "program": C_PROGRAM, "preset_save": C_PROGRAM + 3, "tap": C_TAP,
    "ab_on": C_AB_ON, "ab_slot": C_AB_SLOT, "ab_fade_ms": C_AB_FADE, "ab_match": C_AB_MATCH,
    "ab_copy": C_AB_COPY, "ab_mode": C_AB_SOUND, "ab_strength": C_AB_SOUND + C_SOUND - 1,
    "_count": N_CONTROLS_C,
}
MOD_TARGET_SLOTS = (C_X, C_Y, C_Z, C_INTERP, C_STRENGTH, C_IN_GAIN, C_OUT_GAIN,
                    *range(C_P0, C_P0 + 13), C_PATH_POS)
"""The control slot of each modulator target (floweq_tui.controls.MOD_TARGETS, in order)."""
LFOS = FQ_LFOS
MOD_CHUNK = FQ_MOD_CHUNK
"""Samples between two evaluations of the modulators (on the processor's sample grid)."""


def mod_wave(int shape, cycles, seed=0x5EED, int stream=0):
    """One modulator shape at each position in ``cycles`` (for tests and the docs), in [-1, 1]."""
    c = np.ascontiguousarray(cycles, dtype=np.float64)
    out = np.empty_like(c)
    cdef double[::1] vc = c.reshape(-1)
    cdef double[::1] vo = out.reshape(-1)
    cdef Py_ssize_t i
    for i in range(vc.shape[0]):
        vo[i] = fq_mod_wave(shape, vc[i], <uint64_t>seed, <uint64_t>stream)
    return out
def path_point(waypoints, double pos):
    """The path's (x, y, z) at ``pos`` (0..1) through ``waypoints`` ((n, 3)), as the engine
    evaluates it (for tests, the UI's drawing of the path and the docs)."""
    w = np.ascontiguousarray(waypoints, dtype=np.float64).reshape(-1, 3)
    cdef double[::1] vw = w.reshape(-1) if w.shape[0] else np.zeros(3)
    cdef double xyz[3]
    fq_path_eval(&vw[0], <int>w.shape[0], pos, xyz)
    return (xyz[0], xyz[1], xyz[2])


def rec_value(points, double phase):
    """A recorded loop's value at ``phase`` (cycles), as the engine plays it."""
    p = np.ascontiguousarray(points, dtype=np.float64).reshape(-1)
    cdef double[::1] vp = p if p.shape[0] else np.zeros(1)
    return fq_rec_eval(&vp[0], <int>p.shape[0], phase)


METER_SLOTS = {
    "callbacks": M_CALLBACKS, "frames": M_FRAMES, "xruns": M_XRUNS, "cpu": M_CPU,
    "cpu_max": M_CPU_MAX, "callback_us": M_CALLBACK_US, "peak_in": M_PEAK_IN,
    "peak_out": M_PEAK_OUT, "lufs_in": M_LUFS_IN, "lufs_out": M_LUFS_OUT,
    "auto_gain_db": M_AUTO_DB, "limited": M_LIMITED, "limiter_db": M_LIMITER_DB,
    "nan_resets": M_NAN_RESETS, "controls_applied": M_APPLIED,
    "block_of_last_change": M_LAST_CHANGE, "mode": M_MODE, "model": M_MODEL, "zx": M_ZX,
    "p0": M_P0, "source_pos": M_SOURCE_POS, "ring_pos": M_RING_POS,
    "samplerate": M_SAMPLERATE, "blocksize": M_BLOCKSIZE, "channels": M_CHANNELS,
    "state": M_STATE, "heartbeat": M_HEARTBEAT, "beat": M_BEAT, "bpm_now": M_BPM_NOW,
    "lfo1_value": M_LFO_VALUE0, "mod_x": M_MOD_X, "mod_y": M_MOD_Y,
    "mods_running": M_MODS_RUNNING, "_count": N_METERS_C,
}

cdef int[5] _GAIN_AT = [0, 2, 5, 8, 11]     # each band's gain among the 13 parameters
cdef int[13] _IS_GAIN = [1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0]

DEF MAX_MODELS = 64
DEF MAX_ANCHORS = 64
DEF LUFS_SUBBLOCKS = 30       # 3 s short-term window in 100 ms steps
cdef double LIMIT_CEILING = 0.98855309465  # -0.1 dBFS
cdef double LUFS_FLOOR = -200.0
OUTPUT_CEILING = LIMIT_CEILING
"""The limiter's ceiling (-0.1 dBFS): no output sample ever exceeds it."""


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline double _clampd(double v, double lo, double hi) noexcept nogil:
    if not (v >= lo):
        return lo
    if v > hi:
        return hi
    return v


cdef inline int _rec_targets(const double *c, int *second) noexcept nogil:
    """A recording's target, and in ``second`` its second lane's (-1: none; the controls
    hold it as target + 1, and a second lane on the first's target is none)."""
    cdef int rt = <int>_clampd(c[C_REC_TARGET], 0, N_MOD_TARGETS - 1)
    cdef int rt2 = <int>_clampd(c[C_REC_TARGET2], 0, N_MOD_TARGETS) - 1
    second[0] = rt2 if c[C_REC_LANES] >= 1.5 and rt2 != rt else -1
    return rt


cdef inline double _db_to_lin(double db) noexcept nogil:
    return pow(10.0, db / 20.0)


cdef struct kmeter:
    # K-weighting (2 biquads, DF1, per channel) and the 3 s short-term window
    double *hist          # nch * 2 sections * 4
    double sub_sum        # weighted sum of squares in the current 100 ms step
    int sub_count
    double ring[LUFS_SUBBLOCKS]
    int ring_n            # steps held (<= 30)
    int ring_pos
    double lufs


cdef void _kmeter_step(kmeter *k) noexcept nogil:
    """Close a 100 ms step (``sub_sum`` over ``sub_count`` samples): the short-term loudness."""
    cdef int j
    cdef double total
    k.ring[k.ring_pos] = k.sub_sum / k.sub_count
    k.ring_pos = (k.ring_pos + 1) % LUFS_SUBBLOCKS
    if k.ring_n < LUFS_SUBBLOCKS:
        k.ring_n += 1
    k.sub_sum = 0.0
    k.sub_count = 0
    total = 0.0
    for j in range(k.ring_n):
        total += k.ring[j]
    total /= k.ring_n
    k.lufs = -0.691 + 10.0 * log10(total) if total > 1e-20 else LUFS_FLOOR


cdef void _kmeter_feed(kmeter *k, const float *buf, int frames, int nch, const double *sos,
                       const double *weights, int sub_len) noexcept nogil:
    """K-weight the block, accumulate weighted mean squares, close 100 ms steps as they fill.

    The coefficients, the histories and the running sum are held in locals for the block (a
    store to the history could otherwise be taken for a change to them, and every sample
    would load them again); the arithmetic is the same, in the same order.
    """
    cdef int i, ch
    cdef double x, y, acc, sub_sum = k.sub_sum
    cdef int sub_count = k.sub_count
    cdef double c0 = sos[0], c1 = sos[1], c2 = sos[2], c4 = sos[4], c5 = sos[5]
    cdef double d0 = sos[6], d1 = sos[7], d2 = sos[8], d4 = sos[10], d5 = sos[11]
    cdef double h0, h1, h2, h3, e0, e1, e2, e3, g0, g1, g2, g3, f0, f1, f2, f3, w0, w1
    cdef double hl[8 * 64]  # (MAX_CHANNELS)
    cdef double *h
    if nch == 2:  # stereo, the common case: every history in a register
        h0, h1, h2, h3, e0, e1, e2, e3 = k.hist[0], k.hist[1], k.hist[2], k.hist[3], k.hist[4], k.hist[5], k.hist[6], k.hist[7]
        g0, g1, g2, g3, f0, f1, f2, f3 = k.hist[8], k.hist[9], k.hist[10], k.hist[11], k.hist[12], k.hist[13], k.hist[14], k.hist[15]
        w0, w1 = weights[0], weights[1]
        for i in range(frames):
            x = buf[2 * i]
            y = c0 * x + c1 * h0 + c2 * h1 - c4 * h2 - c5 * h3
            h1 = h0
            h0 = x
            h3 = h2
            h2 = y
            x = y
            y = d0 * x + d1 * e0 + d2 * e1 - d4 * e2 - d5 * e3
            e1 = e0
            e0 = x
            e3 = e2
            e2 = y
            acc = 0.0
            acc += w0 * y * y
            x = buf[2 * i + 1]
            y = c0 * x + c1 * g0 + c2 * g1 - c4 * g2 - c5 * g3
            g1 = g0
            g0 = x
            g3 = g2
            g2 = y
            x = y
            y = d0 * x + d1 * f0 + d2 * f1 - d4 * f2 - d5 * f3
            f1 = f0
            f0 = x
            f3 = f2
            f2 = y
            acc += w1 * y * y
            sub_sum += acc
            sub_count += 1
            if sub_count >= sub_len:
                k.sub_sum, k.sub_count = sub_sum, sub_count
                _kmeter_step(k)
                sub_sum, sub_count = 0.0, 0
        k.hist[0], k.hist[1], k.hist[2], k.hist[3], k.hist[4], k.hist[5], k.hist[6], k.hist[7] = h0, h1, h2, h3, e0, e1, e2, e3
        k.hist[8], k.hist[9], k.hist[10], k.hist[11], k.hist[12], k.hist[13], k.hist[14], k.hist[15] = g0, g1, g2, g3, f0, f1, f2, f3
    else:
        memcpy(hl, k.hist, sizeof(double) * nch * 8)
        for i in range(frames):
            acc = 0.0
            for ch in range(nch):
                x = buf[i * nch + ch]
                h = hl + ch * 8
                y = c0 * x + c1 * h[0] + c2 * h[1] - c4 * h[2] - c5 * h[3]
                h[1] = h[0]
                h[0] = x
                h[3] = h[2]
                h[2] = y
                x = y
                y = d0 * x + d1 * h[4] + d2 * h[5] - d4 * h[6] - d5 * h[7]
                h[5] = h[4]
                h[4] = x
                h[7] = h[6]
                h[6] = y
                acc += weights[ch] * y * y
            sub_sum += acc
            sub_count += 1
            if sub_count >= sub_len:
                k.sub_sum, k.sub_count = sub_sum, sub_count
                _kmeter_step(k)
                sub_sum, sub_count = 0.0, 0
        memcpy(k.hist, hl, sizeof(double) * nch * 8)
    k.sub_sum, k.sub_count = sub_sum, sub_count
    # keep denormals and non-finite values out of the filter state
    for i in range(nch * 8):
        if not isfinite(k.hist[i]):
            memset(k.hist, 0, sizeof(double) * nch * 8)
            k.sub_sum = 0.0
            break
        if fabs(k.hist[i]) < 1e-30:
            k.hist[i] = 0.0


DEF HIST_DOUBLES = 12        # filter history doubles per channel (Cascade allocates as many)


cdef inline void _cascade_target(fq_cascade *s, const double *params, const int *active) noexcept nogil:
    """Cascade.set_params_c on a bare cascade (the A/B pair is reached by pointer)."""
    fq_sanitize_params(params, s.pend_p)
    cdef int b
    for b in range(FQ_BANDS):
        s.pend_active[b] = active[b]
    s.pending = 1


cdef inline kmeter _kmeter_copy(kmeter dst, kmeter src, int nch) noexcept nogil:
    """src's state in dst (dst keeps its own history buffer)."""
    cdef double *h = dst.hist
    memcpy(h, src.hist, sizeof(double) * nch * 8)
    dst = src
    dst.hist = h
    return dst


cdef class Processor:
    """One audio block in, one out: the whole signal chain of the engine, without the GIL.

    input gain -> EQ (strength, glide) -> auto gain -> bypass crossfade -> output gain ->
    mute -> limiter (never beyond -0.1 dBFS), with meters written to a shared block. Reads
    the controls block once per block and re-derives the EQ when any control changed.
    """

    cdef Cascade eq
    # A/B: a second cascade for the other slot; cl/co point at the live and the other one
    cdef Cascade eq_o
    cdef fq_cascade *cl
    cdef fq_cascade *co
    cdef float *obuf
    cdef kmeter k_o
    cdef double g_auto_db_o, g_auto_o, auto_target_o
    cdef double ab_w            # weight of the live cascade in the crossfade (1 = only live)
    cdef double ab_last_slot
    cdef int ab_running
    cdef int nch
    cdef double fs
    cdef int max_block
    cdef object _controls_ref, _meters_ref, _decoders, _source, _pending_source
    cdef object _capture, _pending_capture
    cdef public list retired
    cdef double *ctl
    cdef double *met
    cdef int ring_frames
    cdef double applied[N_CONTROLS_C]
    cdef int have_applied
    cdef fq_decoder *models[MAX_MODELS]
    cdef int n_models
    cdef double anchors[MAX_MODELS][MAX_ANCHORS][3]
    cdef int n_anchors[MAX_MODELS]
    cdef float *dry
    cdef double ksos[12]
    cdef double kweights[64]
    cdef int k_sub_len
    cdef kmeter k_in, k_out
    cdef double g_in, g_post, g_auto_db, g_auto, mix_dry, lim_gain, lim_release
    cdef double auto_target_db
    cdef float *src
    cdef int64_t src_frames, src_pos
    cdef int src_pending
    cdef int cap_pending  # a capture is staged (_pending_capture is not None)
    cdef bint reset_pending
    cdef bint capture_waits
    cdef float *cap
    cdef int64_t cap_frames, cap_pos, cap_start
    cdef public int64_t capture_source_start
    cdef double params_now[13]
    cdef double z_now[3]
    cdef int64_t ring_pos
    # the input history (controls.History): samples, header, ring length, frames written
    cdef object _history_ref
    cdef float *hist
    cdef double *hist_hdr
    cdef int64_t hist_len, hist_pos, hist_at
    # automation: the controls in effect (ctl plus modulation), tempo and modulator state
    cdef double eff[N_CONTROLS_C]
    cdef double t_lo[N_MOD_TARGETS]
    cdef double t_hi[N_MOD_TARGETS]
    cdef int t_log[N_MOD_TARGETS]
    cdef int t_slot[N_MOD_TARGETS]
    cdef double notes[32]
    cdef int n_notes
    cdef fq_mod_state mod
    cdef fq_lfo_params lfo[FQ_LFOS]
    cdef fq_fig_params fig
    cdef int mods_on
    cdef int motion_on       # a path or a recording plays: evaluated on the modulators' grid
    cdef double centre_xy[2] # x's and y's centres (fractions) for the walk, after path/recording
    cdef bint wall_clock
    cdef int64_t clock_frames
    cdef double beat, bps, beat_base, beat_bpm
    cdef int64_t beat_frames   # frames since beat_base (the beat is counted, not summed)
    cdef bint have_tempo
    cdef double last_bpm, last_origin, last_time, last_source
    # preset morph: from the sound in effect when morph_seq changed to the controls now
    cdef double morph_seq_seen
    cdef bint morphing
    cdef int64_t morph_pos, morph_len
    cdef double m_z[3]          # latent point in effect at the start
    cdef int m_model            # its model (-1: not a latent point)
    cdef double m_tgt[13]       # the EQ target in effect at the start (strength, bands in)
    cdef double m_fac[5]        # per-band gain factor (strength x switch) at the start
    cdef double m_in, m_out     # input and output gain (dB) at the start
    cdef double tgt_now[13]     # the same four, kept up to date by every apply
    cdef double fac_now[5]
    cdef int model_now
    cdef double in_now, out_now

    def __cinit__(self, int channels, double samplerate, int max_block, controls, meters,
                  decoders=(), anchors=(), double glide_ms=20.0, bint wall_clock=True,
                  seed=0x5EED, history=None):
        self.eq = Cascade(channels, samplerate, glide_ms)
        self.eq_o = Cascade(channels, samplerate, glide_ms)
        self.cl = &self.eq.s
        self.co = &self.eq_o.s
        self.ab_w = 1.0
        self.wall_clock = wall_clock
        self.mod.seed = <uint64_t>seed
        fq_mod_reset(&self.mod)
        from floweq_tui.controls import CONTROL_SPECS, NOTE_VALUES
        for ti, slot in enumerate(MOD_TARGET_SLOTS):
            self.t_slot[ti] = slot
            self.t_lo[ti] = CONTROL_SPECS[slot].min
            self.t_hi[ti] = CONTROL_SPECS[slot].max
            self.t_log[ti] = CONTROL_SPECS[slot].log
        self.n_notes = min(len(NOTE_VALUES), 32)
        for ti in range(self.n_notes):
            self.notes[ti] = NOTE_VALUES[ti][1]
        self.nch = channels
        self.fs = samplerate
        if max_block < 1 or max_block > 65536:
            raise ValueError(f"block size must be 1-65536 frames, got {max_block}")
        self.max_block = max_block
        c = np.asarray(controls)
        m = np.asarray(meters)
        if c.dtype != np.float64 or c.ndim != 1 or c.shape[0] < N_CONTROLS_C or not c.flags.c_contiguous:
            raise ValueError(f"controls must be a contiguous float64 array of {N_CONTROLS_C}")
        if m.dtype != np.float64 or m.ndim != 1 or m.shape[0] < N_METERS_C or not m.flags.c_contiguous:
            raise ValueError(f"meters must be a contiguous float64 array of at least {N_METERS_C}")
        cdef double[::1] cv = c
        cdef double[::1] mv = m
        self._controls_ref = c
        self._meters_ref = m
        self.ctl = &cv[0]
        self.met = &mv[0]
        self.ring_frames = (m.shape[0] - N_METERS_C) // 2
        if history is not None:
            self._attach_history(history, samplerate, max_block)
        self.retired = []
        self._decoders = list(decoders)
        if len(self._decoders) > MAX_MODELS:
            raise ValueError(f"at most {MAX_MODELS} models")
        cdef Decoder dec
        cdef int i, j, k
        self.n_models = len(self._decoders)
        anchors = list(anchors)
        for i in range(self.n_models):
            dec = self._decoders[i]
            self.models[i] = &dec.m
            a = np.zeros((0, dec.m.d)) if i >= len(anchors) else np.asarray(anchors[i], dtype=np.float64)
            if a.ndim != 2 or (a.shape[0] and a.shape[1] != dec.m.d):
                raise ValueError(f"anchors of model {i} must be (n, {dec.m.d})")
            self.n_anchors[i] = min(a.shape[0], MAX_ANCHORS)
            for j in range(self.n_anchors[i]):
                for k in range(3):
                    self.anchors[i][j][k] = a[j, k] if k < dec.m.d else 0.0
        self.dry = <float *>_aligned(sizeof(float) * max_block * channels)
        from floweq_tui.eqmath import k_weighting_sos
        ks = k_weighting_sos(samplerate)
        for i in range(2):
            for j in range(6):
                self.ksos[6 * i + j] = ks[i, j]
        for i in range(64):
            self.kweights[i] = 1.41 if (channels >= 5 and i in (3, 4)) else 1.0
        self.k_sub_len = max(1, <int>(0.1 * samplerate + 0.5))
        self.k_in.hist = <double *>_aligned(sizeof(double) * channels * 8)
        self.k_out.hist = <double *>_aligned(sizeof(double) * channels * 8)
        self.k_o.hist = <double *>_aligned(sizeof(double) * channels * 8)
        self.obuf = <float *>_aligned(sizeof(float) * max_block * channels)
        self.k_in.lufs = LUFS_FLOOR
        self.k_out.lufs = LUFS_FLOOR
        self.k_o.lufs = LUFS_FLOOR
        self.g_auto_o = 1.0
        self.ab_last_slot = self.ctl[C_AB_SLOT]
        self.lim_release = 1.0 - exp(-1.0 / (0.050 * samplerate))  # 50 ms release
        self.lim_gain = 1.0
        self._tempo()
        self._modulate(self.beat)
        self.g_in = _db_to_lin(self.eff[C_IN_GAIN])
        self.g_post = self._post_gain()
        self.g_auto = 1.0
        self.mix_dry = 1.0 if self.ctl[C_BYPASS] >= 0.5 else 0.0
        self.morph_seq_seen = self.ctl[C_MORPH_SEQ]
        self._apply_controls()
        self.eq.finish_glide()
        self.eq_o.finish_glide()
        self.met[M_SAMPLERATE] = samplerate
        self.met[M_BLOCKSIZE] = max_block
        self.met[M_CHANNELS] = channels

    def _attach_history(self, history, double samplerate, int max_block):
        """Write the input history into ``history`` (a controls.History block, float64).

        A block a previous processor wrote is continued from its count (readers see one
        running position across a restart); a different rate starts its span anew there.
        """
        h = np.asarray(history)
        if h.dtype != np.float64 or h.ndim != 1 or not h.flags.c_contiguous or not h.flags.writeable:
            raise ValueError("history must be a writable contiguous float64 array")
        cdef double[::1] hv = h
        cdef int64_t length = <int64_t>hv[H_FRAMES]
        if hv.shape[0] < H_HEADER or length < 1 or (length + 1) // 2 > hv.shape[0] - H_HEADER:
            raise ValueError("history block: bad length in its header")
        if hv[H_MARGIN] < max_block:
            raise ValueError(f"history margin {hv[H_MARGIN]:g} is below the block limit {max_block}")
        self._history_ref = h
        self.hist_hdr = &hv[0]
        self.hist = <float *>&hv[H_HEADER]
        self.hist_len = length
        self.hist_pos = <int64_t>hv[H_POS]
        self.hist_at = self.hist_pos % length
        with nogil:  # (its samples are written one page after the other, the first time)
            fq_prefault(self.hist, sizeof(float) * <size_t>length)
        if hv[H_RATE] != samplerate:
            hv[H_RATE] = samplerate
            hv[H_START] = <double>self.hist_pos

    def __dealloc__(self):
        free(self.dry)
        free(self.k_in.hist)
        free(self.k_out.hist)
        free(self.k_o.hist)
        free(self.obuf)

    @property
    def cascade(self):
        """The cascade of the slot being heard (A/B swaps the two)."""
        return self.eq if self.cl == &self.eq.s else self.eq_o

    @property
    def ab_weight(self) -> float:
        """Where the A/B crossfade stands: the live slot's weight (1 once it is done)."""
        return self.ab_w

    # ------------------------------------------------------------ non-real-time requests

    def set_source(self, source, bint reset=False, int capture=0):
        """Loop ``source`` (float32 (frames, channels)) when there is no input; None = silence.

        Taken by the audio thread at its next block (with ``reset``, all signal state is
        cleared at that same block, so the output from there on equals an offline render);
        the old buffer is parked in ``retired`` so it is never freed on the audio thread.
        With ``capture`` > 0, recording of that many output frames starts at that very block.
        """
        if capture > 0:
            self._pending_capture = np.zeros((capture, self.nch), np.float32)
            self.capture_waits = True  # staged first: taken only with the source below
            self.cap_pending = 1
        self.reset_pending = reset
        if source is not None:
            source = np.ascontiguousarray(source, dtype=np.float32)
            if source.ndim != 2 or source.shape[1] != self.nch or source.shape[0] < 1:
                raise ValueError(f"source must be (frames, {self.nch}) float32")
        self._pending_source = source
        self.src_pending = 1

    def start_capture(self, int frames):
        """Record the next ``frames`` output frames (from the next block, or from the block
        that takes a pending source); read them with ``capture`` once full."""
        if frames < 1:
            raise ValueError("capture needs at least one frame")
        self._pending_capture = np.zeros((frames, self.nch), np.float32)
        self.capture_waits = False
        self.cap_pending = 1

    @property
    def capture(self):
        """The capture buffer once full (else None)."""
        if self._capture is not None and self.cap_pos >= self.cap_frames:
            return self._capture
        return None

    def collect(self):
        """Drop buffers the audio thread has let go of (call from a non-real-time thread)."""
        self.retired = []

    def finish_glide(self):
        """Both cascades jump to their targets at once: a hard switch (for tests)."""
        self.eq.finish_glide()
        self.eq_o.finish_glide()

    def reset(self):
        """Clear all signal state (filters, loudness windows, limiter)."""
        self.eq.reset()
        self.eq_o.reset()
        memset(self.k_o.hist, 0, sizeof(double) * self.nch * 8)
        self.k_o.ring_n = self.k_o.sub_count = 0
        self.k_o.sub_sum = 0.0
        self.k_o.lufs = LUFS_FLOOR
        self.g_auto_db_o = self.auto_target_o = 0.0
        self.g_auto_o = 1.0
        memset(self.k_in.hist, 0, sizeof(double) * self.nch * 8)
        memset(self.k_out.hist, 0, sizeof(double) * self.nch * 8)
        self.k_in.ring_n = self.k_out.ring_n = 0
        self.k_in.sub_count = self.k_out.sub_count = 0
        self.k_in.sub_sum = self.k_out.sub_sum = 0.0
        self.k_in.lufs = self.k_out.lufs = LUFS_FLOOR
        self.lim_gain = 1.0
        self.g_auto_db = 0.0
        self.g_auto = 1.0
        self.auto_target_db = 0.0
        # the song starts again here (offline = live: a file loaded with a reset starts at
        # beat 0 with every modulator at its start and the EQ and gains on their targets
        # there, as a render does)
        self.beat = self.beat_base = 0.0
        self.beat_frames = 0
        self.clock_frames = 0
        fq_mod_reset(&self.mod)
        self.morphing = False
        self.morph_seq_seen = self.ctl[C_MORPH_SEQ]
        self._modulate(0.0)
        if self._controls_changed():
            self._apply_controls()
        self.g_in = _db_to_lin(_clampd(self.eff[C_IN_GAIN], -24.0, 24.0))
        self.g_post = self._post_gain()
        self.eq.finish_glide()
        self.eq_o.finish_glide()
        self.ab_w = 1.0

    @property
    def beat_position(self) -> float:
        """The beat position the next block starts at (quarter notes)."""
        return self.beat

    # ------------------------------------------------------------ the block

    def process(self, indata, outdata, int status=0):
        """Process one block: ``indata`` (or None: the source) -> ``outdata`` (float32, frames x ch).

        Called from the audio callback; the work runs without the GIL and allocates nothing.
        """
        cdef Py_buffer vin
        cdef Py_buffer vout
        cdef int have_in = indata is not None
        cdef int frames
        cdef float *inp = NULL
        self._take_pending()
        PyObject_GetBuffer(outdata, &vout, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)
        try:
            if vout.ndim != 2 or vout.shape[1] != self.nch or vout.itemsize != 4:
                raise ValueError(f"outdata must be float32 (frames, {self.nch})")
            frames = <int>vout.shape[0]
            if frames > self.max_block:
                raise ValueError(f"block of {frames} frames exceeds the maximum {self.max_block}")
            if have_in:
                PyObject_GetBuffer(indata, &vin, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)
                try:
                    if vin.ndim != 2 or vin.shape[0] != frames or vin.shape[1] != self.nch or vin.itemsize != 4:
                        raise ValueError(f"indata must be float32 ({frames}, {self.nch})")
                    inp = <float *>vin.buf
                    with nogil:
                        self.process_c(inp, <float *>vout.buf, frames, status)
                finally:
                    PyBuffer_Release(&vin)
            else:
                with nogil:
                    self.process_c(NULL, <float *>vout.buf, frames, status)
        finally:
            PyBuffer_Release(&vout)

    cdef void _take_pending(self):
        """Take a source or a capture staged by set_source or start_capture (a block's start)."""
        if self.src_pending:
            self._swap_pending_source()
            if self.reset_pending:
                self.reset()
                self.reset_pending = False
            if self._pending_capture is not None:
                self._swap_pending_capture()
        elif self._pending_capture is not None and not self.capture_waits:
            self._swap_pending_capture()

    cdef inline bint _pending(self) noexcept nogil:
        return self.src_pending or (self.cap_pending and not self.capture_waits)

    def run_clock(self, out, joined, double period, int hot_batch, int doze_batch,
                  double doze_after, int stop_fd):
        """The silent clock (no device): process ``out``-sized blocks at the real-time rate,
        ``period`` s apart, until ``stop_fd`` is readable. Without the GIL, in C, as the
        engine's Python loop did: it wakes every ``hot_batch`` blocks, every ``doze_batch``
        once nothing moved for ``doze_after`` s (the controls, the decoded point and
        parameters; no modulator running). With the controls as they were at the previous
        wake-up and nothing ramped block by block (``_may_join``: no auto gain, no A/B, no
        morph, no modulator on a gain), dozing or not (modulators on x and y are evaluated
        on the processor's own sample grid whatever the block), it processes all but the
        last of the blocks due as one block of at most ``joined``'s frames (the same
        samples; the last block on its own meters what it did; the block count still counts
        ``out``-sized blocks). Falls 0.5 s behind (stopped, suspended): starts again from
        now.
        """
        cdef float[:, ::1] vo = out
        cdef float[:, ::1] vj = joined
        cdef int block = <int>vo.shape[0]
        cdef int big = <int>(vj.shape[0] // max(block, 1))
        cdef double cur_c[N_CONTROLS_C]
        cdef double seen_c[N_CONTROLS_C]
        cdef double seen_m[M_P0 + 13 - M_ZX]
        cdef int have_seen = 0
        cdef int n, left, batch
        cdef bint joined_ok
        cdef double now, due, moved_at, delay
        cdef pollfd pfd
        if vo.shape[1] != self.nch or vj.shape[1] != self.nch or block < 1 or big < 1:
            raise ValueError(f"blocks must be float32 (frames, {self.nch}), joined >= out")
        if vj.shape[0] > self.max_block or period <= 0.0 or hot_batch < 1 or doze_batch < 1:
            raise ValueError("bad clock settings")
        pfd.fd = stop_fd
        pfd.events = POLLIN
        with nogil:
            due = _now()
            moved_at = due
            while True:
                now = _now()
                if now - due > 0.5:
                    due = now
                memcpy(cur_c, self.ctl, sizeof(cur_c))
                joined_ok = (
                    have_seen and due <= now
                    and memcmp(cur_c, seen_c, sizeof(cur_c)) == 0
                    and self._may_join(cur_c)
                )
                if joined_ok:
                    left = <int>((now - due) / period)  # the blocks due but the last
                    while left > 0:
                        n = left if left < big else big
                        if self._pending():
                            with gil:
                                self._take_pending()
                        self.process_c(NULL, &vj[0, 0], n * block, 0)
                        self.met[M_CALLBACKS] += n - 1
                        due += n * period
                        left -= n
                while due <= now:
                    if self._pending():
                        with gil:
                            self._take_pending()
                    self.process_c(NULL, &vo[0, 0], block, 0)
                    due += period
                if (
                    not have_seen
                    or memcmp(cur_c, seen_c, sizeof(cur_c)) != 0
                    or memcmp(self.met + M_ZX, seen_m, sizeof(seen_m)) != 0
                    or self.met[M_MODS_RUNNING] > 0
                ):
                    memcpy(seen_c, cur_c, sizeof(cur_c))
                    memcpy(seen_m, self.met + M_ZX, sizeof(seen_m))
                    have_seen = 1
                    moved_at = now
                batch = hot_batch if now - moved_at < doze_after else doze_batch
                delay = due + (batch - 1) * period - _now()
                if poll(&pfd, 1, <int>ceil(delay * 1000.0) if delay > 0 else 0) > 0:
                    break

    cdef bint _may_join(self, const double *c) noexcept nogil:
        """Blocks processed as one give the same samples as one by one (``run_clock``):
        nothing is ramped across a block or taken once a block. Not with auto gain or its
        fade-out, A/B, a morph, tempo followed from outside (re-anchored every block), or a
        modulator or a recording moving a gain (the gains ramp once a block; x, y and the
        rest, the figures' only targets, move on the processor's own sample grid). ``c``: the controls now, the
        modulators as the last block read them (the same controls)."""
        cdef int i, rt, rt2
        if c[C_AUTO] >= 0.5 or c[C_AB_ON] >= 0.5 or self.ab_running or self.morphing:
            return False
        if self.g_auto_db != 0.0 or self.g_auto != 1.0 or c[C_TEMPO_SOURCE] >= 0.5:
            return False
        for i in range(FQ_LFOS):
            if self.lfo[i].on and self.lfo[i].target in (T_IN_GAIN, T_OUT_GAIN):
                return False
        if self.motion_on:
            rt = _rec_targets(c, &rt2)
            if rt in (T_IN_GAIN, T_OUT_GAIN) or rt2 in (T_IN_GAIN, T_OUT_GAIN):
                return False
        return True

    def may_join(self) -> bool:
        """Whether the silent clock would process its due blocks as one now (tests)."""
        return self._may_join(self.ctl)

    cdef void _swap_pending_source(self):
        cdef float[:, ::1] v
        if self._source is not None:
            self.retired.append(self._source)
        self._source = self._pending_source
        self._pending_source = None
        self.src_pending = 0
        if self._source is None:
            self.src = NULL
            self.src_frames = 0
        else:
            v = self._source
            self.src = &v[0, 0]
            self.src_frames = v.shape[0]
        self.src_pos = 0

    cdef void _swap_pending_capture(self):
        cdef float[:, ::1] v
        if self._capture is not None:
            self.retired.append(self._capture)
        self._capture = self._pending_capture
        self._pending_capture = None
        self.cap_pending = 0
        v = self._capture
        self.cap = &v[0, 0]
        self.cap_frames = v.shape[0]
        self.cap_pos = 0
        self.capture_source_start = self.src_pos

    cdef double _post_gain(self) noexcept nogil:
        """Output gain (modulated) times mute, as a linear factor."""
        if self.ctl[C_MUTE] >= 0.5:
            return 0.0
        return _db_to_lin(_clampd(self.eff[C_OUT_GAIN], -24.0, 24.0))

    cdef int _controls_changed(self) noexcept nogil:
        cdef int i
        if not self.have_applied:
            return 1
        for i in range(C_IN_GAIN):  # everything that shapes the EQ comes before the gains
            if self.eff[i] != self.applied[i]:
                return 1
        if self.eff[C_GLIDE] != self.applied[C_GLIDE]:
            return 1
        for i in range(C_AB_ON, N_CONTROLS_C):
            if self.eff[i] != self.applied[i]:
                return 1
        return 0

    # ------------------------------------------------------------ automation

    cdef void _tempo(self) noexcept nogil:
        """The beat position at this block's start (TEMPO_CONTRACT.md).

        beat(t) = beat_origin + (t - beat_time) * bpm / 60, t the block's start (monotonic
        seconds live, the frame count over the rate offline). The internal clock re-anchors
        only when a writer moves the anchor (or the tempo) and otherwise counts samples, so
        the live engine and a render give the same beats; MIDI clock and Link are followed
        every block. An anchor never written (beat_time 0) starts the song at the first block.
        """
        cdef double bpm = _clampd(self.ctl[C_BPM], 20.0, 300.0)
        cdef double origin = self.ctl[C_BEAT_ORIGIN]
        cdef double btime = self.ctl[C_BEAT_TIME]
        cdef double source = self.ctl[C_TEMPO_SOURCE]
        cdef double t, b
        cdef bint moved = (not self.have_tempo or bpm != self.last_bpm
                           or origin != self.last_origin or btime != self.last_time
                           or source != self.last_source)
        if self.ctl[C_TRANSPORT] >= 0.5 and (moved or source >= 0.5):
            if btime == 0.0 and origin == 0.0:
                b = self.beat if self.have_tempo else 0.0
            else:
                t = _now() if self.wall_clock else self.clock_frames / self.fs
                b = origin + (t - btime) * bpm / 60.0
            if isfinite(b):
                self.beat = b
                self.beat_base = b
                self.beat_frames = 0
        elif moved:  # a new tempo while stopped, or a stop: count on from here
            self.beat_base = self.beat
            self.beat_frames = 0
        if (self.ctl[C_TRANSPORT] >= 0.5) != (self.bps > 0.0):
            self.beat_base = self.beat
            self.beat_frames = 0
        self.have_tempo = True
        self.last_bpm, self.last_origin, self.last_time = bpm, origin, btime
        self.last_source = source
        self.bps = bpm / 60.0 if self.ctl[C_TRANSPORT] >= 0.5 else 0.0
        self.beat_bpm = bpm if self.ctl[C_TRANSPORT] >= 0.5 else 0.0
        self.met[M_BEAT] = self.beat
        self.met[M_BPM_NOW] = bpm

    cdef inline double _beat_at(self, int offset) noexcept nogil:
        """The beat ``offset`` frames after the current count (exact on the sample grid)."""
        return self.beat_base + ((self.beat_frames + offset) * self.beat_bpm) / (60.0 * self.fs)

    cdef void _read_modulators(self) noexcept nogil:
        """The modulators' parameters from the controls block (clamped), and how many run."""
        cdef int i, base, note
        cdef double *c = self.ctl
        self.mods_on = 0
        for i in range(FQ_LFOS):
            base = C_LFO0 + i * C_LFO_SLOTS
            self.lfo[i].on = c[base] >= 0.5
            self.lfo[i].target = <int>_clampd(c[base + 1], 0, N_MOD_TARGETS - 1)
            self.lfo[i].shape = <int>_clampd(c[base + 2], 0, 6)
            self.lfo[i].sync = c[base + 3] >= 0.5
            self.lfo[i].rate_hz = _clampd(c[base + 4], 0.01, 20.0)
            note = <int>_clampd(c[base + 5], 0, self.n_notes - 1)
            self.lfo[i].note_beats = self.notes[note]
            self.lfo[i].depth = _clampd(c[base + 6], -1.0, 1.0)
            self.lfo[i].phase = _clampd(c[base + 7], 0.0, 360.0) / 360.0
            self.lfo[i].unipolar = c[base + 8] >= 0.5
            self.mods_on += self.lfo[i].on
        self.fig.on = c[C_FIG] >= 0.5
        self.fig.shape = <int>_clampd(c[C_FIG + 1], 0, 2)
        self.fig.sync = c[C_FIG + 2] >= 0.5
        self.fig.rate_hz = _clampd(c[C_FIG + 3], 0.01, 20.0)
        self.fig.note_beats = self.notes[<int>_clampd(c[C_FIG + 4], 0, self.n_notes - 1)]
        self.fig.depth = _clampd(c[C_FIG + 5], 0.0, 1.0)
        self.fig.ratio = _clampd(c[C_FIG + 6], 0.25, 4.0)
        self.fig.aspect = _clampd(c[C_FIG + 7], 0.0, 2.0)
        self.fig.phase = _clampd(c[C_FIG + 8], 0.0, 360.0) / 360.0
        self.mods_on += self.fig.on
        self.met[M_MODS_RUNNING] = self.mods_on

    cdef double _centre(self, int t) noexcept nogil:
        """Target t's centre (the control's own value) as a fraction of its range."""
        cdef double v = _clampd(self.ctl[self.t_slot[t]], self.t_lo[t], self.t_hi[t])
        if self.t_log[t]:
            return log(v / self.t_lo[t]) / log(self.t_hi[t] / self.t_lo[t])
        return (v - self.t_lo[t]) / (self.t_hi[t] - self.t_lo[t])

    cdef void _modulate(self, double beat) noexcept nogil:
        """The controls in effect (eff) at this instant: the block's values, plus each running
        modulator's offset around the control's own value, clamped to the control's range.

        A playing motion recording replaces its target's centre (and with two lanes, its
        second target's too) with the recorded value at this beat, and a path (on, with waypoints) replaces the centres of x, y and z with its
        point at path_pos (itself modulated and recorded like any target); the modulators on
        x and y then move around the path's point (path_kernel.c).
        """
        cdef double off[N_MOD_TARGETS]
        cdef double base[N_MOD_TARGETS]
        cdef int over[N_MOD_TARGETS]
        cdef double xy[2]
        cdef double xyz[3]
        cdef int i, t, n, rt, rt2, path_n
        cdef double u, beats
        cdef bint rec_on, path_on
        memcpy(self.eff, self.ctl, sizeof(double) * N_CONTROLS_C)
        self._read_modulators()
        n = <int>_clampd(self.ctl[C_REC_N], 0, REC_POINTS_C)
        rec_on = self.ctl[C_REC_PLAY] >= 0.5 and n >= 2
        path_n = <int>_clampd(self.ctl[C_PATH_N], 0, N_WAYPOINTS_C)
        path_on = self.ctl[C_PATH_ON] >= 0.5 and path_n >= 1
        self.motion_on = rec_on
        if self.mods_on == 0 and not rec_on and not path_on:
            self.centre_xy[0] = self._centre(0)
            self.centre_xy[1] = self._centre(1)
            self.met[M_MOD_X] = self.eff[C_X]
            self.met[M_MOD_Y] = self.eff[C_Y]
            return
        memset(off, 0, sizeof(off))
        memset(over, 0, sizeof(over))
        for i in range(FQ_LFOS):
            off[self.lfo[i].target] += fq_lfo_offset(&self.mod, &self.lfo[i], i, beat)
        fq_fig_offset(&self.mod, &self.fig, beat, xy)
        off[0] += xy[0]
        off[1] += xy[1]
        if rec_on:
            rt = _rec_targets(self.ctl, &rt2)
            beats = _clampd(self.ctl[C_REC_BEATS], 1.0, 64.0)
            u = (beat - self.ctl[C_REC_START]) / beats
            base[rt] = _clampd(fq_rec_eval(self.ctl + C_REC_V0, n, u), 0.0, 1.0)
            over[rt] = 1
            # the second lane (a gesture over two controls): the same clock, its own points
            if rt2 >= 0:
                base[rt2] = _clampd(fq_rec_eval(self.ctl + C_REC_W0, n, u), 0.0, 1.0)
                over[rt2] = 1
        if path_on:
            u = _clampd((base[T_PATH_POS] if over[T_PATH_POS] else self._centre(T_PATH_POS))
                        + off[T_PATH_POS], 0.0, 1.0)
            self.eff[C_PATH_POS] = u
            off[T_PATH_POS] = 0.0
            over[T_PATH_POS] = 0
            fq_path_eval(self.ctl + C_WP0, path_n, u, xyz)
            for t in range(3):
                base[t] = (_clampd(xyz[t], -2.0, 2.0) + 2.0) / 4.0
                over[t] = 1
        for t in range(N_MOD_TARGETS):
            if off[t] == 0.0 and not over[t]:
                continue
            u = _clampd((base[t] if over[t] else self._centre(t)) + off[t], 0.0, 1.0)
            if self.t_log[t]:
                self.eff[self.t_slot[t]] = self.t_lo[t] * exp(u * log(self.t_hi[t] / self.t_lo[t]))
            else:
                self.eff[self.t_slot[t]] = self.t_lo[t] + u * (self.t_hi[t] - self.t_lo[t])
        self.centre_xy[0] = base[0] if over[0] else self._centre(0)
        self.centre_xy[1] = base[1] if over[1] else self._centre(1)
        for i in range(FQ_LFOS):
            self.met[M_LFO_VALUE0 + i] = self.eff[self.t_slot[self.lfo[i].target]] if self.lfo[i].on else 0.0
        self.met[M_MOD_X] = self.eff[C_X]
        self.met[M_MOD_Y] = self.eff[C_Y]

    cdef void _advance(self, int frames) noexcept nogil:
        """Move the free phases (and the walk) on by ``frames``."""
        fq_mod_advance(&self.mod, self.lfo, &self.fig, frames / self.fs, self.bps,
                       self.centre_xy[0], self.centre_xy[1])

    # ------------------------------------------------------------ preset morph

    cdef void _check_morph(self) noexcept nogil:
        """A new morph_seq starts a morph from the sound in effect (docs/presets.md)."""
        cdef double seq = self.ctl[C_MORPH_SEQ]
        cdef double beats, ms, length
        cdef int b
        if seq == self.morph_seq_seen:
            return
        self.morph_seq_seen = seq
        beats = _clampd(self.ctl[C_MORPH_BEATS], 0.0, 64.0)
        ms = _clampd(self.ctl[C_MORPH_MS], 0.0, 60000.0)
        if beats > 0.0:
            length = beats * 60.0 / _clampd(self.ctl[C_BPM], 20.0, 300.0) * self.fs
        else:
            length = ms * 1e-3 * self.fs
        if length < 1.0:
            return  # no morph: the new values go through the glide as any change does
        memcpy(self.m_z, self.z_now, sizeof(self.m_z))
        memcpy(self.m_tgt, self.tgt_now, sizeof(self.m_tgt))
        memcpy(self.m_fac, self.fac_now, sizeof(self.m_fac))
        self.m_model = self.model_now
        self.m_in = self.in_now
        self.m_out = self.out_now
        self.morph_pos = 0
        self.morph_len = <int64_t>(length + 0.5)
        self.morphing = True

    cdef inline double _morph_u(self) noexcept nogil:
        return <double>self.morph_pos / <double>self.morph_len if self.morphing else 1.0

    cdef void _morph_eff(self) noexcept nogil:
        """The gains in effect during a morph: from where they were toward the controls."""
        cdef double u
        if self.morphing:
            u = self._morph_u()
            self.eff[C_IN_GAIN] = self.m_in + u * (_clampd(self.eff[C_IN_GAIN], -24.0, 24.0) - self.m_in)
            self.eff[C_OUT_GAIN] = self.m_out + u * (_clampd(self.eff[C_OUT_GAIN], -24.0, 24.0) - self.m_out)
        self.in_now = _clampd(self.eff[C_IN_GAIN], -24.0, 24.0)
        self.out_now = _clampd(self.eff[C_OUT_GAIN], -24.0, 24.0)

    cdef void _morph_advance(self, int frames) noexcept nogil:
        if not self.morphing:
            return
        self.morph_pos += frames
        if self.morph_pos >= self.morph_len:
            self.morphing = False
            self.have_applied = 0  # the next look applies the controls as they are

    cdef void _derive_other(self, const double *c, double *target, int *act) noexcept nogil:
        """The other A/B slot's EQ target: its latent point or manual parameters, decoded
        as the live slot's are, with its strength and band switches (no morph, no modulators)."""
        cdef double p[13]
        cdef double z[3]
        cdef int i, mode, model, a, b, d
        cdef double t
        mode = <int>_clampd(c[C_MODE], 0, 2)
        model = <int>_clampd(c[C_MODEL], 0, MAX_MODELS - 1)
        z[0] = z[1] = z[2] = 0.0
        if mode != 2 and self.n_models > 0:
            if model >= self.n_models:
                model = self.n_models - 1
            d = self.models[model].d
            if mode == 0:
                for i in range(d):
                    z[i] = _clampd(c[C_X + i], -2.0, 2.0) * (2.0 if c[C_EXTEND] >= 0.5 else 1.0)
            elif self.n_anchors[model] > 0:
                a = min(<int>_clampd(c[C_ANCHOR_A], 0, MAX_ANCHORS - 1), self.n_anchors[model] - 1)
                b = min(<int>_clampd(c[C_ANCHOR_B], 0, MAX_ANCHORS - 1), self.n_anchors[model] - 1)
                t = _clampd(c[C_INTERP], 0.0, 1.0)
                for i in range(d):
                    z[i] = self.anchors[model][a][i] + t * (self.anchors[model][b][i] - self.anchors[model][a][i])
            fq_decode(self.models[model], z, p)
            fq_denormalize_sorted(p, p)
        else:
            fq_sanitize_params(c + C_P0, p)
        memcpy(target, p, sizeof(p))
        fq_apply_strength(target, c[C_STRENGTH])
        for i in range(5):
            act[i] = 1 if c[C_ACTIVE0 + i] >= 0.5 else 0

    cdef void _ab_controls(self, const double *c, int glide_len) noexcept nogil:
        """A/B: start or stop the other slot's cascade, swap the roles on a slot flip (the
        writer swapped the sound controls with their twins: floweq_tui/ab.py), and give the
        other cascade its target (the twins, decoded like the live slot)."""
        cdef double c2[N_CONTROLS_C]
        cdef double target[13]
        cdef int act[5]
        cdef fq_cascade *tmp
        cdef kmeter tk
        cdef double td
        if c[C_AB_ON] < 0.5:
            self.ab_running = 0
            self.ab_w = 1.0
            self.ab_last_slot = c[C_AB_SLOT]
            return
        if not self.ab_running:
            # the other cascade starts from the live one's signal state (no start-up transient)
            memcpy(self.co.hist, self.cl.hist, sizeof(double) * self.nch * HIST_DOUBLES)
            self.k_o = _kmeter_copy(self.k_o, self.k_out, self.nch)
            self.g_auto_db_o, self.g_auto_o, self.auto_target_o = self.g_auto_db, self.g_auto, self.auto_target_db
            self.ab_w = 1.0
            self.ab_running = 1
        elif c[C_AB_SLOT] != self.ab_last_slot:
            tmp = self.cl
            self.cl = self.co
            self.co = tmp
            tk = self.k_out
            self.k_out = self.k_o
            self.k_o = tk
            td = self.g_auto_db
            self.g_auto_db = self.g_auto_db_o
            self.g_auto_db_o = td
            td = self.g_auto
            self.g_auto = self.g_auto_o
            self.g_auto_o = td
            td = self.auto_target_db
            self.auto_target_db = self.auto_target_o
            self.auto_target_o = td
            self.ab_w = 1.0 - self.ab_w
        self.ab_last_slot = c[C_AB_SLOT]
        memcpy(c2, c, sizeof(double) * N_CONTROLS_C)
        memcpy(c2, c + C_AB_SOUND, sizeof(double) * C_SOUND)
        self._derive_other(c2, target, act)
        self.co.glide_len = glide_len
        _cascade_target(self.co, target, act)

    cdef void _apply_controls(self) noexcept nogil:
        """Controls -> latent point -> 13 parameters -> strength/bands -> a new EQ target."""
        cdef double c[N_CONTROLS_C]
        cdef double p[13]
        cdef double target[13]
        cdef double z[3]
        cdef int act[5]
        cdef double fac[5]
        cdef int i, mode, model, a, b, d
        cdef double scale, t, u
        cdef bint latent = False
        memcpy(c, self.eff, sizeof(double) * N_CONTROLS_C)
        self._ab_controls(c, fq_glide_samples(_clampd(c[C_GLIDE], 0.0, 1000.0), self.fs))
        mode = <int>_clampd(c[C_MODE], 0, 2)
        model = <int>_clampd(c[C_MODEL], 0, MAX_MODELS - 1)
        z[0] = z[1] = z[2] = 0.0
        if mode != 2 and self.n_models > 0:
            if model >= self.n_models:
                model = self.n_models - 1
            d = self.models[model].d
            if mode == 0:
                scale = 2.0 if c[C_EXTEND] >= 0.5 else 1.0
                for i in range(d):
                    z[i] = _clampd(c[C_X + i], -2.0, 2.0) * scale
            else:
                a = <int>_clampd(c[C_ANCHOR_A], 0, MAX_ANCHORS - 1)
                b = <int>_clampd(c[C_ANCHOR_B], 0, MAX_ANCHORS - 1)
                t = _clampd(c[C_INTERP], 0.0, 1.0)
                if self.n_anchors[model] > 0:
                    if a >= self.n_anchors[model]:
                        a = self.n_anchors[model] - 1
                    if b >= self.n_anchors[model]:
                        b = self.n_anchors[model] - 1
                    for i in range(d):
                        z[i] = self.anchors[model][a][i] + t * (self.anchors[model][b][i] - self.anchors[model][a][i])
            u = self._morph_u()
            latent = self.morphing and self.m_model == model
            if latent:  # both are points of this model: the morph walks the latent space
                for i in range(d):
                    z[i] = self.m_z[i] + u * (z[i] - self.m_z[i])
            fq_decode(self.models[model], z, p)
            fq_denormalize_sorted(p, p)
        else:
            mode = 2 if mode == 2 or self.n_models == 0 else mode
            fq_sanitize_params(c + C_P0, p)
        memcpy(self.params_now, p, sizeof(p))
        memcpy(self.z_now, z, sizeof(z))
        self.model_now = model if mode != 2 else -1
        memcpy(target, p, sizeof(p))
        # each band's gain factor: strength times its switch (a switched-off band is 0 dB,
        # where the design is the identity, so a morph can fade a band in or out)
        for i in range(5):
            fac[i] = _clampd(c[C_STRENGTH], 0.0, 1.0) * (1.0 if c[C_ACTIVE0 + i] >= 0.5 else 0.0)
            act[i] = 1 if c[C_ACTIVE0 + i] >= 0.5 else 0
        if self.morphing:
            u = self._morph_u()
            if latent:
                for i in range(5):
                    fac[i] = self.m_fac[i] + u * (fac[i] - self.m_fac[i])
                    target[_GAIN_AT[i]] *= fac[i]
            else:  # parameter space: gains in dB, frequencies and Qs on a log scale
                for i in range(5):
                    target[_GAIN_AT[i]] *= fac[i]
                for i in range(13):
                    if _IS_GAIN[i]:
                        target[i] = self.m_tgt[i] + u * (target[i] - self.m_tgt[i])
                    else:
                        target[i] = exp(log(self.m_tgt[i]) + u * (log(target[i]) - log(self.m_tgt[i])))
                self.model_now = -1  # a point between two sounds, not of a model
            for i in range(5):
                act[i] = 1
                self.fac_now[i] = fac[i]
            memcpy(self.tgt_now, target, sizeof(target))
        else:
            for i in range(5):
                self.fac_now[i] = fac[i]
                target[_GAIN_AT[i]] *= fac[i] if act[i] else 1.0
            memcpy(self.tgt_now, target, sizeof(target))
            for i in range(5):
                if not act[i]:
                    self.tgt_now[_GAIN_AT[i]] = 0.0
        glide = _clampd(c[C_GLIDE], 0.0, 1000.0)
        self.cl.glide_len = fq_glide_samples(glide, self.fs)
        self.eq._glide_ms = glide
        self.eq_o._glide_ms = glide
        _cascade_target(self.cl, target, act)
        memcpy(self.applied, c, sizeof(c))
        self.have_applied = 1
        self.met[M_MODE] = mode
        self.met[M_MODEL] = model
        for i in range(3):
            self.met[M_ZX + i] = z[i]
        for i in range(13):
            self.met[M_P0 + i] = p[i]
        self.met[M_APPLIED] += 1
        self.met[M_LAST_CHANGE] = self.met[M_CALLBACKS]

    cdef void process_c(self, const float *inp, float *out, int frames, int status) noexcept nogil:
        cdef double t0 = _now()
        cdef int n = frames * self.nch
        cdef int i, ch, k
        cdef int64_t left, take
        cdef double g0, g1, dg, g, m0, m1, dm, mix, u0, u1, du, peak, v, lim, ceiling, mono
        cdef double target_db, coeff, span, o0, o1, do, w, dw, uo = 0.0, wet
        cdef bint matched
        cdef float *dry = self.dry
        cdef int pos, chunk
        # the per-sample loops read these from locals: a store to the meters (doubles) could
        # otherwise be taken for a change to the processor's own doubles, and the rings'
        # positions advance by one and wrap instead of a division per sample
        cdef int nch = self.nch
        cdef int ab
        cdef double release = self.lim_release
        cdef double *ring = NULL
        cdef int64_t ring_n = self.ring_frames, ring_at = 0, at
        cdef float *hist = self.hist
        cdef int64_t hist_at = self.hist_at, hist_len = self.hist_len
        if ring_n > 0:
            ring = self.met + N_METERS_C
            ring_at = self.ring_pos % ring_n
        self._tempo()
        self._modulate(self.beat)
        self._check_morph()
        self._morph_eff()
        if self.morphing or self._controls_changed():
            self._apply_controls()
        # ---- source
        if inp != NULL:
            memcpy(out, inp, sizeof(float) * n)
        elif self.src != NULL and self.src_frames > 0:
            i = 0
            while i < frames:
                take = self.src_frames - self.src_pos
                if take > frames - i:
                    take = frames - i
                memcpy(out + i * self.nch, self.src + self.src_pos * self.nch, sizeof(float) * take * self.nch)
                i += <int>take
                self.src_pos += take
                if self.src_pos >= self.src_frames:
                    self.src_pos = 0
        else:
            memset(out, 0, sizeof(float) * n)
        # ---- input gain (ramped across the block), dry copy, input meters
        g0 = self.g_in
        g1 = _db_to_lin(_clampd(self.eff[C_IN_GAIN], -24.0, 24.0))
        dg = (g1 - g0) / frames
        peak = 0.0
        for i in range(frames):
            g = g0 + dg * (i + 1)
            for ch in range(nch):
                k = i * nch + ch
                v = out[k]
                if not isfinite(v):
                    v = 0.0
                v *= g
                out[k] = <float>v
                dry[k] = <float>v
                if fabs(v) > peak:
                    peak = fabs(v)
        self.g_in = g1
        self.met[M_PEAK_IN] = peak
        _kmeter_feed(&self.k_in, dry, frames, self.nch, self.ksos, self.kweights, self.k_sub_len)
        if self.ab_running:  # A/B: the other slot's cascade gets the same input
            memcpy(self.obuf, out, sizeof(float) * n)
        # ---- the EQ; while modulators run, they are evaluated every FQ_MOD_CHUNK samples (on
        # the processor's own sample grid) and each new target goes through the glide
        if self.mods_on == 0 and self.motion_on == 0 and not self.morphing:
            fq_cascade_process(self.cl, out, frames)
            self._advance(frames)
        else:
            pos = 0
            while pos < frames:
                chunk = FQ_MOD_CHUNK - <int>((self.clock_frames + pos) % FQ_MOD_CHUNK)
                if chunk > frames - pos:
                    chunk = frames - pos
                if pos > 0:
                    self._modulate(self._beat_at(pos))
                    self._morph_eff()
                    if self.morphing or self._controls_changed():
                        self._apply_controls()
                fq_cascade_process(self.cl, out + pos * self.nch, chunk)
                self._advance(chunk)
                self._morph_advance(chunk)
                pos += chunk
        self.clock_frames += frames
        if self.bps > 0.0:
            self.beat_frames += frames
            self.beat = self._beat_at(0)
        _kmeter_feed(&self.k_out, out, frames, self.nch, self.ksos, self.kweights, self.k_sub_len)
        # ---- auto gain: move toward (L_in - L_out), limited to the range, one-pole in dB
        # (A/B loudness match: both slots, each by its own output loudness)
        matched = self.ab_running and self.ctl[C_AB_MATCH] >= 0.5
        coeff = 1.0 - exp(-frames / (_clampd(self.ctl[C_AUTO_TIME], 0.05, 10.0) * self.fs))
        if self.ab_running:
            fq_cascade_process(self.co, self.obuf, frames)
            _kmeter_feed(&self.k_o, self.obuf, frames, self.nch, self.ksos, self.kweights, self.k_sub_len)
            if self.ctl[C_AUTO] >= 0.5 or matched:
                if self.k_in.lufs > -70.0 and self.k_o.lufs > -70.0:
                    span = _clampd(self.ctl[C_AUTO_RANGE], 0.0, 24.0)
                    self.auto_target_o = _clampd(self.k_in.lufs - self.k_o.lufs, -span, span)
                target_db = self.auto_target_o
            else:
                target_db = 0.0
            self.g_auto_db_o += (target_db - self.g_auto_db_o) * coeff
        if self.ctl[C_AUTO] >= 0.5 or matched:
            if self.k_in.lufs > -70.0 and self.k_out.lufs > -70.0:
                span = _clampd(self.ctl[C_AUTO_RANGE], 0.0, 24.0)
                self.auto_target_db = _clampd(self.k_in.lufs - self.k_out.lufs, -span, span)
            target_db = self.auto_target_db
        else:
            target_db = 0.0
        self.g_auto_db += (target_db - self.g_auto_db) * coeff
        if target_db == 0.0 and fabs(self.g_auto_db) < AUTO_SNAP_DB:
            self.g_auto_db = 0.0  # (it would never reach 0: the clock joins blocks at 0 dB)
        # ---- bypass crossfade, auto gain, output gain and mute, all ramped over this block
        u0 = self.g_auto
        u1 = _db_to_lin(self.g_auto_db)
        du = (u1 - u0) / frames
        o0 = self.g_auto_o
        o1 = _db_to_lin(self.g_auto_db_o)
        do = (o1 - o0) / frames
        w = self.ab_w
        dw = 1.0 / (_clampd(self.ctl[C_AB_FADE], 1.0, 50.0) * 1e-3 * self.fs)
        m0 = self.mix_dry
        m1 = 1.0 if self.ctl[C_BYPASS] >= 0.5 else 0.0
        dm = (m1 - m0) / frames
        g0 = self.g_post
        g1 = self._post_gain()
        dg = (g1 - g0) / frames
        ceiling = LIMIT_CEILING
        lim = self.lim_gain
        peak = 0.0
        at = ring_at
        ab = self.ab_running  # (the controls just applied may have started A/B)
        for i in range(frames):
            mix = m0 + dm * (i + 1)
            g = g0 + dg * (i + 1)
            u = u0 + du * (i + 1)
            if ab:  # the A/B crossfade, sample by sample (w: the live slot's weight)
                if w < 1.0:
                    w = w + dw if w + dw < 1.0 else 1.0
                uo = (o0 + do * (i + 1)) * (1.0 - w)
                u *= w
            mono = 0.0
            # the limiter is linked across channels: find this frame's peak first
            v = 0.0
            for ch in range(nch):
                k = i * nch + ch
                wet = u * out[k]
                if ab:
                    wet += uo * self.obuf[k]
                out[k] = <float>(g * (mix * dry[k] + (1.0 - mix) * wet))
                if fabs(out[k]) > v:
                    v = fabs(out[k])
            if v * lim > ceiling:
                lim = ceiling / v
                self.met[M_LIMITED] += 1
            for ch in range(nch):
                k = i * nch + ch
                out[k] = <float>_clampd(out[k] * lim, -ceiling, ceiling)
                mono += out[k]
            if v * lim > peak:
                peak = v * lim
            lim += (1.0 - lim) * release
            mono /= nch
            if ring != NULL:  # the output ring, after the input ring
                ring[ring_n + at] = mono
                at += 1
                if at == ring_n:
                    at = 0
        self.lim_gain = lim
        self.g_auto = u1
        self.g_auto_o = o1
        self.ab_w = w if self.ab_running else 1.0
        self.mix_dry = m1
        self.g_post = g1
        # ---- input ring and input history (mono mix of the dry signal)
        if ring != NULL or hist != NULL:
            at = ring_at
            for i in range(frames):
                mono = 0.0
                for ch in range(nch):
                    mono += dry[i * nch + ch]
                mono /= nch
                if ring != NULL:
                    ring[at] = mono
                    at += 1
                    if at == ring_n:
                        at = 0
                if hist != NULL:
                    hist[hist_at] = <float>mono
                    hist_at += 1
                    if hist_at == hist_len:
                        hist_at = 0
            self.hist_at = hist_at
        self.ring_pos += frames
        if self.hist != NULL:  # the samples first, then the count readers trust
            self.hist_pos += frames
            fq_publish_fence()
            self.hist_hdr[H_POS] = <double>self.hist_pos
        # ---- capture
        if self.cap != NULL and self.cap_pos < self.cap_frames:
            take = self.cap_frames - self.cap_pos
            if take > frames:
                take = frames
            memcpy(self.cap + self.cap_pos * self.nch, out, sizeof(float) * take * self.nch)
            self.cap_pos += take
        # ---- meters
        self.met[M_PEAK_OUT] = peak
        self.met[M_LUFS_IN] = self.k_in.lufs
        self.met[M_LUFS_OUT] = self.k_out.lufs
        self.met[M_AUTO_DB] = self.g_auto_db
        self.met[M_LIMITER_DB] = 20.0 * log10(lim) if lim > 1e-10 else -200.0
        self.met[M_NAN_RESETS] = self.eq.s.nan_resets
        self.met[M_SOURCE_POS] = self.src_pos
        self.met[M_RING_POS] = self.ring_pos
        if status & 0xF:
            self.met[M_XRUNS] += 1
        self.met[M_CALLBACKS] += 1
        self.met[M_FRAMES] += frames
        t1 = _now()
        self.met[M_CALLBACK_US] = (t1 - t0) * 1e6
        self.met[M_CPU] = (t1 - t0) * self.fs / frames
        if self.met[M_CPU] > self.met[M_CPU_MAX]:
            self.met[M_CPU_MAX] = self.met[M_CPU]
        self.met[M_HEARTBEAT] = t1
