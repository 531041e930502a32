/* path_kernel.h: paths ("SuperKnob") and motion-recording playback for floweq_tui._dsp.
 *
 * Kept apart from mod_kernel.c (the modulators and tempo) so each can change on its own.
 * Both read tables the Processor finds in the controls block (which the audio thread only
 * reads): a path's waypoints (x, y, z triples in control units) and a recording's loop of
 * points (fractions of the target's range). Nothing here allocates, locks or waits.
 */
#ifndef FLOWEQ_PATH_KERNEL_H
#define FLOWEQ_PATH_KERNEL_H

#if defined(__GNUC__)
#define FQP_API __attribute__((visibility("hidden")))
#else
#define FQP_API
#endif

/* The point at `pos` (0..1) along a smooth curve through n waypoints (wp: n x,y,z triples):
 * a cubic Hermite spline with monotone (Fritsch-Carlson) tangents per axis, so the curve
 * passes through every waypoint, is C1, never overshoots a waypoint's coordinates between
 * two of them, and pos = k/(n-1) is waypoint k exactly. n < 1: the origin; n == 1: that point. */
FQP_API void fq_path_eval(const double *wp, int n, double pos, double *xyz);

/* The recorded loop's value at `phase` (cycles; only the fraction counts): linear between
 * the n points, wrapping from the last to the first. n < 1: 0. */
FQP_API double fq_rec_eval(const double *pts, int n, double phase);

#endif
