"""`?`: every key binding, in a scrollable modal."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keys import help_rows, midi_rows, panel_rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help"),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False),
        Binding("down,j", "scroll(1)", "Scroll down", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold #ffcc33", max_width=22)
        table.add_column()
        for keys, desc in help_rows():
            table.add_row(keys, desc)
        self.keys_table = table
        midi = Table.grid(padding=(0, 2))
        midi.add_column(style="bold #ffcc33", max_width=22)
        midi.add_column()
        for label, source in midi_rows():
            midi.add_row(label, source)
        with VerticalScroll(id="help-box"):
            yield Static("[b]floweq-tui keys[/b]  (esc or ? closes)\n", id="help-title")
            yield Static(table)
            yield Static(
                "\n[b]MIDI[/b]: the default mapping (a controller with its own entry in "
                "midi.toml uses that). [b]l[/b] learns the selected value: move a knob or "
                "press a button; ctrl+p 'MIDI learn' lists every control. Until a knob "
                "crosses its value (soft takeover) the value shows (knob …) beside it.\n",
                id="help-midi-title",
            )
            self.midi_table = midi
            yield Static(midi, id="help-midi")
            panel = Table.grid(padding=(0, 2))
            panel.add_column(style="bold #ffcc33", max_width=22)
            panel.add_column()
            for keys, desc in panel_rows():
                panel.add_row(keys, desc)
            yield Static(
                "\n[b]Automation[/b] ([b]A[/b]): four LFOs, the latent figure, the path and the "
                "motion recording, one row each (docs/automation.md). Its keys:\n",
                id="help-auto-title",
            )
            self.panel_table = panel
            yield Static(panel, id="help-auto")

    def action_scroll(self, d: int) -> None:
        box = self.query_one("#help-box", VerticalScroll)
        box.scroll_relative(y=d, animate=False)
