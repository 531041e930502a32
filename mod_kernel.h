/* mod_kernel.h: the modulators of floweq_tui._dsp (automation), declared for _dsp.pyx.
 *
 * Modulators (LFOs) and one latent figure, evaluated by the Processor on the audio thread
 * before the controls -> parameters derivation. A modulator's output is an offset in
 * fractions of its target control's range; the caller adds it to the control's own value
 * (the centre) and clamps. Random shapes come from a counter-based PRNG (splitmix64 of the
 * seed and the cycle number), so a synced random modulator is a function of the beat alone
 * and a render is the same every time. Nothing here allocates, locks or waits.
 */
#ifndef FLOWEQ_MOD_KERNEL_H
#define FLOWEQ_MOD_KERNEL_H

#include <stdint.h>

#if defined(__GNUC__)
#define FQM_API __attribute__((visibility("hidden")))
#else
#define FQM_API
#endif

#define FQ_LFOS 4         /* modulators */
#define FQ_MOD_CHUNK 64   /* samples between two evaluations (on the processor's sample grid) */

enum { FQ_SINE, FQ_TRIANGLE, FQ_SAW_UP, FQ_SAW_DOWN, FQ_SQUARE, FQ_SAMPLE_HOLD, FQ_SMOOTH_RANDOM,
       FQ_NSHAPES };
enum { FQ_ORBIT, FQ_FIGURE8, FQ_WALK, FQ_NFIGURES };

typedef struct {
    int on, target, shape, sync, unipolar;
    double rate_hz;     /* free rate (sync off) */
    double note_beats;  /* cycle length in quarter notes (sync on) */
    double depth;       /* fraction of the target's range the sweep covers (-1..1) */
    double phase;       /* offset in cycles (0..1) */
} fq_lfo_params;

typedef struct {
    int on, shape, sync;
    double rate_hz, note_beats, depth, ratio, aspect, phase;
} fq_fig_params;

typedef struct {
    uint64_t seed;
    double cycles[FQ_LFOS];  /* free-running phase of each modulator, in cycles */
    double fig_cycles;       /* the figure's free-running phase */
    double walk_cycles;      /* the walk's direction changes (free or synced rate) */
    double walk[2];          /* the walk's offset from the centre (fractions of the range) */
    double walk_dir[2];      /* +1 / -1: flipped at each reflection */
} fq_mod_state;

/* Clear the phases and the walk (the seed is kept). */
FQM_API void fq_mod_reset(fq_mod_state *st);

/* A uniform value in [-1, 1] for cycle k of stream `stream` (counter-based, stateless). */
FQM_API double fq_mod_rand(uint64_t seed, uint64_t stream, int64_t k);

/* One shape at `cycles` (integer part: the cycle number; fraction: the phase), in [-1, 1].
 * Every periodic shape starts its cycle at phase 0: sine and triangle at 0 rising, saw up
 * at -1, saw down at +1, square high for the first half. */
FQM_API double fq_mod_wave(int shape, double cycles, uint64_t seed, uint64_t stream);

/* The cycle position of a modulator now: from the beat when synced, else its free phase. */
FQM_API double fq_mod_position(int sync, double note_beats, double beat, double free_cycles,
                               double phase);

/* Modulator i's offset now (fraction of its target's range; 0 when off). */
FQM_API double fq_lfo_offset(const fq_mod_state *st, const fq_lfo_params *p, int i, double beat);

/* The figure's (x, y) offsets now (fractions of x's and y's ranges). */
FQM_API void fq_fig_offset(const fq_mod_state *st, const fq_fig_params *p, double beat,
                           double *xy);

/* Advance the free phases and the walk by dt seconds at `bps` beats a second (0 when the
 * transport is stopped). cx, cy: the centre of x and y as fractions of their ranges (0..1),
 * so the walk stays inside the map. */
FQM_API void fq_mod_advance(fq_mod_state *st, const fq_lfo_params *lfo, const fq_fig_params *fig,
                            double dt, double bps, double cx, double cy);

#endif
