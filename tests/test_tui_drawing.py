"""The drawing shortcuts of the UI give what the plain way gives: the curve's cells built as
arrays against a cell-by-cell drawing, kept lines against Textual's own, the cell widths
against rich's, a row's changed span, and the groups fed whenever what they show changes."""

from __future__ import annotations

import asyncio
import functools
import gc
import random
from itertools import groupby
from operator import itemgetter

import numpy as np
import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, synthetic_family  # noqa: E402
from pilot_helpers import until  # noqa: E402
from rich.cells import cell_len  # noqa: E402
from rich.style import Style  # noqa: E402
from textual.geometry import Region  # noqa: E402
from textual.widget import Widget  # noqa: E402

from floweq_tui import eqmath  # noqa: E402
from floweq_tui.controls import METER_INDEX  # noqa: E402
from floweq_tui.params import FREQ_INDEX, apply_strength  # noqa: E402
from floweq_tui.tui import curve as cv  # noqa: E402
from floweq_tui.tui.app import GC_YOUNG, FloweqApp  # noqa: E402
from floweq_tui.tui.control_group import ControlGroup  # noqa: E402
from floweq_tui.tui.rows import _NARROW, KeptLines, cells, changed_span  # noqa: E402

FAMILY = synthetic_family()


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


# ------------------------------------------------------------------ the curve


