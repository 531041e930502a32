"""Rows: a widget drawn through Textual's line API, one cached strip per row.

A widget that renders a rich ``Text`` has Textual convert the whole text into strips on
every refresh (most of the UI's time while the curve or the bands move), and repaints every
line of it. A :class:`RowsView` instead draws its rows as runs of ``(text, style)``,
turns each row into a strip once, and on a change repaints only the rows that differ: a
moving meter, a band value or a few columns of the curve cost one line each, not the widget.
The cells are the same as the ``Text`` path's (same styles over the widget's own), so the
snapshots do not change.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual._border import get_box  # (as Textual draws a left border)
from textual.filter import ANSIToTruecolor, DimFilter, Monochrome, NoColor
from textual.geometry import Region, Size
from textual.messages import Update
from textual.screen import Screen
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize

_NARROW = (
    (0x20, 0x7E),  # ASCII
    (0xA0, 0xAC),  # Latin-1 (not the soft hyphen)
    (0xAE, 0x2FF),
    (0x370, 0x3FF),  # Greek (β)
    (0x2010, 0x2027),  # dashes, bullets, ellipsis
    (0x2190, 0x21FF),  # arrows
    (0x2500, 0x25FC),  # box drawing, blocks, shapes (not the wide squares after)
    (0x2800, 0x28FF),  # braille
)
"""Ranges of characters one cell wide (as rich measures them): the ones rows are drawn with."""
_not_narrow = re.compile("[^" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _NARROW) + "]").search


def cells(text: str) -> int:
    """Cells of a text, as rich's ``cell_len`` counts them (its length when every character
    is one of the usual one-cell ones: no table lookup, no cache churn for ever new text)."""
    return cell_len(text) if _not_narrow(text) else len(text)


Run = tuple[str, RichStyle | None]
_END = RichStyle()  # (marks the end of a row)
Row = list[Run]


def changed_span(old: tuple, new: tuple, width: int) -> tuple[int, int]:
    """The cells ``[x0, x1)`` of a row that differ between two drawings of it (runs of text and
    style): the same text in the same style before x0 and from x1 on is left as it is on
    the terminal, so a moving point or a few digits send a few cells, not the row."""
    n = min(len(old), len(new))
    i = 0
    while i < n and old[i] == new[i]:
        i += 1
    x0 = cells("".join([t for t, _ in old[:i]]))
    if i < n and old[i][1] == new[i][1]:  # the same style: the text's common start
        x0 += _common(old[i][0], new[i][0])
    end = cells("".join([t for t, _ in old]))
    if end != cells("".join([t for t, _ in new])):
        return min(x0, width), width  # (the rest moved: up to the padded end)
    j = 0
    while j < n - i and old[-1 - j] == new[-1 - j]:
        j += 1
    x1 = end - cells("".join([t for t, _ in old[len(old) - j :]]))
    if j < n - i and old[-1 - j][1] == new[-1 - j][1]:
        x1 -= _common(old[-1 - j][0][::-1], new[-1 - j][0][::-1])
    x1 = min(max(x1, 0), width)
    x0 = min(x0, x1)
    return (x0, x1) if x0 < x1 else (0, width)


def _common(a: str, b: str) -> int:
    """Cells of the common start of two texts."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # (the longest equal start, by halves: slices compare at C speed)
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return cells(a[:lo])


_held: dict | None = None
"""Screens with rows changed since :func:`hold_updates` (None: not holding)."""


_CAN_HOLD = all(
    hasattr(Screen, name) for name in ("_on_timer_update", "_compositor_refresh", "_context")
)
"""The screen's update is done as this Textual's (else rows are never held)."""


def hold_updates() -> None:
    """Rows changed from now on are drawn at :func:`draw_held` (a look's end), not each
    through the screen's message queue and update timer."""
    global _held
    if _CAN_HOLD:
        _held = {}


def draw_held() -> None:
    """Draw the rows changed since :func:`hold_updates` now, as the screen's update timer
    would (its ``_on_timer_update``): Textual's message round trip (an ``Update`` to the
    screen's queue, its idle handler, then the timer a 60th of a second later) costs a frame
    more wake-ups of the event loop than the drawing. A screen with anything else to do
    (a layout, a scroll, a full repaint, a recompose, a batch) or not on top is prompted
    to update itself as Textual would."""
    global _held
    held, _held = _held, None
    for screen in held or ():
        app = screen.app
        if (
            screen is app.screen
            and screen._dirty_widgets
            and not app._batch_count
            and not app.is_inline
            and not (
                screen._layout_required
                or screen._scroll_required
                or screen._repaint_required
                or screen._recompose_required
            )
        ):
            with screen._context():
                screen._compositor.update_widgets(screen._dirty_widgets)
                screen._compositor_refresh()
        else:
            screen.check_idle()  # (its idle handler starts the update timer)


