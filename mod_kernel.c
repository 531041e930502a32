/* mod_kernel.c: modulators and latent figures (see mod_kernel.h). */
#include "mod_kernel.h"

#include <math.h>

#define FQM_PI 3.14159265358979323846

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void fq_mod_reset(fq_mod_state *st)
{
    int i;
    for (i = 0; i < FQ_LFOS; i++)
        st->cycles[i] = 0.0;
    st->fig_cycles = 0.0;
    st->walk_cycles = 0.0;
    st->walk[0] = st->walk[1] = 0.0;
    st->walk_dir[0] = st->walk_dir[1] = 1.0;
}

double fq_mod_rand(uint64_t seed, uint64_t stream, int64_t k)
{
    uint64_t h = splitmix64(seed ^ splitmix64(stream * 0xD1B54A32D192ED03ULL + (uint64_t)k));
    return (double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0; /* 53 bits -> [-1, 1) */
}

double fq_mod_wave(int shape, double cycles, uint64_t seed, uint64_t stream)
{
    double k = floor(cycles);
    double ph = cycles - k;
    double a, b, s;
    switch (shape) {
    case FQ_TRIANGLE:
        if (ph < 0.25)
            return 4.0 * ph;
        if (ph < 0.75)
            return 2.0 - 4.0 * ph;
        return 4.0 * ph - 4.0;
    case FQ_SAW_UP:
        return 2.0 * ph - 1.0;
    case FQ_SAW_DOWN:
        return 1.0 - 2.0 * ph;
    case FQ_SQUARE:
        return ph < 0.5 ? 1.0 : -1.0;
    case FQ_SAMPLE_HOLD:
        return fq_mod_rand(seed, stream, (int64_t)k);
    case FQ_SMOOTH_RANDOM:
        a = fq_mod_rand(seed, stream, (int64_t)k);
        b = fq_mod_rand(seed, stream, (int64_t)k + 1);
        s = 0.5 - 0.5 * cos(FQM_PI * ph);
        return a + (b - a) * s;
    default:
        return sin(2.0 * FQM_PI * ph);
    }
}

double fq_mod_position(int sync, double note_beats, double beat, double free_cycles, double phase)
{
    if (sync)
        return beat / (note_beats > 1e-9 ? note_beats : 1e-9) + phase;
    return free_cycles + phase;
}

double fq_lfo_offset(const fq_mod_state *st, const fq_lfo_params *p, int i, double beat)
{
    double w;
    if (!p->on || p->depth == 0.0)
        return 0.0;
    w = fq_mod_wave(p->shape, fq_mod_position(p->sync, p->note_beats, beat, st->cycles[i],
                                              p->phase),
                    st->seed, (uint64_t)i);
    /* bipolar: centre +- depth/2 of the range; unipolar: from the centre up to depth */
    return p->unipolar ? p->depth * 0.5 * (w + 1.0) : p->depth * 0.5 * w;
}

void fq_fig_offset(const fq_mod_state *st, const fq_fig_params *p, double beat, double *xy)
{
    double c, th, r;
    xy[0] = xy[1] = 0.0;
    if (!p->on)
        return;
    r = 0.5 * p->depth;
    c = fq_mod_position(p->sync, p->note_beats, beat, st->fig_cycles, p->phase);
    th = 2.0 * FQM_PI * c;
    switch (p->shape) {
    case FQ_FIGURE8: /* a lemniscate: y at twice x's rate */
        xy[0] = r * sin(th);
        xy[1] = r * p->aspect * sin(2.0 * th);
        break;
    case FQ_WALK:
        xy[0] = st->walk[0];
        xy[1] = st->walk[1];
        break;
    default: /* orbit: y a quarter cycle ahead of x, at `ratio` times its rate */
        xy[0] = r * sin(th);
        xy[1] = r * p->aspect * sin(p->ratio * th + 0.5 * FQM_PI);
        break;
    }
}

static double reflect(double v, double lo, double hi, double *dir)
{
    int n;
    if (hi <= lo)
        return 0.5 * (lo + hi);
    for (n = 0; n < 4 && (v < lo || v > hi); n++) {
        v = v > hi ? 2.0 * hi - v : 2.0 * lo - v;
        *dir = -*dir;
    }
    return v < lo ? lo : (v > hi ? hi : v);
}

void fq_mod_advance(fq_mod_state *st, const fq_lfo_params *lfo, const fq_fig_params *fig,
                    double dt, double bps, double cx, double cy)
{
    int i;
    double cps, c, r, lo, hi, cen;
    for (i = 0; i < FQ_LFOS; i++) {
        st->cycles[i] += lfo[i].rate_hz * dt;
        if (st->cycles[i] > 1e12) /* keep the fraction exact over very long runs */
            st->cycles[i] -= floor(st->cycles[i]);
    }
    st->fig_cycles += fig->rate_hz * dt;
    if (st->fig_cycles > 1e12)
        st->fig_cycles -= floor(st->fig_cycles);
    if (!fig->on || fig->shape != FQ_WALK)
        return;
    /* the walk: a smooth random velocity (a new direction each cycle), at a speed that
     * crosses the figure's width about once a cycle, reflected at its edges and the map's */
    cps = fig->sync ? bps / (fig->note_beats > 1e-9 ? fig->note_beats : 1e-9) : fig->rate_hz;
    st->walk_cycles += cps * dt;
    if (st->walk_cycles > 1e12)
        st->walk_cycles -= floor(st->walk_cycles);
    c = st->walk_cycles + fig->phase;
    r = 0.5 * fig->depth;
    for (i = 0; i < 2; i++) {
        double w = fq_mod_wave(FQ_SMOOTH_RANDOM, c, st->seed, (uint64_t)(100 + i));
        double span = i ? r * fig->aspect : r;
        cen = i ? cy : cx;
        lo = -span > -cen ? -span : -cen;
        hi = span < 1.0 - cen ? span : 1.0 - cen;
        st->walk[i] += st->walk_dir[i] * w * 2.0 * span * cps * dt;
        st->walk[i] = reflect(st->walk[i], lo, hi, &st->walk_dir[i]);
    }
}
