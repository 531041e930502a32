/* dsp_kernel.c: the C kernel of floweq_tui._dsp; dsp_kernel.h says what it offers.
 *
 * Built into the extension by setup.py with -Wall -Wextra, warning-free (tests/test_dsp.py
 * compiles this file with -Werror so no warning can come back). No allocation, locks or I/O:
 * every function here may run on the audio thread.
 */

#include "dsp_kernel.h"

#include <math.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_LN10
#define M_LN10 2.30258509299404568402
#endif

typedef double fq_v2d __attribute__((vector_size(16)));
typedef float fq_v4f __attribute__((vector_size(16)));

static const int FQ_GAIN_IDX[FQ_BANDS] = {0, 2, 5, 8, 11};
static const int FQ_FREQ_IDX[FQ_BANDS] = {1, 3, 6, 9, 12};
static const int FQ_Q_IDX[FQ_BANDS] = {-1, 4, 7, 10, -1};
static const int FQ_KIND[FQ_BANDS] = {0, 1, 1, 1, 2};  /* lowshelf, peak x3, highshelf */
static const double FQ_MIN[FQ_NPARAMS] = {-12, 22, -12, 82, 0.1, -12, 180, 0.1, -12, 220, 0.1, -12, 580};
static const double FQ_MAX[FQ_NPARAMS] = {12, 1000, 12, 3900, 10, 12, 4700, 10, 12, 10000, 10, 12, 20000};
static const double FQ_DEF[FQ_NPARAMS] = {0, 150, 0, 650, 0.71, 0, 1000, 0.71, 0, 3300, 0.71, 0, 8200};
#define FQ_SHELF_Q 0.71
#define FQ_NYQ_FRACTION 0.48
#define FQ_MIN_FREQ 2.0
#define FQ_TINY 1e-30

/* One band, JUCE's IIRCoefficients formulas; c = {b0, b1, b2, a1, a2} normalised by a0. */
void fq_design_band(int kind, double gain_db, double freq, double q, double fs, double *c)
{
    if (!isfinite(gain_db)) gain_db = 0.0;
    if (!isfinite(freq)) freq = 1000.0;
    if (!isfinite(q) || q < 1e-3) q = (isfinite(q) ? 1e-3 : FQ_SHELF_Q);
    double fmax = FQ_NYQ_FRACTION * fs;
    if (freq > fmax) freq = fmax;
    if (freq < FQ_MIN_FREQ) freq = FQ_MIN_FREQ;
    double A = exp(gain_db * (M_LN10 / 40.0));
    double w = 2.0 * M_PI * freq / fs;
    double cw = cos(w), sw = sin(w);
    double b0, b1, b2, a0, a1, a2;
    if (kind == 1) {
        double alpha = 0.5 * sw / q;
        b0 = 1.0 + alpha * A; b1 = -2.0 * cw; b2 = 1.0 - alpha * A;
        a0 = 1.0 + alpha / A; a1 = -2.0 * cw; a2 = 1.0 - alpha / A;
    } else {
        double am1 = A - 1.0, ap1 = A + 1.0;
        double beta = sw * sqrt(A) / q;
        double am1c = am1 * cw;
        if (kind == 0) {
            b0 = A * (ap1 - am1c + beta); b1 = A * 2.0 * (am1 - ap1 * cw); b2 = A * (ap1 - am1c - beta);
            a0 = ap1 + am1c + beta; a1 = -2.0 * (am1 + ap1 * cw); a2 = ap1 + am1c - beta;
        } else {
            b0 = A * (ap1 + am1c + beta); b1 = A * -2.0 * (am1 + ap1 * cw); b2 = A * (ap1 + am1c - beta);
            a0 = ap1 - am1c + beta; a1 = 2.0 * (am1 - ap1 * cw); a2 = ap1 - am1c - beta;
        }
    }
    double inv = 1.0 / a0;
    c[0] = b0 * inv; c[1] = b1 * inv; c[2] = b2 * inv; c[3] = a1 * inv; c[4] = a2 * inv;
}

/* Glide coordinates of one band: gain dB, ln f, ln Q (gain forced to 0 dB when inactive). */
static void fq_band_coords(const double *p, int band, int active, double *g)
{
    int qi = FQ_Q_IDX[band];
    g[0] = active ? p[FQ_GAIN_IDX[band]] : 0.0;
    g[1] = log(p[FQ_FREQ_IDX[band]]);
    g[2] = log(qi < 0 ? FQ_SHELF_Q : p[qi]);
}