def cell_by_cell(width, height, params, active, samplerate, strength=1.0, bypass=False,
                 spectrum=None, tag="", target=None):  # fmt: skip
    """The curve drawn a cell at a time (a list of (text, style) per cell, merged into runs at
    the end): how ``draw_curve`` drew it before its cells became arrays."""
    if width < cv.GUTTER + 8 or height < 3:
        return [[(" " * max(width, 0), None)] for _ in range(max(height, 0))]
    pw, ph = width - cv.GUTTER, height - 1
    wpx, hpx = 2 * pw, 4 * ph
    freqs = cv._freqs(wpx)
    p = apply_strength(np.asarray(params, dtype=np.float64), strength)
    fs = float(samplerate) if samplerate and samplerate >= 8000 else 48000.0
    curve = np.zeros(wpx) if bypass else eqmath.response_db(p, freqs, fs, np.array(active))
    tcurve = None
    if target is not None and len(target[0]) >= 2:
        tf, tdb = np.asarray(target[0], dtype=float), np.asarray(target[1], dtype=float)
        tcurve = np.interp(np.log(freqs), np.log(tf), tdb)
    rng = cv.db_range(curve if tcurve is None else np.concatenate([curve, tcurve]))

    def y_of(db):
        return np.clip(np.rint((rng - np.asarray(db)) / (2 * rng) * (hpx - 1)), 0, hpx - 1)

    dots = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])

    def braille(lit):
        return (lit.reshape(ph, 4, pw, 2) * dots[None, :, None, :]).sum(axis=(1, 3))

    ys = y_of(curve).astype(int)
    lo, hi = ys.copy(), ys.copy()
    mid = (ys[1:] + ys[:-1]) / 2.0
    for side in (slice(1, None), slice(None, -1)):
        lo[side] = np.minimum(lo[side], np.ceil(mid))
        hi[side] = np.maximum(hi[side], np.floor(mid))
    rows_px = np.arange(hpx)[:, None]
    bits = braille((rows_px >= lo) & (rows_px <= hi))
    cells_ = [list(row) for row in cv._grid(pw, ph, rng)[1]]
    if spectrum is not None and len(spectrum) == pw:
        for c in range(pw):
            level = (float(spectrum[c]) + 100.0) / 90.0 * ph
            full = int(level)
            for k in range(min(full, ph)):
                cells_[ph - 1 - k][c] = ("█", cv.S_SPEC)
            frac = level - full
            if 0 <= full < ph and frac > 0.125:
                cells_[ph - 1 - full][c] = (" ▁▂▃▄▅▆▇"[min(int(frac * 8), 7)], cv.S_SPEC)
    if tcurve is not None:
        for r, row in enumerate(braille(rows_px == y_of(tcurve).astype(int)[None, :]).tolist()):
            for c, b in enumerate(row):
                if b:
                    cells_[r][c] = (chr(0x2800 + b), cv.S_TARGET)
    for r, row in enumerate(bits.tolist()):
        for c, b in enumerate(row):
            if b:
                cells_[r][c] = (chr(0x2800 + b), cv.S_CURVE_OFF if bypass else cv.S_CURVE)
    for b, fi in enumerate(FREQ_INDEX):
        col = min(max(int(round(float(cv.x_of(p[fi], wpx)))) // 2, 0), pw - 1)
        y = int(ys[min(col * 2, wpx - 1)]) // 4
        on = active[b] and not bypass
        mark = cv.BAND_MARKS[b] if on else cv.BAND_MARKS[b].lower()
        cells_[y][col] = (mark, cv.S_BANDS[b] if on else cv.S_CURVE_OFF)
    if tag:
        t = tag[: pw - 1]
        for k, ch in enumerate(t):
            cells_[0][pw - len(t) + k] = (ch, cv.S_TAG)
    labels, axis = cv._frame(pw, ph, rng)
    rows = []
    for r in range(ph):
        runs = [
            ("".join(map(itemgetter(0), run)), st)
            for st, run in groupby(cells_[r], key=itemgetter(1))
        ]
        rows.append([labels[r], *runs])
    rows.append(list(axis))
    return rows


def random_setting(rnd: np.random.Generator) -> np.ndarray:
    gains = rnd.uniform(-24, 24, 5)
    freqs = 10 ** np.array([rnd.uniform(1.2, 3), rnd.uniform(1.5, 4), rnd.uniform(2, 4.3),
                            rnd.uniform(2, 4.3), rnd.uniform(3, 4.5)])  # fmt: skip
    qs = rnd.uniform(0.1, 10, 3)
    return np.array([gains[0], freqs[0], gains[1], freqs[1], qs[0], gains[2], freqs[2], qs[1],
                     gains[3], freqs[3], qs[2], gains[4], freqs[4]])  # fmt: skip


def test_curve_rows_are_the_cell_by_cell_drawing() -> None:
    """Random settings, sizes, flags, spectra and targets: the same runs, the same styles."""
    rnd = np.random.default_rng(11)
    for _ in range(600):
        width, height = int(rnd.integers(5, 160)), int(rnd.integers(1, 50))
        pw = width - cv.GUTTER
        spectrum = None
        if rnd.random() < 0.3 and pw > 0:
            spectrum = rnd.uniform(-130, 5, pw if rnd.random() < 0.8 else max(pw - 1, 1))
        target = None
        if rnd.random() < 0.2:
            n = int(rnd.integers(2, 30))
            target = (
                tuple(np.sort(10 ** rnd.uniform(1.3, 4.3, n))),
                tuple(rnd.uniform(-30, 30, n)),
            )
        args = (
            width,
            height,
            random_setting(rnd),
            tuple(bool(v) for v in rnd.random(5) < 0.8),
            float(rnd.choice([44100.0, 48000.0, 96000.0, 0.0])),
            float(rnd.choice([1.0, 0.5, rnd.random()])),
            bool(rnd.random() < 0.1),
            spectrum,
            str(rnd.choice(["", "", "MUTED", "BYPASS"])),
        )
        assert cv.draw_curve(*args, target=target) == cell_by_cell(*args, target=target), args[:2]


def test_curve_rows_in_c_at_the_edges_are_the_cell_by_cell_drawing() -> None:
    """The C drawing (``_draw.curve_rows``) at its edges: the smallest plots, gains that
    widen the dB range or pin the curve to the top or bottom row, spectra far off the scale,
    every band on one column, tags up to the plot's width, non-ASCII tags."""
    rnd = np.random.default_rng(12)
    for i in range(400):
        width = int(rnd.choice([cv.GUTTER + 8, cv.GUTTER + 9, int(rnd.integers(12, 200))]))
        height = int(rnd.choice([3, 4, int(rnd.integers(3, 60))]))
        pw = width - cv.GUTTER
        p = random_setting(rnd)
        if i % 4 == 0:
            p[[0, 2, 5, 8, 11]] = rnd.choice([-200.0, -60.0, 0.0, 60.0, 200.0], 5)
        if i % 5 == 0:
            p[list(FREQ_INDEX)] = float(rnd.choice([1.0, 20.0, 1000.0, 20000.0, 1e6]))
        spectrum = None
        if i % 3 == 0:
            spectrum = rnd.choice([-1e6, -130.0, -100.0, -55.0, -10.0, 0.0, 1e6], pw)
            spectrum = spectrum + rnd.uniform(-1, 1, pw) * (i % 2)
        target = None
        if i % 7 == 0:
            target = ((20.0, 20000.0), (float(rnd.uniform(-80, 80)), float(rnd.uniform(-80, 80))))
        tag = str(rnd.choice(["", "MUTED", "A", "ÄB–ö", "x" * pw, "y" * (pw + 3)]))
        args = (
            width,
            height,
            p,
            tuple(bool(v) for v in rnd.random(5) < 0.7),
            48000.0,
            1.0,
            bool(i % 11 == 0),
            spectrum,
            tag,
        )
        assert cv.draw_curve(*args, target=target) == cell_by_cell(*args, target=target), i


def test_curve_response_in_c_is_eqmaths() -> None:
    """The curve's response (its sections designed in Python, summed in C) is
    ``eqmath.response_db``'s, with bands on and off, at the rates and sizes drawn."""
    rnd = np.random.default_rng(13)
    for _ in range(300):
        p = random_setting(rnd)
        active = tuple(bool(v) for v in rnd.random(5) < 0.7)
        fs = float(rnd.choice([8000.0, 44100.0, 48000.0, 96000.0, 192000.0]))
        freqs = cv._freqs(2 * int(rnd.integers(8, 300)))
        got = cv._response_db(p, freqs, fs, active)
        want = eqmath.response_db(p, freqs, fs, np.array(active))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_curve_rows_in_c_refuse_what_does_not_fit() -> None:
    """Arrays of the wrong size or type, marks off the plot, a too wide tag: a ValueError
    (or TypeError), never a read or write out of bounds."""
    from floweq_tui.tui._draw import curve_rows, response_db

    pw, ph = 10, 3
    labels = tuple(("    ", cv.S_LABEL) for _ in range(ph))
    grid = bytes(4 * pw * ph)
    ok = (np.zeros(2 * pw), None, None, grid, 12.0, pw, ph, 3, [], "", labels, cv.STYLES)
    assert len(curve_rows(*ok)) == ph
    bad = [
        {0: np.zeros(2 * pw - 1)},
        {0: np.zeros(2 * pw, dtype=np.float32)},
        {1: np.zeros(2 * pw + 1)},
        {2: np.zeros(pw - 1)},
        {3: grid[:-4]},
        {4: 0.0},
        {5: 0},
        {7: len(cv.STYLES)},
        {8: [(pw, ord("L"), 5)]},
        {8: [(0, ord("L"), 99)]},
        {9: "x" * (pw + 1)},
        {10: labels[:-1]},
    ]
    for change in bad:
        args = list(ok)
        for k, v in change.items():
            args[k] = v
        with pytest.raises((ValueError, TypeError)):
            curve_rows(*args)
    z = np.zeros(8)
    with pytest.raises(ValueError):
        response_db([1.0] * 7, z, z)
    with pytest.raises(ValueError):
        response_db([1.0] * 6, z, np.zeros(6))


def test_curve_styles_are_distinct() -> None:
    """A run is one style number: no two numbers may stand for equal styles (they would have
    been one run drawn cell by cell)."""
    assert len(set(cv.STYLES)) == len(cv.STYLES)


# ------------------------------------------------------------------ rows


def test_cells_are_richs_cell_widths() -> None:
    for lo, hi in _NARROW:
        assert all(cell_len(chr(c)) == 1 for c in range(lo, hi + 1)), hex(lo)
    rnd = random.Random(3)
    chars = [chr(c) for c in range(0x20, 0x3000)] + ["漢", "🙂", "\u200d", "\ufe0f", "\x00"]
    for _ in range(20000):
        text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 12)))
        assert cells(text) == cell_len(text), text


