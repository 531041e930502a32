/* path_kernel.c: paths and motion-recording playback (see path_kernel.h). */
#include <math.h>

#include "path_kernel.h"

/* A monotone (Fritsch-Carlson) tangent at point k of the values v[0..n-1] (unit spacing). */
static double fq_tangent(const double *v, int stride, int n, int k)
{
    double d0, d1;
    if (n < 2)
        return 0.0;
    if (k == 0)
        return v[stride] - v[0];
    if (k == n - 1)
        return v[(n - 1) * stride] - v[(n - 2) * stride];
    d0 = v[k * stride] - v[(k - 1) * stride];
    d1 = v[(k + 1) * stride] - v[k * stride];
    if (d0 * d1 <= 0.0)
        return 0.0; /* a local extreme: flat, so the curve does not overshoot it */
    /* harmonic mean of the two slopes: monotone between the points */
    return 2.0 * d0 * d1 / (d0 + d1);
}

FQP_API void fq_path_eval(const double *wp, int n, double pos, double *xyz)
{
    int a, k;
    double s, t, t2, t3, h00, h10, h01, h11, p0, p1, m0, m1;
    if (n < 1) {
        xyz[0] = xyz[1] = xyz[2] = 0.0;
        return;
    }
    if (n == 1 || !(pos > 0.0)) {
        for (a = 0; a < 3; a++)
            xyz[a] = wp[a];
        return;
    }
    if (pos >= 1.0) {
        for (a = 0; a < 3; a++)
            xyz[a] = wp[(n - 1) * 3 + a];
        return;
    }
    s = pos * (n - 1);
    k = (int)s;
    if (k > n - 2)
        k = n - 2;
    t = s - k;
    t2 = t * t;
    t3 = t2 * t;
    h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
    h10 = t3 - 2.0 * t2 + t;
    h01 = -2.0 * t3 + 3.0 * t2;
    h11 = t3 - t2;
    for (a = 0; a < 3; a++) {
        p0 = wp[k * 3 + a];
        p1 = wp[(k + 1) * 3 + a];
        m0 = fq_tangent(wp + a, 3, n, k);
        m1 = fq_tangent(wp + a, 3, n, k + 1);
        xyz[a] = h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1;
    }
}

FQP_API double fq_rec_eval(const double *pts, int n, double phase)
{
    double f, s;
    int k, k1;
    if (n < 1)
        return 0.0;
    f = phase - floor(phase);
    s = f * n;
    k = (int)s;
    if (k >= n)
        k = n - 1;
    if (k < 0)
        k = 0;
    k1 = k + 1 < n ? k + 1 : 0;
    s -= k;
    return pts[k] + s * (pts[k1] - pts[k]);
}