/* All five bands from 13 parameters; coef is [5][5]. Inactive bands become identity. */
void fq_design_all(const double *p, const int *active, double fs, double *coef)
{
    for (int b = 0; b < FQ_BANDS; b++) {
        int qi = FQ_Q_IDX[b];
        double gain = (active == NULL || active[b]) ? p[FQ_GAIN_IDX[b]] : 0.0;
        fq_design_band(FQ_KIND[b], gain, p[FQ_FREQ_IDX[b]], qi < 0 ? FQ_SHELF_Q : p[qi], fs, coef + 5 * b);
    }
}

/* Replace non-finite parameters by defaults and clamp each into its range. */
void fq_sanitize_params(const double *in, double *out)
{
    for (int i = 0; i < FQ_NPARAMS; i++) {
        double v = in[i];
        if (!isfinite(v)) v = FQ_DEF[i];
        if (v < FQ_MIN[i]) v = FQ_MIN[i];
        if (v > FQ_MAX[i]) v = FQ_MAX[i];
        out[i] = v;
    }
}

/* Scale the five band gains by strength, clamped to [0, 1] (NaN -> 0). */
void fq_apply_strength(double *p, double strength)
{
    if (!(strength >= 0.0)) strength = 0.0;
    if (strength > 1.0) strength = 1.0;
    for (int b = 0; b < FQ_BANDS; b++) p[FQ_GAIN_IDX[b]] *= strength;
}

/* ------------------------------------------------------------------ cascade */


/* A glide shorter than FQ_MIN_GLIDE_MS (0 included) overshoots the settings it moves
   between (measured: up to +18 dB at 0 ms, +2-4 dB at 1 ms, +1.6 dB at 3 ms); from 5 ms on it
   stays within 1 dB of them, so glide 0 means the fastest bounded, click-free change. */
int fq_glide_samples(double glide_ms, double fs)
{
    if (!(glide_ms >= FQ_MIN_GLIDE_MS)) glide_ms = FQ_MIN_GLIDE_MS;
    return (int)(glide_ms * 1e-3 * fs + 0.5);
}

void fq_cascade_reset(fq_cascade *s)
{
    memset(s->hist, 0, sizeof(double) * (size_t)s->nch * 12);
}

/* Design the bands from glide coordinates; with ``keep`` (a glide's from and to), a band
   whose coordinates do not move keeps the coefficients in ``coef`` (already its design):
   modulating one band redesigns one band. */
static void fq_coords_to_coef(const double *g, double fs, double *coef, const fq_cascade *keep)
{
    for (int b = 0; b < FQ_BANDS; b++) {
        const double *gb = g + 3 * b;
        if (keep != NULL && memcmp(keep->g_from + 3 * b, keep->g_to + 3 * b, 3 * sizeof(double)) == 0)
            continue;
        double q = FQ_Q_IDX[b] < 0 ? FQ_SHELF_Q : exp(gb[2]);
        fq_design_band(FQ_KIND[b], gb[0], exp(gb[1]), q, fs, coef + 5 * b);
    }
}

/* Where the coefficients stand now in glide coordinates; 0 if unknown (coefficient glide). */
static int fq_current_coords(const fq_cascade *s, double *out)
{
    if (s->glide_mode == 1) {
        double t = (double)s->glide_done / (double)s->glide_total;
        for (int i = 0; i < FQ_BANDS * 3; i++) out[i] = s->g_from[i] + (s->g_to[i] - s->g_from[i]) * t;
        return 1;
    }
    if (s->glide_mode == 0 && s->coords_valid) {
        memcpy(out, s->coords, sizeof(s->coords));
        return 1;
    }
    return 0;
}

