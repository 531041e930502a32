/* dsp_kernel.h: the C kernel of floweq_tui._dsp, declared for _dsp.pyx.
 *
 * The equalizer cascade (5 biquads, float64 state over interleaved float32 channels, with
 * click-free glides between targets), the JUCE/RBJ coefficient design, parameter sanitising,
 * and the beta-VAE decoder forward pass. Nothing here allocates, locks or waits: the audio
 * thread calls these functions without the GIL. The caller owns every buffer (the cascade's
 * histories, the decoder's weights and scratch).
 */
#ifndef FLOWEQ_DSP_KERNEL_H
#define FLOWEQ_DSP_KERNEL_H

#include <stdint.h>

/* Linked into the extension module only: not exported from the shared object. */
#if defined(__GNUC__)
#define FQ_API __attribute__((visibility("hidden")))
#else
#define FQ_API
#endif

#define FQ_BANDS 5     /* low shelf, three peaks, high shelf */
#define FQ_NPARAMS 13  /* gain/freq per band, Q for the three peaks */
#define FQ_SUB 64      /* samples between coefficient redesigns while gliding */
#define FQ_MIN_GLIDE_MS 5.0  /* shorter glides (0 too) take this long: the fastest bounded change */
#define FQ_OUT_PAD 16  /* decoder outputs padded to four 4-float vectors */

/* ------------------------------------------------------------------ cascade */

typedef struct {
    int nch;
    double fs;
    int glide_len;            /* samples for a whole glide (at least FQ_MIN_GLIDE_MS) */
    /* coefficients: current ramp start, per-sample delta, ramp end */
    double c0[FQ_BANDS * 5];
    double dc[FQ_BANDS * 5];
    double c1[FQ_BANDS * 5];
    double cr[FQ_BANDS * 5];  /* the coefficients in use while ramping (c0 + ramp_pos dc, summed) */
    int ramp_pos;             /* samples done in the current ramp */
    int ramp_len;             /* 0 when not ramping */
    /* glide: mode 0 none, 1 parameters, 2 coefficients */
    int glide_mode;
    int glide_done, glide_total;
    double g_from[FQ_BANDS * 3], g_to[FQ_BANDS * 3];   /* parameter glide coords */
    double k_from[FQ_BANDS * 5], k_to[FQ_BANDS * 5];   /* coefficient glide */
    /* pending target, taken at the next ramp boundary */
    int pending;              /* 0 none, 1 params, 2 coefficients */
    double pend_p[FQ_NPARAMS];
    int pend_active[FQ_BANDS];
    double pend_k[FQ_BANDS * 5];
    /* where the coefficients stand now, in glide coordinates (valid when coords_valid) */
    double coords[FQ_BANDS * 3];
    int coords_valid;
    double *hist;             /* nch * 6 * 2 doubles: histories between sections */
    int64_t nan_resets;
} fq_cascade;

/* ------------------------------------------------------------------ decoder */

typedef struct {
    int d, hidden;
    float *w1;   /* 3 x hidden (transposed; rows past d are zero) */
    float *b1;   /* hidden */
    float *scratch;  /* hidden: the hidden activations of the last call */
    float *w2t;  /* hidden x FQ_OUT_PAD (transposed, zero padded) */
    float b2[FQ_OUT_PAD];
} fq_decoder;


/* ------------------------------------------------------------------ functions */

/* One band (kind 0 low shelf, 1 peak, 2 high shelf); c = {b0, b1, b2, a1, a2} / a0. */
FQ_API void fq_design_band(int kind, double gain_db, double freq, double q, double fs, double *c);
/* All five bands from 13 parameters into coef[5][5]; active (5 flags, or NULL = all) bypasses. */
FQ_API void fq_design_all(const double *p, const int *active, double fs, double *coef);
/* Non-finite parameters -> defaults, then each clamped into its range (in may equal out). */
FQ_API void fq_sanitize_params(const double *in, double *out);
/* Scale the five band gains by strength, clamped to [0, 1] (NaN -> 0). */
FQ_API void fq_apply_strength(double *p, double strength);

/* Glide length in samples for glide_ms (never below FQ_MIN_GLIDE_MS). */
FQ_API int fq_glide_samples(double glide_ms, double fs);
/* Clear the filter histories (coefficients and glide are kept). */
FQ_API void fq_cascade_reset(fq_cascade *s);
/* Filter frames x nch interleaved float32 in place; 1 if non-finite input reset the state
 * (the block is then silence). */
FQ_API int fq_cascade_process(fq_cascade *s, float *buf, int frames);
/* Jump to the current target at once (no glide). */
FQ_API void fq_cascade_finish(fq_cascade *s);

/* out[13] = sigmoid(W2 relu(W1 z + b1) + b2), in [0, 1]. */
FQ_API void fq_decode(const fq_decoder *m, const double *z, double *out);
/* Normalised decoder output -> 13 parameters in range, middle bands sorted by frequency. */
FQ_API void fq_denormalize_sorted(const double *u, double *p);

#endif /* FLOWEQ_DSP_KERNEL_H */
