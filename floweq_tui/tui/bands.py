"""The five bands: decoded values live in Traverse/Semantic, editable in Manual.

Focused: n / p select a cell (active, gain, freq, Q of each band), + / - step it (gain
0.5 dB, freq a semitone, Q x1.12), > / < coarse (3 dB, half an octave, x1.41), enter on
the band name toggles it. Editing in Traverse/Semantic switches to Manual first, starting
from the decoded values. A MIDI knob that soft takeover has not picked up yet shows its
position beside the value ("k-6.0"), or a "*" when narrow; the title line gives the
selected cell's knob in full.
"""

from __future__ import annotations

from rich.style import Style
from textual import events
from textual.widget import Widget

from .control_group import S_LABEL, S_SEL, S_TITLE, S_TITLE_FOCUS, S_VALUE
from .controller import Controller
from .curve import BAND_COLOURS
from .keys import GROUP_BINDINGS
from .messages import ValueAdjusted
from .rows import Row, RowsView

ROW_LABELS = ("band", "gain", "freq", "Q")
FIELD_ROW = {"active": 0, "gain": 1, "freq": 2, "q": 3}


class BandsView(RowsView, Widget, can_focus=True):
    DEFAULT_CSS = "BandsView { width: 1fr; height: 5; }"
    BINDINGS = GROUP_BINDINGS

    def __init__(self, ctrl: Controller, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.ctrl = ctrl
        self.cells = ctrl.band_items()
        self.selected = 0
        self._shown: tuple = ()

    def update_values(self) -> None:
        params = self.ctrl.shown_params()
        shown = (self.ctrl.mode == 2,) + tuple(
            (self.ctrl.band_cell(params, b, f), self.ctrl.band_knob(b, f)) for b, f in self.cells
        )
        if shown != self._shown:
            self._shown = shown
            self.rows_changed()

    @property
    def current(self) -> tuple[int, str]:
        return self.cells[self.selected]

    def select_cell(self, band: int, field: str) -> None:
        self.selected = self.cells.index((band, field))
        self.rows_changed()

    def action_select(self, d: int) -> None:
        self.selected = (self.selected + d) % len(self.cells)
        self.rows_changed()

    def action_step(self, d: int, coarse: bool) -> None:
        band, field = self.current
        self.ctrl.band_edit(band, field, d, coarse)
        self.post_message(ValueAdjusted())

    def on_focus(self) -> None:
        self.rows_changed()

    def on_blur(self) -> None:
        self.rows_changed()

    def _geometry(self) -> tuple[int, int]:
        w = self.size.width
        lab = 5 if w >= 50 else 0
        return lab, max((w - lab) // 5, 1)

    def _cell_at(self, x: int, y: int) -> tuple[int, str] | None:
        lab, cw = self._geometry()
        if y < 1 or x < lab:
            return None
        band = min((x - lab) // cw, 4)
        field = ("active", "gain", "freq", "q")[min(y - 1, 3)]
        return (band, field) if (band, field) in self.cells else None

    def on_click(self, event: events.Click) -> None:
        cell = self._cell_at(event.x, event.y)
        if cell:
            self.select_cell(*cell)

    def _scroll(self, event: events.MouseEvent, d: int) -> None:
        cell = self._cell_at(event.x, event.y)
        if cell:
            self.selected = self.cells.index(cell)
        event.stop()
        self.action_step(d, False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll(event, 1)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll(event, -1)

    def draw_rows(self) -> list[Row]:
        w = self.size.width
        manual = self.ctrl.mode == 2
        focused = self.has_focus
        params = self.ctrl.shown_params()
        title = (
            ("▸" if focused else " ")
            + "BANDS "
            + ("manual: + - edit" if manual else "decoded live (edit -> Manual)")
        )
        sel_knob = self.ctrl.band_knob(*self.current)
        if sel_knob is not None:  # the selected cell's knob, in full
            unit = {"gain": " dB", "freq": " Hz", "q": ""}[self.current[1]]
            title += f"  · knob at {sel_knob}{unit}, turn it to pick up"
        rows: list[Row] = [[(title[:w].ljust(w), S_TITLE_FOCUS if focused else S_TITLE)]]
        lab, cw = self._geometry()
        value_style = {on: S_VALUE + Style(dim=not on, bold=manual) for on in (False, True)}
        for row, name in enumerate(ROW_LABELS):
            line: Row = []
            rows.append(line)
            if lab:
                line.append((f" {name}".ljust(lab), S_LABEL))
            for b in range(5):
                field = ("active", "gain", "freq", "q")[row]
                on = self.ctrl.get(f"active{b}") >= 0.5
                if (b, field) not in self.cells:
                    line.append((" " * cw, None))
                    continue
                cell = self.ctrl.band_cell(params, b, field)
                if field == "q":
                    cell = cell[2:] if cw < 8 else cell
                cell = with_knob(cell, self.ctrl.band_knob(b, field), cw - 1) + " "
                if focused and self.current == (b, field):
                    line.append((cell, S_SEL))
                elif field == "active":
                    line.append((cell, _band_style(b, on)))
                else:
                    line.append((cell, value_style[on]))
        return rows


def _band_style(band: int, on: bool) -> Style:
    return _BAND_STYLES[band][on]


_BAND_STYLES = [
    {on: Style(color=colour, bold=on, dim=not on) for on in (False, True)}
    for colour in BAND_COLOURS
]


def with_knob(cell: str, knob: str | None, width: int) -> str:
    """A band cell, right-aligned in ``width``, with an unpicked knob's position beside it
    ("+3.0dB k-6.0") when it fits, else a trailing "*" that the title line explains."""
    if knob is not None:
        form = f"{cell} k{knob}"
        if len(form) <= width:
            return form.rjust(width)
        return (cell[: max(width - 1, 0)] + "*").rjust(width)[-width:] if width else ""
    return cell[:width].rjust(width)