/* Start a glide from where the coefficients stand to the pending target (at a ramp boundary). */
static void fq_take_pending(fq_cascade *s)
{
    int mode = s->pending;
    double k[FQ_BANDS * 5];
    s->pending = 0;
    if (mode == 1) {
        double to[FQ_BANDS * 3], from[FQ_BANDS * 3];
        for (int b = 0; b < FQ_BANDS; b++) fq_band_coords(s->pend_p, b, s->pend_active[b], to + 3 * b);
        int have_from = fq_current_coords(s, from);
        memcpy(s->coords, to, sizeof(to));
        s->coords_valid = 1;
        if (s->glide_len > 0 && have_from) {
            memcpy(s->g_from, from, sizeof(from));
            memcpy(s->g_to, to, sizeof(to));
            s->glide_mode = 1;
            s->glide_done = 0;
            s->glide_total = s->glide_len;
            return;
        }
        fq_coords_to_coef(to, s->fs, k, NULL);
    } else if (mode == 2) {
        s->coords_valid = 0;
        memcpy(k, s->pend_k, sizeof(k));
    } else {
        return;
    }
    if (s->glide_len <= 0) {            /* jump */
        memcpy(s->c0, k, sizeof(k));
        memcpy(s->c1, k, sizeof(k));
        s->ramp_len = 0;
        s->glide_mode = 0;
        return;
    }
    memcpy(s->k_from, s->c1, sizeof(k));  /* glide in coefficient space */
    memcpy(s->k_to, k, sizeof(k));
    s->glide_mode = 2;
    s->glide_done = 0;
    s->glide_total = s->glide_len;
}

/* Begin the next ramp of FQ_SUB samples (or finish the glide). Called at ramp boundaries. */
static void fq_next_ramp(fq_cascade *s)
{
    memcpy(s->c0, s->c1, sizeof(s->c0));
    s->ramp_pos = 0;
    s->ramp_len = 0;
    if (s->pending) fq_take_pending(s);
    if (s->glide_mode == 0) return;
    int step = s->glide_total - s->glide_done;
    if (step > FQ_SUB) step = FQ_SUB;
    s->glide_done += step;
    double t = (double)s->glide_done / (double)s->glide_total;
    double next[FQ_BANDS * 5];
    int last = s->glide_done >= s->glide_total;
    if (s->glide_mode == 1) {
        double g[FQ_BANDS * 3];
        for (int i = 0; i < FQ_BANDS * 3; i++) g[i] = s->g_from[i] + (s->g_to[i] - s->g_from[i]) * t;
        memcpy(next, s->c1, sizeof(next));
        fq_coords_to_coef(last ? s->g_to : g, s->fs, next, s);
    } else {
        for (int i = 0; i < FQ_BANDS * 5; i++) next[i] = s->k_from[i] + (s->k_to[i] - s->k_from[i]) * t;
        if (last) memcpy(next, s->k_to, sizeof(next));
    }
    if (last) s->glide_mode = 0;
    double inv = 1.0 / step;
    for (int i = 0; i < FQ_BANDS * 5; i++) {
        s->c1[i] = next[i];
        s->dc[i] = (next[i] - s->c0[i]) * inv;
    }
    memcpy(s->cr, s->c0, sizeof(s->cr));
    s->ramp_len = step;
}

/* Jump to the current target at once (no glide). */
void fq_cascade_finish(fq_cascade *s)
{
    int saved = s->glide_len;
    s->glide_len = 0;
    if (s->glide_mode == 1) fq_coords_to_coef(s->g_to, s->fs, s->c1, s);
    else if (s->glide_mode == 2) memcpy(s->c1, s->k_to, sizeof(s->c1));
    s->glide_mode = 0;
    s->ramp_len = 0;
    s->ramp_pos = 0;
    memcpy(s->c0, s->c1, sizeof(s->c0));
    if (s->pending) fq_take_pending(s);
    s->glide_len = saved;
}

/* One sample through the five sections, direct form I with shared histories:
   h[2k], h[2k+1] hold the last two samples entering section k (k = 5: the output).
   T is double (one channel) or fq_v2d (a pair of channels). */
#define FQ_CASCADE_SAMPLE(T, h, x, c)                                               \
    do {                                                                            \
        for (int k = 0; k < FQ_BANDS; k++) {                                        \
            const double *ck = (c) + 5 * k;                                         \
            T y = (ck[1] * h[2 * k] + ck[2] * h[2 * k + 1] - ck[4] * h[2 * k + 3]   \
                   - ck[3] * h[2 * k + 2]) + ck[0] * x;                             \
            h[2 * k + 1] = h[2 * k];                                                \
            h[2 * k] = x;                                                           \
            x = y;                                                                  \
        }                                                                           \
        h[11] = h[10];                                                              \
        h[10] = x;                                                                  \
    } while (0)

