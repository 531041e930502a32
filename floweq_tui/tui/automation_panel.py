"""The automation panel: each modulator's on/off, target, shape, rate, depth, phase and
polarity, the figure, the path and the motion recording, one row each; focused, keys select
a row and a field and change it (the rows come from :mod:`.automation_rows`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from .automation_rows import Field, Row
from .keys import PANEL_KEYS
from .messages import AutomationCommand, ValueAdjusted

S_TITLE = Style(color="#8a96a3", bold=True)
S_ROW = Style(color="#a0a8b0")
S_ON = Style(color="#e6e6e6", bold=True)
S_SEL_ROW = Style(color="#ffcc33", bold=True)
S_SEL = Style(reverse=True, bold=True)
S_LIVE = Style(color="#ffcc33", italic=True)
S_HINT = Style(color="#4a5560")


class AutomationPanel(Widget, can_focus=True):
    """Feed it rows (:meth:`feed`); it redraws only when they (or the selection) change."""

    DEFAULT_CSS = "AutomationPanel { height: auto; min-height: 10; }"
    BINDINGS = [Binding(k, a, d, show=False) for k, a, d in PANEL_KEYS]

    def __init__(self, adjust: Callable[[str, int, bool], None], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.adjust = adjust
        """adjust(control, direction, coarse): step (or toggle) a control."""
        self.rows: list[Row] = []
        self.row = 0
        self.col = 0
        self.draws = 0

    def feed(self, rows: list[Row]) -> None:
        if rows != self.rows:
            self.rows = rows
            self.col = min(self.col, max(len(self.current_row.fields) - 1, 0)) if rows else 0
            self.refresh()

    @property
    def current_row(self) -> Row:
        return self.rows[min(self.row, len(self.rows) - 1)]

    @property
    def current(self) -> Field | None:
        if not self.rows:
            return None
        fields = self.current_row.fields
        return fields[min(self.col, len(fields) - 1)]

    def control(self) -> str | None:
        """The control behind the selected field (for MIDI learn)."""
        f = self.current
        return f.control if f else None

    # ------------------------------------------------------------ keys

    def action_row(self, d: int) -> None:
        if self.rows:
            self.row = (self.row + d) % len(self.rows)
            self.col = min(self.col, len(self.current_row.fields) - 1)
            self.refresh()

    def action_field(self, d: int) -> None:
        if self.rows:
            self.col = (self.col + d) % len(self.current_row.fields)
            self.refresh()

    def action_step(self, d: int, coarse: bool) -> None:
        f = self.current
        if f is not None:
            self.adjust(f.control, d, coarse)
            self.post_message(ValueAdjusted())

    def action_toggle(self) -> None:
        if self.rows:
            row = self.current_row
            first = row.fields[1] if row.key == "rec" else row.fields[0]
            self.adjust(first.control, 1, False)
            self.post_message(ValueAdjusted())

    def action_command(self, name: str) -> None:
        self.post_message(AutomationCommand(name))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ------------------------------------------------------------ drawing

    def render(self) -> Text:
        self.draws += 1
        w = self.size.width
        text = Text(no_wrap=True, overflow="crop", end="")
        focused = self.has_focus
        text.append("AUTOMATION"[:w], S_TITLE)
        hint = "  ↑↓ row  ←→ field  +/- change  enter on/off  l learn  esc back"
        text.append(hint[: max(w - 10, 0)], S_HINT)
        for i, row in enumerate(self.rows):
            text.append("\n")
            sel_row = i == self.row
            on = row.fields[0].text in ("on", "REC") or (row.key == "rec" and row.live != "off")
            text.append(("▸" if sel_row and focused else " ") + row.title.ljust(7),
                        S_SEL_ROW if sel_row else S_ROW)  # fmt: skip
            for j, f in enumerate(row.fields):
                style = (
                    S_SEL if (sel_row and j == self.col and focused) else (S_ON if on else S_ROW)
                )
                text.append(" ")
                text.append(f.text.ljust(f.width)[: max(f.width, len(f.text))], style)
            if row.live:
                text.append("  " + row.live, S_LIVE)
        return text