def test_changed_span_leaves_equal_cells_out() -> None:
    """Outside the span, both drawings of a row have the same character in the same style."""
    rnd = random.Random(5)
    styles = [None, Style(color="red"), Style(color="blue"), Style(bold=True)]
    chars = "ab ─⠁⠂⣀●→"

    def per_cell(row):
        return [(ch, st) for text, st in row for ch in text]

    for _ in range(20000):
        old = tuple(
            ("".join(rnd.choice(chars) for _ in range(rnd.randint(0, 5))), rnd.choice(styles))
            for _ in range(rnd.randint(0, 6))
        )
        new = list(old)
        for _ in range(rnd.randint(0, 3)):
            if new and rnd.random() < 0.6:
                k = rnd.randrange(len(new))
                text, st = new[k]
                if text and rnd.random() < 0.7:
                    q = rnd.randrange(len(text))
                    text = text[:q] + rnd.choice(chars) + text[q + 1 :]
                else:
                    st = rnd.choice(styles)
                new[k] = (text, st)
            else:
                new.insert(rnd.randint(0, len(new)), (rnd.choice(chars), rnd.choice(styles)))
        width = rnd.randint(1, 35)
        x0, x1 = changed_span(old, tuple(new), width)
        assert 0 <= x0 <= x1 <= width  # (empty: nothing shown changed)
        a, b = per_cell(old)[:width], per_cell(new)[:width]
        a += [None] * (width - len(a))
        b += [None] * (width - len(b))
        assert a[:x0] == b[:x0] and a[x1:] == b[x1:], (old, new, width, x0, x1)


