"""The frequency response: log axis 20 Hz-20 kHz, dB grid, the total curve in braille.

Drawing is a pure function of (size, parameters, flags, spectrum) so the widget redraws only
when one of those changed. Without colour the curve stays legible: it is the only braille,
the grid uses light box characters, band centres are letters/digits (L 1 2 3 H).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from itertools import groupby
from operator import itemgetter

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ..eqmath import (
    BAND_KIND_CODES,
    KIND_LOWSHELF,
    KIND_PEAK,
    MIN_FREQ,
    NYQUIST_FRACTION,
    check_rate,
)
from ..params import FREQ_INDEX, GAIN_INDEX, Q_INDEX, SHELF_Q, apply_strength
from ._draw import curve_rows, response_db
from .rows import Row, RowsView

FMIN, FMAX = 20.0, 20000.0
GUTTER = 4
BAND_MARKS = ("L", "1", "2", "3", "H")
BAND_COLOURS = ("#ff8c42", "#ffd23f", "#7bd389", "#3bceac", "#b388eb")

S_CURVE = Style(color="#ffcc33", bold=True)
S_CURVE_OFF = Style(color="#808080")
S_GRID = Style(color="#4a5560")
S_LABEL = Style(color="#8a96a3")
S_SPEC = Style(color="#2f5d7c")
S_TAG = Style(color="#ff5f5f", bold=True)
S_TARGET = Style(color="#5f87af")
S_BANDS = tuple(Style(color=colour, bold=True) for colour in BAND_COLOURS)


def x_of(freq: float | np.ndarray, width_px: int) -> np.ndarray:
    """Pixel column of a frequency on the log axis."""
    f = np.clip(np.asarray(freq, dtype=np.float64), FMIN, FMAX)
    return np.log(f / FMIN) / math.log(FMAX / FMIN) * (width_px - 1)


def db_range(curve: np.ndarray) -> float:
    """+-12 dB, or wider in steps of 6 dB when the curve needs it."""
    peak = float(np.abs(curve).max()) if curve.size else 0.0
    return max(12.0, math.ceil(peak / 6.0 - 1e-9) * 6.0)


def spectrum_db(ring: np.ndarray, samplerate: float, cols: int) -> np.ndarray:
    """Output spectrum (dBFS, Hann window) sampled at ``cols`` log-spaced frequencies."""
    n = 4096
    x = np.asarray(ring[-n:], dtype=np.float64)
    if x.size < 256:
        return np.full(cols, -120.0)
    w = np.hanning(x.size)
    mag = np.abs(np.fft.rfft(x * w)) * 2.0 / w.sum()
    freqs = np.fft.rfftfreq(x.size, 1.0 / samplerate)
    edges = np.geomspace(FMIN, FMAX, cols + 1)
    idx = np.searchsorted(freqs, edges)
    out = np.empty(cols)
    for i in range(cols):
        lo, hi = idx[i], max(idx[i + 1], idx[i] + 1)
        seg = mag[lo:hi]
        out[i] = 20 * math.log10(max(float(seg.max()) if seg.size else 0.0, 1e-9))
    return out


def draw_curve(
    width: int,
    height: int,
    params: np.ndarray,
    active: tuple[bool, ...],
    samplerate: float,
    strength: float = 1.0,
    bypass: bool = False,
    spectrum: np.ndarray | None = None,
    tag: str = "",
    target: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> list[list[tuple[str, Style | None]]]:
    """Rows of (text, style) runs for a plot of ``width`` x ``height`` cells.

    ``target``: (freqs, dB) of a curve drawn thinly behind the response (a match's target).
    """
    if width < GUTTER + 8 or height < 3:
        return [[(" " * max(width, 0), None)] for _ in range(max(height, 0))]
    pw, ph = width - GUTTER, height - 1  # plot cells; last row = frequency labels
    wpx = 2 * pw
    freqs = _freqs(wpx)
    p = np.asarray(params, dtype=np.float64)
    if strength != 1.0:  # (scaling by 1 changes nothing)
        p = apply_strength(p, strength)
    fs = float(samplerate) if samplerate and samplerate >= 8000 else 48000.0
    curve = np.zeros(wpx) if bypass else _response_db(p, freqs, fs, active)
    tcurve = None
    if target is not None and len(target[0]) >= 2:
        tf, tdb = np.asarray(target[0], dtype=float), np.asarray(target[1], dtype=float)
        tcurve = np.interp(np.log(freqs), np.log(tf), tdb)
    rng = db_range(curve if tcurve is None else np.concatenate([curve, tcurve]))

    # the cells: the grid, the spectrum's bars, the target's line, the response in braille,
    # the band letters and the tag, cut into runs where the style changes (_draw.c)
    centres = x_of(p[list(FREQ_INDEX)], wpx).tolist()
    marks = []
    for b in range(len(FREQ_INDEX)):  # (a later band's wins)
        col = min(max(int(round(centres[b])) // 2, 0), pw - 1)
        on_b = active[b] and not bypass
        marks.append(
            (
                col,
                ord(BAND_MARKS[b] if on_b else BAND_MARKS[b].lower()),
                _BAND0 + b if on_b else _OFF,
            )
        )
    labels, axis = _frame(pw, ph, rng)
    if spectrum is not None and len(spectrum) == pw:
        spectrum = np.ascontiguousarray(spectrum, dtype=np.float64)
    else:
        spectrum = None
    rows = curve_rows(
        curve,
        tcurve,
        spectrum,
        _grid_codes(pw, ph, rng),
        rng,
        pw,
        ph,
        _OFF if bypass else _CURVE,
        marks,
        tag[: pw - 1],
        labels,
        STYLES,
    )
    rows.append(list(axis))
    return rows


STYLES: tuple[Style, ...] = (S_GRID, S_SPEC, S_TARGET, S_CURVE, S_CURVE_OFF, *S_BANDS, S_TAG)
"""A cell's style by its number in ``draw_curve`` (no two equal: a run is one number)."""
_GRID, _SPEC, _TARGET, _CURVE, _OFF, _BAND0 = range(6)
_TAG = _BAND0 + len(S_BANDS)  # (the last: _draw.c draws the tag in it)


@lru_cache(maxsize=16)
def _grid_codes(pw: int, ph: int, rng: float) -> bytes:
    """The grid's cells as code points, uint32 (every grid cell has the style ``S_GRID``)."""
    _, cells = _grid(pw, ph, rng)
    return np.array([[ord(ch) for ch, _ in row] for row in cells], dtype=np.uint32).tobytes()


@lru_cache(maxsize=16)
def _grid(pw: int, ph: int, rng: float) -> tuple[dict[int, float], tuple[tuple, ...]]:
    """The grid's rows ({row: dB} of the labelled rows) and cells for a plot size and range."""
    wpx, hpx = 2 * pw, 4 * ph

    def y_of(db: float) -> int:
        return int(np.clip(np.rint((rng - db) / (2 * rng) * (hpx - 1)), 0, hpx - 1))

    grid_rows = {y_of(v) // 4: v for v in (rng, rng / 2, 0.0, -rng / 2, -rng)}
    decade_cols = {int(round(float(x_of(f, wpx)))) // 2: f for f in (100.0, 1000.0, 10000.0)}
    cells: list[list[tuple[str, Style | None]]] = [[(" ", S_GRID)] * pw for _ in range(ph)]
    for r in range(ph):
        for c in range(pw):
            if r in grid_rows and grid_rows[r] == 0.0:
                ch = "┼" if c in decade_cols else "─"
                cells[r][c] = (ch, S_GRID)
            elif r in grid_rows:
                cells[r][c] = (
                    ("┼" if c in decade_cols else "╌", S_GRID)
                    if c % 2 == 0 or (c in decade_cols)
                    else (" ", S_GRID)
                )
            elif c in decade_cols:
                cells[r][c] = ("┆", S_GRID)
    return grid_rows, tuple(tuple(row) for row in cells)


def _response_db(p: np.ndarray, freqs: np.ndarray, fs: float, active: tuple) -> np.ndarray:
    """``eqmath.response_db`` of one parameter vector, its five sections designed with
    scalar math (the same formulas; NumPy's per-call overhead on 1-element arrays was most
    of the curve's drawing time), the response summed in C (``_draw.response_db``)."""
    fs = check_rate(fs)
    sos: list[float] = []
    for b, kind in enumerate(BAND_KIND_CODES):
        if not active[b]:
            sos += (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
            continue
        qi = Q_INDEX[b]
        q = max(SHELF_Q if qi is None else float(p[qi]), 1e-3)
        f = min(max(float(p[FREQ_INDEX[b]]), MIN_FREQ), NYQUIST_FRACTION * fs)
        big_a = math.sqrt(10.0 ** (float(p[GAIN_INDEX[b]]) / 20.0))
        w = 2.0 * math.pi * f / fs
        cw, sw = math.cos(w), math.sin(w)
        if kind == KIND_PEAK:
            alpha = 0.5 * sw / q
            b0, b1, b2 = 1.0 + alpha * big_a, -2.0 * cw, 1.0 - alpha * big_a
            a0, a1, a2 = 1.0 + alpha / big_a, -2.0 * cw, 1.0 - alpha / big_a
        else:
            am1, ap1 = big_a - 1.0, big_a + 1.0
            beta = sw * math.sqrt(big_a) / q
            am1c = am1 * cw
            if kind == KIND_LOWSHELF:
                b0, b1, b2 = ap1 - am1c + beta, 2.0 * (am1 - ap1 * cw), ap1 - am1c - beta
                a0, a1, a2 = ap1 + am1c + beta, -2.0 * (am1 + ap1 * cw), ap1 + am1c - beta
            else:
                b0, b1, b2 = ap1 + am1c + beta, -2.0 * (am1 + ap1 * cw), ap1 + am1c - beta
                a0, a1, a2 = ap1 - am1c + beta, 2.0 * (am1 - ap1 * cw), ap1 - am1c - beta
            b0, b1, b2 = big_a * b0, big_a * b1, big_a * b2
        sos += (b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0)
    # as eqmath.sos_response and response_db, in C, with z^-1 and z^-2 kept per size and rate
    return np.frombuffer(response_db(sos, *_unit_delays(freqs, fs)), dtype=np.float64)


_DELAYS: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}


def _unit_delays(freqs: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """z^-1 and z^-2 at the pixel columns' frequencies (``freqs`` is ``_freqs(len)``), each
    as float64 pairs (re, im)."""
    key = (len(freqs), fs)
    got = _DELAYS.get(key)
    if got is None:
        if len(_DELAYS) > 16:
            _DELAYS.clear()
        w = 2.0 * np.pi * np.asarray(freqs, dtype=np.float64) / fs
        z1 = np.exp(-1j * w)
        got = _DELAYS[key] = (z1.view(np.float64), (z1 * z1).view(np.float64))
    return got


@lru_cache(maxsize=8)
def _freqs(wpx: int) -> np.ndarray:
    """The pixel columns' frequencies (log-spaced)."""
    freqs = np.geomspace(FMIN, FMAX, wpx)
    freqs.flags.writeable = False
    return freqs


@lru_cache(maxsize=16)
def _frame(pw: int, ph: int, rng: float) -> tuple[tuple[tuple[str, Style], ...], tuple]:
    """The gutter's run for each plot row (dB labels) and the frequency axis row."""
    grid_rows, _ = _grid(pw, ph, rng)
    labels: dict[int, str] = {}
    for r, v in sorted(grid_rows.items()):
        text = "0" if v == 0 else f"{v:+.0f}"
        labels[r] = text.rjust(GUTTER - 1) + " "
    wpx = 2 * pw
    axis = [" "] * pw
    for f, txt in (
        (20.0, "20"),
        (100.0, "100"),
        (1000.0, "1k"),
        (10000.0, "10k"),
        (20000.0, "20k"),
    ):
        col = int(round(float(x_of(f, wpx)))) // 2
        start = min(max(col - len(txt) // 2, 0), pw - len(txt))
        if all(ch == " " for ch in axis[max(start - 1, 0) : start + len(txt) + 1]):
            axis[start : start + len(txt)] = list(txt)
    gutter = tuple((labels.get(r, " " * GUTTER), S_LABEL) for r in range(ph))
    return gutter, ((" Hz ", S_LABEL), ("".join(axis), S_LABEL))


def _merge(cells: list[tuple[str, Style | None]]) -> list[tuple[str, Style | None]]:
    """Cells as runs: neighbours of the same style joined."""
    return [("".join(map(itemgetter(0), run)), st) for st, run in groupby(cells, key=itemgetter(1))]


def rows_to_text(rows: list[list[tuple[str, Style | None]]]) -> Text:
    text = Text(no_wrap=True, overflow="crop", end="")
    for i, row in enumerate(rows):
        if i:
            text.append("\n")
        for chunk, st in row:
            text.append(chunk, st)
    return text


class CurveView(RowsView, Widget):
    """The response curve; ``feed`` it inputs each frame, it refreshes only on change.

    The spectrum comes as a function of the number of plot columns, evaluated for the width
    the curve has when drawn (a width read when feeding may not have settled yet).
    """

    DEFAULT_CSS = "CurveView { width: 1fr; height: 1fr; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._inputs: tuple = ()
        self._source: Callable[[int], np.ndarray] | None = None
        self._spectrum: np.ndarray | None = None
        self._shown: bytes | None = None  # the spectrum drawn last (to the nearest dB)
        self._cache: tuple[tuple, list[Row]] | None = None

    def feed(self, inputs: tuple, spectrum: Callable[[int], np.ndarray] | None = None) -> None:
        """inputs = (params tuple, active, samplerate, strength, bypass, tag[, target]) (target:
        (freqs, dB) tuples drawn behind the response, or None); ``spectrum``:
        ``spectrum(cols)`` gives the output spectrum at ``cols`` columns (None: not shown).
        Pass the same function again to keep the spectrum (it is not recomputed)."""
        if spectrum is not self._source:
            self._source, self._spectrum = spectrum, None
        key = _spectrum_key(self._spectrum_at(self.plot_cols))
        if inputs != self._inputs or key != self._shown:
            self._inputs, self._shown = inputs, key
            self.rows_changed()  # only the rows that differ are repainted

    def _spectrum_at(self, cols: int) -> np.ndarray | None:
        """The spectrum at ``cols`` columns, computed once per source and width."""
        if self._source is None or cols <= 0:
            return None
        if self._spectrum is None or len(self._spectrum) != cols:
            self._spectrum = self._source(cols)
        return self._spectrum

    @property
    def plot_cols(self) -> int:
        return max(self.size.width - GUTTER, 0)

    def draw_rows(self) -> list[Row]:
        w, h = self.size.width, self.size.height
        if not self._inputs:
            return []
        spectrum = self._spectrum_at(self.plot_cols)
        self._shown = _spectrum_key(spectrum)
        key = (w, h, self._inputs, self._shown)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        params, active, fs, strength, bypass, tag, *rest = self._inputs
        spec = spectrum if h >= 8 else None
        target = rest[0] if rest else None
        rows = draw_curve(
            w, h, np.array(params), active, fs, strength, bypass, spec, tag, target=target
        )
        self._cache = (key, rows)
        return rows


def _spectrum_key(spectrum: np.ndarray | None) -> bytes | None:
    """What a redraw depends on: the spectrum to the nearest dB."""
    return None if spectrum is None else spectrum.round(0).tobytes()