/* The filter loops. h: 12 histories per channel: h[2k], h[2k+1] = last two samples of
   the signal entering section k (k = 5: the output). Channels are done in pairs with
   2-wide vectors (SSE2 / NEON), a lone last channel with scalars. */

static inline void fq_run_pair_const(float *buf, int nch, int ch, int n, const double *c, double *h0, double *h1)
{
    fq_v2d h[12];
    for (int i = 0; i < 12; i++) h[i] = (fq_v2d){h0[i], h1[i]};
    for (int i = 0; i < n; i++) {
        float *fr = buf + (size_t)i * nch + ch;
        fq_v2d x = {fr[0], fr[1]};
        FQ_CASCADE_SAMPLE(fq_v2d, h, x, c);
        fr[0] = (float)x[0];
        fr[1] = (float)x[1];
    }
    for (int i = 0; i < 12; i++) { h0[i] = h[i][0]; h1[i] = h[i][1]; }
}

static inline void fq_run_one_const(float *buf, int nch, int ch, int n, const double *c, double *h)
{
    double hh[12];
    memcpy(hh, h, sizeof(hh));
    for (int i = 0; i < n; i++) {
        float *fr = buf + (size_t)i * nch + ch;
        double x = fr[0];
        FQ_CASCADE_SAMPLE(double, hh, x, c);
        fr[0] = (float)x;
    }
    memcpy(h, hh, sizeof(hh));
}

/* Ramp: the coefficients move by dc every sample from the running values c (the cascade's
   cr, so any chunking gives the same samples): ramp sample j uses about c0 + (j + 1) dc. */
static inline void fq_run_pair_ramp(float *buf, int nch, int ch, int n, double *restrict c,
                                    const double *restrict dc, double *h0, double *h1)
{
    fq_v2d h[12];
    for (int i = 0; i < 12; i++) h[i] = (fq_v2d){h0[i], h1[i]};
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < FQ_BANDS * 5; j++) c[j] += dc[j];
        float *fr = buf + (size_t)i * nch + ch;
        fq_v2d x = {fr[0], fr[1]};
        FQ_CASCADE_SAMPLE(fq_v2d, h, x, c);
        fr[0] = (float)x[0];
        fr[1] = (float)x[1];
    }
    for (int i = 0; i < 12; i++) { h0[i] = h[i][0]; h1[i] = h[i][1]; }
}

static inline void fq_run_one_ramp(float *buf, int nch, int ch, int n, double *restrict c,
                                   const double *restrict dc, double *h)
{
    double hh[12];
    memcpy(hh, h, sizeof(hh));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < FQ_BANDS * 5; j++) c[j] += dc[j];
        float *fr = buf + (size_t)i * nch + ch;
        double x = fr[0];
        FQ_CASCADE_SAMPLE(double, hh, x, c);
        fr[0] = (float)x;
    }
    memcpy(h, hh, sizeof(hh));
}

static void fq_run_segment(fq_cascade *s, float *buf, int n, int ramp)
{
    int nch = s->nch, ch = 0;
    double c[FQ_BANDS * 5];
    for (; ch + 1 < nch; ch += 2) {
        double *h0 = s->hist + 12 * ch, *h1 = s->hist + 12 * (ch + 1);
        if (ramp) {
            memcpy(c, s->cr, sizeof(c));  /* every channel pair starts from the same values */
            fq_run_pair_ramp(buf, nch, ch, n, c, s->dc, h0, h1);
        } else {
            fq_run_pair_const(buf, nch, ch, n, s->c1, h0, h1);
        }
    }
    if (ch < nch) {
        double *h = s->hist + 12 * ch;
        if (ramp) {
            memcpy(c, s->cr, sizeof(c));
            fq_run_one_ramp(buf, nch, ch, n, c, s->dc, h);
        } else {
            fq_run_one_const(buf, nch, ch, n, s->c1, h);
        }
    }
    if (ramp) memcpy(s->cr, c, sizeof(c));
}

/* Process frames x nch interleaved float32 in place. Returns 1 if the state had to be
   reset (non-finite input), in which case the block's output is silence. */