def kept_and_textuals(app: FloweqApp) -> list[tuple[str, bool]]:
    """Every widget keeping its lines: (name, its lines are what Textual draws for it)."""
    out = []
    for widget in app.screen.query("*"):
        if not isinstance(widget, KeptLines):
            continue
        width, height = widget.outer_size
        if not width or not height:
            continue
        whole = Region(0, 0, width, height)
        kept = [list(strip) for strip in widget.render_lines(whole)]
        widget._styles_cache.clear()
        textuals = [list(strip) for strip in Widget.render_lines(widget, whole)]
        out.append((f"{type(widget).__name__}#{widget.id}", kept == textuals))
    return out


@aio
async def test_kept_lines_are_textuals_own_while_the_curve_and_map_move() -> None:
    """The kept lines (plain widgets drawn without Textual's styles cache, the map's left
    border drawn with its rows, lines whose filters change nothing left unfiltered, whole
    widgets served at once) are the lines Textual draws for the same widgets."""
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.get_line_filters()  # (the filters are in play)
        m = eng.meters.array
        _ = eng.meters.params
        m[METER_INDEX["mods_running"]] = 1.0
        rnd = np.random.default_rng(2)
        names = set()
        for k in range(24):
            m[METER_INDEX["mod_x"]], m[METER_INDEX["mod_y"]] = rnd.uniform(-1, 1, 2)
            m[METER_INDEX["p0"] : METER_INDEX["p0"] + 13] = random_setting(rnd)
            if k % 6 == 0:
                eng.controls["x"] = rnd.uniform(-1, 1)  # (a group's value moves too)
            if k == 12:
                eng.controls["mode"] = 1  # (the semantic group lights up, latent dims)
            await until(pilot, functools.partial(lambda n: app.looks > n + 1, app.looks))
            result = kept_and_textuals(app)
            names |= {name for name, _ in result}
            assert all(same for _, same in result), result
        assert {"LatentMap#map", "CurveView#curve", "KeptFooter#None"} <= names