class KeptLines:
    """Mixin for a ``Widget``: keep the lines Textual drew for it (styles, borders and line
    filters applied) and draw again only the lines marked dirty since.

    Textual's compositor asks every widget under the union of a frame's dirty regions for
    its lines there, and Textual's own ``render_lines`` walks the widget's styles and
    ancestors for each such call, then filters each line again. Here a line drawn once is
    served as it is until a refresh marks it (or the whole widget) dirty, the widget's size
    or the app's line filters change, so a frame costs the lines that changed. The lines
    are Textual's own: what is shown does not change.
    """

    _kept: dict[int, Strip] | None = None
    """Outer line y -> the full-width line as Textual drew it."""
    _kept_key: tuple | None = None
    """(outer size, line filters) the kept lines were drawn for (None: since a full refresh)."""
    _kept_all: list[Strip] | None = None
    """All the lines, top to bottom, while none was marked dirty since they were drawn."""

    def _set_dirty(self, *regions: Region) -> None:  # (all of Textual's repaints come here)
        super()._set_dirty(*regions)  # type: ignore[misc]
        self._kept_all = None
        kept = self._kept
        if not regions:
            self._kept_key = None  # (styles may have changed: look at them again)
        if not kept:
            return
        if not regions:
            kept.clear()
            return
        top = self.gutter.top  # type: ignore[attr-defined]  # (regions are content-relative)
        for region in regions:
            for y in range(region.y + top, region.y + region.height + top):
                kept.pop(y, None)

    def render_lines(self, crop: Region) -> list[Strip]:
        w = self  # a Widget
        width, height = w.outer_size  # type: ignore[attr-defined]
        if crop.y < 0 or crop.bottom > height or w.hover_style._link_id:  # type: ignore[attr-defined]
            return super().render_lines(crop)  # type: ignore[misc]  # (link hover: Textual's)
        filters = tuple(w.app.get_line_filters())  # type: ignore[attr-defined]
        key = (width, height, filters)
        kept = self._kept
        if kept is None or key != self._kept_key:
            kept = self._kept = {}
            self._kept_all = None
            self._kept_key = key
            self._lines_changed_styles()
        whole = crop.x == crop.y == 0 and crop.width == width and crop.height == height
        if whole and self._kept_all is not None:  # (what the compositor asks for most)
            return list(self._kept_all)
        ys = crop.line_range
        missing = [y for y in ys if y not in kept]
        while missing:  # each run of missing lines drawn at once
            y0 = y1 = missing[0]
            while y1 - y0 < len(missing) and missing[y1 - y0] == y1:
                y1 += 1
            kept.update(zip(range(y0, y1), self._fresh_lines(y0, y1, width), strict=True))
            del missing[: y1 - y0]
        strips = [kept[y] for y in ys]
        if whole:
            self._kept_all = strips
            return list(strips)
        x1, x2 = crop.column_span
        if x1 != 0 or x2 != width:
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def _lines_changed_styles(self) -> None:
        """The size, the line filters or (after a full refresh) the styles may have changed."""

    def _fresh_lines(self, y0: int, y1: int, width: int) -> list[Strip]:
        """Lines y0..y1 (outer, full width) drawn again."""
        return super().render_lines(Region(0, y0, width, y1 - y0))  # type: ignore[misc]


_PER_SEGMENT = (ANSIToTruecolor, DimFilter, Monochrome, NoColor)
"""Textual's line filters: each maps every segment's style by itself (the text kept)."""


