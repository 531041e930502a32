"""A control group: a titled list of values; focused, its selected value is adjustable.

Keys while focused: n / p select the next / previous value, + / - step it (fine), > / <
(coarse), enter toggles or steps up; mouse scroll steps the value under the pointer.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from textual import events
from textual.widget import Widget

from .controller import Item
from .keys import GROUP_BINDINGS
from .messages import ValueAdjusted
from .rows import Row, RowsView

S_TITLE = Style(color="#8a96a3", bold=True)
S_TITLE_FOCUS = Style(color="#000000", bgcolor="#ffcc33", bold=True)
S_SEL = Style(reverse=True, bold=True)
S_VALUE = Style(color="#e6e6e6", bold=True)
S_LABEL = Style(color="#a0a8b0")
S_KNOB = Style(color="#ffcc33", italic=True)
_DIMMED = {(s, dim): s + Style(dim=dim) for s in (S_LABEL, S_VALUE) for dim in (False, True)}


class ControlGroup(RowsView, Widget, can_focus=True):
    """Shows ``items`` (from the Controller) under a title; Tab focuses the next group."""

    DEFAULT_CSS = "ControlGroup { width: 1fr; height: 6; }"
    BINDINGS = GROUP_BINDINGS

    def __init__(self, title: str, items: list[Item], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.title = title
        self.items = items
        self.selected = 0
        self._shown: tuple = ()
        self.enabled: Callable[[], bool] = lambda: True

    @property
    def current(self) -> Item:
        return self.items[self.selected]

    def update_values(self) -> None:
        shown = (
            tuple(it.show() for it in self.items)
            + (self.enabled(),)
            + tuple(it.knob() if it.knob else None for it in self.items)
        )
        if shown != self._shown:
            self._shown = shown
            self.rows_changed()

    def select_key(self, key: str) -> None:
        for i, it in enumerate(self.items):
            if it.key == key:
                self.selected = i
                self.rows_changed()

    def action_select(self, d: int) -> None:
        self.selected = (self.selected + d) % len(self.items)
        self.rows_changed()

    def action_step(self, d: int, coarse: bool) -> None:
        self.current.adjust(d, coarse)
        self.post_message(ValueAdjusted())

    def on_focus(self) -> None:
        self.rows_changed()

    def on_blur(self) -> None:
        self.rows_changed()

    def _row_item(self, y: int) -> int | None:
        first = self._first_row()
        i = first + y - 1
        return i if y >= 1 and 0 <= i < len(self.items) else None

    def _first_row(self) -> int:
        rows = max(self.size.height - 1, 1)
        return min(max(self.selected - rows + 1, 0), max(len(self.items) - rows, 0))

    def on_click(self, event: events.Click) -> None:
        i = self._row_item(event.y)
        if i is not None:
            self.selected = i
            self.rows_changed()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        i = self._row_item(event.y)
        if i is not None:
            self.selected = i
        event.stop()
        self.action_step(1, False)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        i = self._row_item(event.y)
        if i is not None:
            self.selected = i
        event.stop()
        self.action_step(-1, False)

    def draw_rows(self) -> list[Row]:
        w = self.size.width
        focused = self.has_focus
        title = ("▸" if focused else " ") + self.title
        rows: list[Row] = [[(title[:w].ljust(w), S_TITLE_FOCUS if focused else S_TITLE)]]
        first = self._first_row()
        dim = not self.enabled()
        for i in range(first, min(first + self.size.height - 1, len(self.items))):
            it = self.items[i]
            value = it.show()
            knob = it.knob() if it.knob else None
            suffix = knob_suffix(knob, len(it.short) + len(value) + 2, w)
            value_w = len(value) + len(suffix)
            label = it.label if len(it.label) + value_w + 2 <= w else it.short
            sel = focused and i == self.selected
            mark = ">" if sel else " "
            room = max(w - 1 - value_w, 0)
            line = mark + label[: max(room - 1, 0)].ljust(room) + value + suffix
            if sel:
                rows.append([(line[:w], S_SEL)])
            else:
                cut = room + 1 + len(value)
                runs: Row = [(line[: room + 1], _DIMMED[S_LABEL, dim])]
                runs.append((line[room + 1 : min(cut, w)], _DIMMED[S_VALUE, dim]))
                if suffix and cut < w:
                    runs.append((line[cut:w], S_KNOB))
                rows.append(runs)
        return rows


def knob_suffix(knob: str | None, used: int, width: int) -> str:
    """ " (knob -0.30)" when it fits beside the label and value, else " k-0.30" (or "")."""
    if knob is None:
        return ""
    for form in (f" (knob {knob})", f" k{knob}"):
        if used + len(form) <= width:
            return form
    return f" k{knob}"