@aio
async def test_a_look_draws_the_rows_that_changed_at_once() -> None:
    """The rows a look changes are on the screen when the look returns (drawn as the
    screen's update timer would draw them, without its message round trip), the same as
    the widgets' rows; with a layout pending, the screen updates itself as Textual would."""
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        curve = app.query_one("#curve")
        m = eng.meters.array
        m[METER_INDEX["mods_running"]] = 1.0
        rnd = np.random.default_rng(3)
        for _ in range(6):
            m[METER_INDEX["p0"] : METER_INDEX["p0"] + 13] = random_setting(rnd)
            before = list(curve._rows)
            app._look()
            screen = app.screen
            assert curve._rows != before  # (the look changed the curve)
            assert not screen._dirty_widgets and not screen._compositor._dirty_regions
            r = curve.region
            lines = [strip.text for strip in screen._compositor.render_strips()]
            shown = [line[r.x : r.right] for line in lines[r.y : r.bottom]]
            rows = ["".join(t for t, _ in row).ljust(r.width)[: r.width] for row in curve._rows]
            assert shown == rows
        m[METER_INDEX["p0"] : METER_INDEX["p0"] + 13] = random_setting(rnd)
        screen._layout_required = True  # (Textual's own way then)
        app._look()
        assert screen._dirty_widgets
        await until(pilot, lambda: not screen._dirty_widgets, what="the screen updated")


# ------------------------------------------------------------------ the groups


@aio
async def test_groups_are_fed_when_what_they_show_changes_and_not_for_a_moving_point() -> None:
    """While modulators move the decoded point, the groups are not fed (nothing they show
    moves); a control another process writes (a MIDI knob) or a knob position reaches them
    at the next look all the same."""
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        fed = []
        for g in main.groups:
            g.update_values = functools.partial(
                lambda f, name: (fed.append(name), f())[1], g.update_values, g.id
            )
        m = eng.meters.array
        _ = eng.meters.params
        m[METER_INDEX["mods_running"]] = 1.0
        k = 0

        def step() -> bool:
            nonlocal k
            k += 1
            m[METER_INDEX["mod_x"]] = -0.5 + 0.02 * k
            m[METER_INDEX["p0"]] += 0.1
            return app.looks >= looks + 10

        looks, drawn = app.looks, app.frames_drawn
        await until(pilot, step, what="ten modulated looks")
        assert app.frames_drawn - drawn >= 5 and fed == []

        glide = main.query_one("#g-mode", ControlGroup)

        def drawn() -> str:  # (the rows as last drawn, not drawn again now)
            return "\n".join(glide.render_line(y).text for y in range(glide.size.height))

        assert "35ms" not in drawn()
        eng.controls["glide_ms"] = 35.0  # another writer (the MIDI service)
        await until(pilot, lambda: "35ms" in drawn(), what="the glide")
        assert set(fed) == {g.id for g in main.groups}  # (all fed at that look)
        fed.clear()
        app.ctrl.knobs = {"glide_ms": _knob(250.0)}  # a knob not picked up yet
        await until(pilot, lambda: "250" in drawn(), what="the knob")
        assert "g-mode" in fed


def _knob(position: float):
    from floweq_tui.midi.state import KnobInfo

    return KnobInfo(knob=position, picked_up=False, source="cc 16 ch1")


# ------------------------------------------------------------------ the collector


@aio
async def test_the_collector_is_settled_once_the_app_is_up() -> None:
    """What start-up made is frozen and young collections are spaced out (the frames make
    hundreds of objects each)."""
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: gc.get_freeze_count() > 0, what="the freeze")
        assert gc.get_threshold()[0] >= GC_YOUNG