class RowsView(KeptLines):
    """Mixin for a ``Widget``: implement :meth:`draw_rows`, call :meth:`rows_changed` when
    its inputs changed (instead of ``refresh()``); ``render_line`` serves cached strips."""

    ELLIPSIS = False
    """Crop a too long row with "…" (as ``overflow="ellipsis"``) instead of cutting it."""

    _rows_at: tuple | None = None
    """(size, base style) the rows and strips were made for (None: make them again)."""
    _same: dict[RichStyle | None, bool] | None = None
    """Style -> the line filters leave it as it is (None: filters of unknown kinds)."""

    def draw_rows(self) -> list[Row]:
        """The widget's rows at its current size (runs of text and rich style)."""
        raise NotImplementedError

    def render(self) -> Text:
        """The rows as one Text (for anything that asks for it; drawing uses the rows)."""
        text = Text(no_wrap=True, overflow="crop", end="")
        for i, row in enumerate(self.draw_rows()):
            if i:
                text.append("\n")
            for chunk, st in row:
                text.append(chunk, st)
        return text

    def _rows_key(self, size: Size) -> tuple:
        return (size, self.visual_style)  # type: ignore[attr-defined]

    def refresh(self, *regions: Region, **kw: bool) -> RowsView:
        """A refresh of the whole widget (Textual's, on focus, resize, styles) draws the
        rows again; one of some rows (:meth:`rows_changed`) serves the cached others."""
        if not regions and kw.get("repaint", True):
            self._rows_at = None
        return super().refresh(*regions, **kw)  # type: ignore[misc]

    def rows_changed(self) -> None:
        """Draw the rows again now; repaint the ones that changed (all, if not drawn yet or
        the size or style changed since)."""
        w = self  # a Widget
        size = w.size  # type: ignore[attr-defined]
        width, height = size
        if (
            self._rows_at is None
            or width <= 0
            or height <= 0
            or self._rows_at != self._rows_key(size)
        ):
            w.refresh()  # type: ignore[attr-defined]
            return
        rows = [tuple(r) for r in self.draw_rows()]
        old = self._rows
        if len(rows) != len(old):
            w.refresh()  # type: ignore[attr-defined]
            return
        strips = self._strips
        dirty: list[Region] = []
        for y, row in enumerate(rows[:height]):
            if row != old[y]:
                strips[y] = self._strip(row, width, y)
                x0, x1 = changed_span(old[y], row, width)
                dirty.append(Region(x0, y, x1 - x0, 1))
        self._rows = rows
        if dirty:
            self._repaint(dirty)

    def _repaint(self, regions: list[Region]) -> None:
        """``refresh(*regions)`` for rows that changed, without its round trip: Textual's
        refresh marks the regions dirty, clears the widget's size and style caches (nothing
        a row's content changes) and prompts the widget's own message queue, whose idle
        handler then tells the screen to update it; here the screen is told at once."""
        w = self  # a Widget
        if not (w.is_mounted and w.display) or w._repaint_required:  # type: ignore[attr-defined]
            w.refresh(*regions)  # type: ignore[attr-defined]  # (Textual's own way)
            return
        w._set_dirty(*regions)  # type: ignore[attr-defined]
        screen = w.screen  # type: ignore[attr-defined]
        if _held is not None and screen in screen._compositor:  # (as Screen._on_update)
            screen._dirty_widgets.add(w)
            _held[screen] = None
            return
        screen.post_message(Update(w))

    _plain: tuple | None = None
    """(the line's pad style, its background, line filters, the left border's cell or None)
    when the widget has no padding, outline, hatch, tint or opacity and no border but maybe
    a left one (its lines are its rows, padded, behind that border, and filtered)."""

    def _lines_changed_styles(self) -> None:
        w = self  # a Widget
        st = w.styles  # type: ignore[attr-defined]
        (top, _), (right, _), (bottom, _), (left, left_colour) = st.border
        plain = (
            st.padding == (0, 0, 0, 0)
            and not (top or right or bottom)
            and not any(edge for edge, _ in st.outline)
            and not (st.has_rule("hatch") and st.hatch != "none")
            and not st.tint.a
            and st.text_opacity == 1.0
            and w.opacity == 1.0  # type: ignore[attr-defined]
        )
        self._plain = None
        if plain:
            base, background = w.background_colors  # type: ignore[attr-defined]
            inner = VisualStyle(background=base + background)
            edge = None
            if left:  # as Textual's StylesCache draws a left border beside the content
                outer = VisualStyle(background=base)
                colour = VisualStyle(foreground=base + left_colour.multiply_alpha(1.0))
                edge = get_box(left, inner, outer, colour)[1][0]
            filters = self._kept_key[2] if self._kept_key else ()
            self._plain = (inner.rich_style, background, filters, edge)
            self._same = {} if all(type(f) in _PER_SEGMENT for f in filters) else None

    def _fresh_lines(self, y0: int, y1: int, width: int) -> list[Strip]:
        """As Textual's ``StylesCache`` draws a widget's content lines when there is no box
        around them but maybe a left border: each row padded to the width with the
        background, behind the border's cell, then filtered (a line whose every style the
        filters leave as it is is that line)."""
        plain = self._plain
        if plain is None:
            return super()._fresh_lines(y0, y1, width)
        pad, background, filters, edge = plain
        self.render_line(0)  # (the rows for this size and style)
        rows, blank = self._strips, None
        inside = width - (edge is not None)
        lines = []
        for y in range(y0, y1):
            if y < len(rows):
                strip = rows[y].adjust_cell_length(inside, pad)
            else:
                strip = blank = blank or self.render_line(y).adjust_cell_length(inside, pad)
            if edge is not None:
                strip = Strip([edge, *strip], width)
            if filters and not self._unfiltered(strip):
                for line_filter in filters:
                    strip = strip.apply_filter(line_filter, background)
            lines.append(strip)
        return lines

    def _unfiltered(self, strip: Strip) -> bool:
        """True if the line filters (Textual's own, which map each segment's style by itself)
        leave every style of the line as it is: the filtered line is the line."""
        same = self._same
        if same is None:
            return False
        for segment in strip:
            style = segment.style
            got = same.get(style)
            if got is None:
                _, background, filters, _ = self._plain  # type: ignore[misc]
                out = [Segment(" ", style)]
                for line_filter in filters:
                    out = line_filter.apply(out, background)
                got = same[style] = out == [Segment(" ", style)]
                if len(same) > 50_000:  # (bounded: styles x cells seen)
                    same.clear()
            if not got:
                return False
        return True

    def render_line(self, y: int) -> Strip:
        w = self
        size = w.size  # type: ignore[attr-defined]
        width, height = size
        key = self._rows_key(size)
        if self._rows_at != key:
            self._styles: dict[RichStyle | None, VisualStyle] = {}
            self._placed: dict[tuple, RichStyle] = {}
            self._base = w.visual_style  # type: ignore[attr-defined]
            self._rows = [tuple(r) for r in self.draw_rows()]
            self._strips = [self._strip(r, width, y) for y, r in enumerate(self._rows[:height])]
            self._rows_at = key
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self._base.rich_style)

    def _style(self, st: RichStyle | None) -> VisualStyle:
        """A run's style over the widget's, as Textual's own rendering combines them."""
        got = self._styles.get(st)
        if got is None:
            base = self._base
            got = base + (base if st is None else base + VisualStyle.from_rich_style(st))
            self._styles[st] = got
        return got

    def _strip(self, row: tuple, width: int, y: int) -> Strip:
        """One row as Textual would draw it: a segment per run (unstyled runs joined), each
        style carrying its cell offset (as Textual's text selection expects)."""
        placed = self._placed
        segments: list[Segment] = []
        x = 0
        pending = ""
        for chunk, st in (*row, ("", _END)):
            if not chunk and st is not _END:
                continue
            if st is None:
                pending += chunk
                continue
            if pending:
                key = (None, x, y)
                rich = placed.get(key)
                if rich is None:
                    rich = placed[key] = self._style(None).rich_style_with_offset(x, y)
                segments.append(Segment(pending, rich))
                x += cells(pending)
                pending = ""
            if st is _END:
                break
            key = (st, x, y)
            rich = placed.get(key)
            if rich is None:
                if len(placed) > 50_000:  # (bounded: styles x cells seen)
                    placed.clear()
                rich = placed[key] = self._style(st).rich_style_with_offset(x, y)
            segments.append(Segment(chunk, rich))
            x += cells(chunk)
        strip = Strip(segments, x)
        if x <= width:
            return strip  # (Textual pads it to the width with the widget's background)
        if self.ELLIPSIS and width > 0:  # (rare: a tiny terminal) exactly as Textual does
            text = Text(no_wrap=True, overflow="ellipsis", end="")
            for chunk, st in row:
                text.append(chunk, st)
            w = self
            visual = visualize(w, text)  # type: ignore[arg-type]
            return Visual.to_strips(w, visual, width, 1, w.visual_style)[0]  # type: ignore[arg-type,attr-defined]
        return strip.crop(0, width)
