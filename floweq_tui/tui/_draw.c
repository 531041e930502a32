/* The response curve's cells in one call: floweq_tui.tui._draw.curve_rows.
 *
 * draw_curve (curve.py) computes the response in dB at every pixel column and the plot's
 * frame; this turns them into the plot's rows of (text, style) runs: each pixel column lit
 * from its own row to halfway to its neighbours', the lit pixels as braille dots, drawn over
 * the grid, the spectrum's bars and the target's line, the band letters and the tag on top,
 * each row cut into runs where the style number changes. It is the same drawing as the
 * NumPy one it replaces, step for step (tests/test_tui_drawing.py compares it with a
 * cell-by-cell drawing). Plain C API, no NumPy headers: arrays come as buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* style numbers (curve.STYLES) */
enum { S_GRID = 0, S_SPEC = 1, S_TARGET = 2 };

/* braille dot bit of a pixel at (row 0-3, column 0-1) within a cell */
static const uint8_t DOT[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

static const Py_UCS4 EIGHTHS[8] = {0x20, 0x2581, 0x2582, 0x2583, 0x2584, 0x2585, 0x2586, 0x2587};
#define SOLID 0x2588
#define BRAILLE 0x2800

/* as y_of in curve.py: min(max(rint((rng - db) / (2 rng) (hpx - 1)), 0), hpx - 1) */
static long pixel_row(double db, double rng, double two_rng, long hpx) {
    double y = rint((rng - db) / two_rng * (double)(hpx - 1));
    if (!(y >= 0.0)) return 0; /* (NaN too: a row on the plot, not undefined behaviour) */
    if (y > (double)(hpx - 1)) return hpx - 1;
    return (long)y;
}

/* a contiguous buffer of n doubles (or NULL for None when optional) */
static int get_doubles(PyObject *obj, Py_buffer *view, Py_ssize_t n, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 8 || view->format == NULL || strcmp(view->format, "d") != 0 ||
        (n >= 0 && view->len != n * 8)) {
        PyBuffer_Release(view);
        view->obj = NULL;
        PyErr_Format(PyExc_ValueError, "%s: %zd float64 values expected", name, n);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(curve_rows_doc,
"curve_rows(curve, target, spectrum, grid, rng, pw, ph, curve_style, marks, tag, labels, styles)\n"
"\n"
"The plot's rows ([label run, (text, style), ...] per row, ph rows) of a curve drawn over\n"
"its grid. curve: float64 dB at 2 pw pixel columns; target: the same for the target's\n"
"line, or None; spectrum: float64 at pw columns, or None; grid: pw x ph code points\n"
"(uint32, bytes); curve_style: the curve's style number; marks: (column, code point,\n"
"style number) of the band letters in order (a later one wins); tag: text at the top\n"
"right (at most pw - 1 characters); labels: each row's first run; styles: the style of\n"
"each style number.");

static PyObject *curve_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *curve_o, *target_o, *spectrum_o, *grid_o, *marks_o, *tag_o, *labels_o, *styles_o;
    double rng;
    Py_ssize_t pw, ph;
    int curve_style;
    if (!PyArg_ParseTuple(args, "OOOOdnniOUOO:curve_rows", &curve_o, &target_o, &spectrum_o,
                          &grid_o, &rng, &pw, &ph, &curve_style, &marks_o, &tag_o, &labels_o,
                          &styles_o))
        return NULL;
    if (pw < 1 || ph < 1 || pw > 100000 || ph > 100000 || !(rng > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "curve_rows: a plot of at least 1 x 1 and rng > 0");
        return NULL;
    }
    if (!PyTuple_Check(labels_o) || PyTuple_GET_SIZE(labels_o) != ph || !PyTuple_Check(styles_o)) {
        PyErr_SetString(PyExc_ValueError, "curve_rows: labels (ph runs) and styles as tuples");
        return NULL;
    }
    Py_ssize_t nstyles = PyTuple_GET_SIZE(styles_o);
    if (curve_style < 0 || curve_style >= nstyles || nstyles > 127 || nstyles <= S_TARGET) {
        PyErr_SetString(PyExc_ValueError, "curve_rows: style numbers out of range");
        return NULL;
    }
    const Py_ssize_t wpx = 2 * pw, hpx = 4 * ph, n = pw * ph;
    Py_buffer cv = {0}, tv = {0}, sv = {0}, gv = {0};
    int have_t = 0, have_s = 0, have_g = 0;
    PyObject *result = NULL;
    Py_UCS4 *codes = NULL;
    int8_t *sids = NULL;
    long *ys = NULL;

    if (get_doubles(curve_o, &cv, wpx, "curve") < 0) goto done;
    if (target_o != Py_None) {
        if (get_doubles(target_o, &tv, wpx, "target") < 0) goto done;
        have_t = 1;
    }
    if (spectrum_o != Py_None) {
        if (get_doubles(spectrum_o, &sv, pw, "spectrum") < 0) goto done;
        have_s = 1;
    }
    if (PyObject_GetBuffer(grid_o, &gv, PyBUF_C_CONTIGUOUS) < 0) goto done;
    have_g = 1;
    if (gv.len != n * 4) {
        PyErr_SetString(PyExc_ValueError, "curve_rows: grid: pw x ph uint32 code points");
        goto done;
    }
    codes = PyMem_Malloc(n * sizeof(Py_UCS4));
    sids = PyMem_Malloc(n);
    ys = PyMem_Malloc(wpx * sizeof(long));
    if (!codes || !sids || !ys) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(codes, gv.buf, n * 4);
    memset(sids, S_GRID, n);
    const double two_rng = 2 * rng;

    /* the spectrum's bars: rows ph-1-k for k < trunc(level) solid, the next one's eighths */
    if (have_s) {
        const double *spec = sv.buf;
        for (Py_ssize_t c = 0; c < pw; c++) {
            double level = (spec[c] + 100.0) / 90.0 * (double)ph;
            double full = trunc(level);
            for (Py_ssize_t r = 0; r < ph; r++) {
                if ((double)(ph - 1 - r) < full) {
                    codes[r * pw + c] = SOLID;
                    sids[r * pw + c] = S_SPEC;
                }
            }
            double frac = level - full;
            if (full >= 0.0 && full < (double)ph && frac > 0.125) {
                long e = (long)(frac * 8);
                Py_ssize_t at = (ph - 1 - (Py_ssize_t)full) * pw + c;
                codes[at] = EIGHTHS[e < 7 ? e : 7];
                sids[at] = S_SPEC;
            }
        }
    }
    /* the target's line behind the response: one pixel per column */
    if (have_t) {
        const double *tc = tv.buf;
        uint8_t *tbits = PyMem_Calloc(n, 1);
        if (!tbits) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t x = 0; x < wpx; x++) {
            long y = pixel_row(tc[x], rng, two_rng, hpx);
            tbits[(y / 4) * pw + x / 2] |= DOT[y % 4][x % 2];
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (tbits[i]) {
                codes[i] = BRAILLE + tbits[i];
                sids[i] = S_TARGET;
            }
        }
        PyMem_Free(tbits);
    }
    /* the response: each column lit from its row to halfway to its neighbours' (no gaps) */
    {
        const double *cc = cv.buf;
        for (Py_ssize_t x = 0; x < wpx; x++) ys[x] = pixel_row(cc[x], rng, two_rng, hpx);
        uint8_t *bits = PyMem_Calloc(n, 1);
        if (!bits) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t x = 0; x < wpx; x++) {
            long lo = ys[x], hi = ys[x];
            for (int side = -1; side <= 1; side += 2) {
                Py_ssize_t nb = x + side;
                if (nb < 0 || nb >= wpx) continue;
                long sum = ys[x] + ys[nb]; /* (>= 0: ceil and floor of sum / 2) */
                long up = (sum + 1) / 2, down = sum / 2;
                if (up < lo) lo = up;
                if (down > hi) hi = down;
            }
            for (long y = lo; y <= hi; y++) bits[(y / 4) * pw + x / 2] |= DOT[y % 4][x % 2];
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (bits[i]) {
                codes[i] = BRAILLE + bits[i];
                sids[i] = (int8_t)curve_style;
            }
        }
        PyMem_Free(bits);
    }
    /* the band letters, on the curve at their columns (a later one wins) */
    {
        PyObject *seq = PySequence_Fast(marks_o, "curve_rows: marks: a sequence");
        if (!seq) goto done;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            Py_ssize_t col;
            unsigned int code;
            int sid;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "nIi:mark", &col, &code, &sid)) {
                Py_DECREF(seq);
                goto done;
            }
            if (col < 0 || col >= pw || sid < 0 || sid >= nstyles || code > 0x10FFFF) {
                Py_DECREF(seq);
                PyErr_SetString(PyExc_ValueError, "curve_rows: a mark off the plot");
                goto done;
            }
            Py_ssize_t px = col * 2 < wpx - 1 ? col * 2 : wpx - 1;
            Py_ssize_t at = (ys[px] / 4) * pw + col;
            codes[at] = code;
            sids[at] = (int8_t)sid;
        }
        Py_DECREF(seq);
    }
    /* the tag, top right, in the last style */
    {
        Py_ssize_t len = PyUnicode_GET_LENGTH(tag_o);
        if (len > pw) {
            PyErr_SetString(PyExc_ValueError, "curve_rows: a tag wider than the plot");
            goto done;
        }
        int kind = PyUnicode_KIND(tag_o);
        const void *data = PyUnicode_DATA(tag_o);
        for (Py_ssize_t k = 0; k < len; k++) {
            codes[pw - len + k] = PyUnicode_READ(kind, data, k);
            sids[pw - len + k] = (int8_t)(nstyles - 1);
        }
    }
    /* the rows: the label's run, then a run per stretch of one style number */
    result = PyList_New(ph);
    if (!result) goto done;
    for (Py_ssize_t r = 0; r < ph; r++) {
        PyObject *row = PyList_New(0);
        if (!row) goto fail;
        PyList_SET_ITEM(result, r, row);
        if (PyList_Append(row, PyTuple_GET_ITEM(labels_o, r)) < 0) goto fail;
        const Py_UCS4 *rc = codes + r * pw;
        const int8_t *rs = sids + r * pw;
        Py_ssize_t x = 0;
        while (x < pw) {
            Py_ssize_t x1 = x + 1;
            while (x1 < pw && rs[x1] == rs[x]) x1++;
            PyObject *text = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, rc + x, x1 - x);
            if (!text) goto fail;
            PyObject *style = PyTuple_GET_ITEM(styles_o, rs[x]);
            PyObject *run = PyTuple_Pack(2, text, style);
            Py_DECREF(text);
            if (!run) goto fail;
            int bad = PyList_Append(row, run);
            Py_DECREF(run);
            if (bad < 0) goto fail;
            x = x1;
        }
    }
    goto done;