int fq_cascade_process(fq_cascade *s, float *buf, int frames)
{
    int done = 0;
    while (done < frames) {
        if (s->ramp_len == 0 || s->ramp_pos >= s->ramp_len) {
            if (s->ramp_len != 0 || s->pending) fq_next_ramp(s);
        }
        float *seg = buf + (size_t)done * s->nch;
        if (s->ramp_len > 0) {
            int n = s->ramp_len - s->ramp_pos;
            if (n > frames - done) n = frames - done;
            fq_run_segment(s, seg, n, 1);
            s->ramp_pos += n;
            done += n;
        } else {
            fq_run_segment(s, seg, frames - done, 0);
            done = frames;
        }
    }
    /* Recover from non-finite input and keep denormals out of the recursion. */
    int bad = 0;
    size_t nh = (size_t)s->nch * 12;
    for (size_t i = 0; i < nh; i++) {
        double v = s->hist[i];
        if (!isfinite(v)) { bad = 1; break; }
        if (fabs(v) < FQ_TINY) s->hist[i] = 0.0;
    }
    if (bad) {
        fq_cascade_reset(s);
        memset(buf, 0, sizeof(float) * (size_t)frames * s->nch);
        s->nan_resets++;
    }
    return bad;
}

/* ------------------------------------------------------------------ decoder */


/* out[13] = sigmoid(W2 relu(W1 z + b1) + b2), all in [0, 1].
   The hidden layer is computed column-wise (vectorised over units), then the output as a
   sum of rows of W2^T with two sets of accumulators to hide the add latency. */
void fq_decode(const fq_decoder *m, const double *z, double *out)
{
    int d = m->d, H = m->hidden;
    float *h = m->scratch;
    float z0 = (d > 0 && isfinite(z[0])) ? (float)z[0] : 0.0f;
    float z1 = (d > 1 && isfinite(z[1])) ? (float)z[1] : 0.0f;
    float z2 = (d > 2 && isfinite(z[2])) ? (float)z[2] : 0.0f;
    const float *c0 = m->w1, *c1 = m->w1 + H, *c2 = m->w1 + 2 * H;
    for (int i = 0; i < H; i++) {
        float v = m->b1[i] + c0[i] * z0 + c1[i] * z1 + c2[i] * z2;
        h[i] = v > 0.0f ? v : 0.0f;
    }
    fq_v4f a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0, e0 = a0, e1 = a0, e2 = a0, e3 = a0;
    const fq_v4f *w2 = (const fq_v4f *)m->w2t;
    int i = 0;
    for (; i + 1 < H; i += 2) {
        const fq_v4f *r = w2 + 4 * i;
        float hi = h[i], hj = h[i + 1];
        a0 += hi * r[0]; a1 += hi * r[1]; a2 += hi * r[2]; a3 += hi * r[3];
        e0 += hj * r[4]; e1 += hj * r[5]; e2 += hj * r[6]; e3 += hj * r[7];
    }
    for (; i < H; i++) {
        const fq_v4f *r = w2 + 4 * i;
        a0 += h[i] * r[0]; a1 += h[i] * r[1]; a2 += h[i] * r[2]; a3 += h[i] * r[3];
    }
    a0 += e0; a1 += e1; a2 += e2; a3 += e3;
    float acc[FQ_OUT_PAD];
    memcpy(acc, &a0, 16); memcpy(acc + 4, &a1, 16); memcpy(acc + 8, &a2, 16); memcpy(acc + 12, &a3, 16);
    for (int j = 0; j < FQ_NPARAMS; j++) {
        double v = (double)acc[j] + (double)m->b2[j];
        out[j] = 1.0 / (1.0 + exp(-v));
    }
}

/* Normalised [0,1] decoder output -> 13 parameters in range, middle bands sorted by freq. */
void fq_denormalize_sorted(const double *u, double *p)
{
    for (int i = 0; i < FQ_NPARAMS; i++) p[i] = FQ_MIN[i] + u[i] * (FQ_MAX[i] - FQ_MIN[i]);
    fq_sanitize_params(p, p);
    /* insertion sort of the three (gain, freq, q) triples at 2, 5, 8 by freq */
    for (int a = 1; a < 3; a++) {
        for (int b = a; b > 0; b--) {
            double *lo = p + 2 + 3 * (b - 1), *hi = p + 2 + 3 * b;
            if (hi[1] < lo[1]) {
                double t0 = lo[0], t1 = lo[1], t2 = lo[2];
                lo[0] = hi[0]; lo[1] = hi[1]; lo[2] = hi[2];
                hi[0] = t0; hi[1] = t1; hi[2] = t2;
            } else break;
        }
    }
}