fail:
    Py_CLEAR(result);
done:
    PyMem_Free(codes);
    PyMem_Free(sids);
    PyMem_Free(ys);
    if (cv.obj) PyBuffer_Release(&cv);
    if (have_t) PyBuffer_Release(&tv);
    if (have_s) PyBuffer_Release(&sv);
    if (have_g) PyBuffer_Release(&gv);
    return result;
}

PyDoc_STRVAR(response_db_doc,
"response_db(sos, z1, z2) -> bytes\n"
"\n"
"The cascade's magnitude in dB (float64, bytes) at n frequencies: the sum over the sections\n"
"(sos: 6 floats each, b0 b1 b2 a0 a1 a2) of 20 log10(max(|H|, 1e-12)), H = (b0 + b1 z^-1 +\n"
"b2 z^-2) / (a0 + a1 z^-1 + a2 z^-2); z1, z2: z^-1 and z^-2 at the n frequencies\n"
"(complex128 as float64 pairs, re and im), as eqmath.response_db computes it.");

static PyObject *response_db(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sos_o, *z1_o, *z2_o;
    if (!PyArg_ParseTuple(args, "OOO:response_db", &sos_o, &z1_o, &z2_o)) return NULL;
    PyObject *seq = PySequence_Fast(sos_o, "response_db: sos: a sequence of floats");
    if (!seq) return NULL;
    Py_ssize_t ns = PySequence_Fast_GET_SIZE(seq);
    if (ns % 6 != 0 || ns > 6 * 64) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "response_db: sos: 6 floats per section");
        return NULL;
    }
    double sos[6 * 64];
    for (Py_ssize_t i = 0; i < ns; i++) {
        sos[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        if (sos[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_buffer v1 = {0}, v2 = {0};
    PyObject *out = NULL;
    if (get_doubles(z1_o, &v1, -1, "z1") < 0) return NULL;
    if (get_doubles(z2_o, &v2, v1.len / 8, "z2") < 0) goto done;
    if (v1.len % 16 != 0) {
        PyErr_SetString(PyExc_ValueError, "response_db: z1, z2: complex values as pairs");
        goto done;
    }
    Py_ssize_t n = v1.len / 16;
    out = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!out) goto done;
    double *db = (double *)PyBytes_AS_STRING(out);
    const double *z1 = v1.buf, *z2 = v2.buf;
    for (Py_ssize_t k = 0; k < n; k++) {
        double z1r = z1[2 * k], z1i = z1[2 * k + 1], z2r = z2[2 * k], z2i = z2[2 * k + 1];
        double total = 0.0;
        for (Py_ssize_t s = 0; s < ns; s += 6) {
            const double *c = sos + s;
            double nr = c[0] + c[1] * z1r + c[2] * z2r, ni = c[1] * z1i + c[2] * z2i;
            double dr = c[3] + c[4] * z1r + c[5] * z2r, di = c[4] * z1i + c[5] * z2i;
            double mag = hypot(nr, ni) / hypot(dr, di);
            if (!(mag >= 1e-12) && !isnan(mag)) mag = 1e-12; /* (as np.maximum: NaN stays) */
            total += 20.0 * log10(mag);
        }
        db[k] = total;
    }
done:
    if (v1.obj) PyBuffer_Release(&v1);
    if (v2.obj) PyBuffer_Release(&v2);
    return out;
}

static PyMethodDef methods[] = {
    {"curve_rows", curve_rows, METH_VARARGS, curve_rows_doc},
    {"response_db", response_db, METH_VARARGS, response_db_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_draw", "The response curve's pixel work (see curve.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__draw(void) { return PyModule_Create(&module); }
