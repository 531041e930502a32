"""`P`: the preset browser. Each preset's curve in miniature, a search, a mark on the one in
use (▶) and on unsaved changes (*); recall, save, rename, duplicate and delete; the morph time.

Files are read and written here on the UI thread: a preset file is a few hundred bytes and
an action is one file, so nothing here can hold a frame up noticeably.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from ... import presets
from ..presets_view import Row, matches, miniature, unsaved
from .learn import ConfirmScreen

REFRESH_S = 0.5
"""How often the marks (in use, unsaved) are looked at while the browser shows."""


class NameScreen(ModalScreen[str | None]):
    """Asks for a preset name: enter takes it, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="name-box", classes="dialog"):
            yield Static(Text(self.title_text), id="name-title")
            yield Input(self.value, placeholder="preset name", id="name-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PresetsScreen(Screen[None]):
    """The browser over the app's preset actions (``recall_preset``, ``save_preset``)."""

    BINDINGS = [
        Binding("escape,q,P", "close", "Back"),
        Binding("enter", "recall", "Recall", priority=False),
        Binding("s", "save", "Save as"),
        Binding("r", "rename", "Rename"),
        Binding("c", "duplicate", "Copy"),
        Binding("x,delete", "delete", "Delete"),
        Binding("slash", "search", "Search"),
        Binding("plus,equals_sign", "morph_ms(1)", "Morph +", show=False),
        Binding("minus,underscore", "morph_ms(-1)", "Morph -", show=False),
        Binding("greater_than_sign", "morph_beats(1)", "Beats +", show=False),
        Binding("less_than_sign", "morph_beats(-1)", "Beats -", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self.found: list[presets.Preset] = []
        self.problems: list[str] = []
        self.bank_notice = ""
        self.said = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="preset-head")
        yield Input(placeholder="/ search (name, mode, model, anchors)", id="preset-search")
        yield OptionList(id="preset-list")
        yield Static("", id="preset-status")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#preset-list", OptionList).focus()
        self.set_interval(REFRESH_S, self.refresh_rows)

    # ------------------------------------------------------------ content

    @property
    def engine(self) -> Any:
        return self.app.engine  # type: ignore[attr-defined]

    def reload(self, select: str | None = None) -> None:
        """Read the preset files again (after any change, and on opening)."""
        self.found, self.problems = presets.list_presets()
        self.bank_notice = presets.load_bank().notice
        self._curves = {p.name: miniature(p) for p in self.found}
        self.refresh_rows(force=True, select=select)

    def refresh_rows(self, force: bool = False, select: str | None = None) -> None:
        app: Any = self.app
        query = self.query_one("#preset-search", Input).value
        controls = self.engine.controls.as_dict()
        in_use = app.preset_in_use
        rows = []
        for p in self.found:
            if not matches(p, query):
                continue
            mine = p.name == in_use
            dirty = mine and unsaved(p, controls, app.ctrl.names, app.ctrl.anchor_labels)
            rows.append(Row(p.name, self._curves[p.name], p.describe(), mine, dirty))
        head = self._head()
        self.query_one("#preset-head", Static).update(head)
        if rows == self.rows and not force:
            return
        self.rows = rows
        ol = self.query_one("#preset-list", OptionList)
        keep = select or self.current()
        ol.clear_options()
        ol.add_options([Option(Text(r.text()), id=r.name) for r in rows])
        names = [r.name for r in rows]
        if keep in names:
            ol.highlighted = names.index(keep)
        elif rows:
            ol.highlighted = 0
        self._status()

    def _head(self) -> Text:
        c = self.engine.controls
        beats, ms = c["morph_beats"], c["morph_ms"]
        if beats > 0:
            morph = f"{beats:g} beats at {c['bpm']:.1f} BPM"
        else:
            morph = f"{ms:.0f} ms" if ms > 0 else "off (the glide only)"
        app: Any = self.app
        use = app.preset_in_use or "none"
        return Text.assemble(
            ("PRESETS", "bold"),
            f"  {len(self.found)} in {presets.presets_dir()}   in use: {use}   "
            f"morph: {morph} (+/- ms, </> beats)",
        )

    def _status(self, text: str | None = None) -> None:
        if text is not None:
            self.said = text
        lines = [self.said] if self.said else []
        if self.bank_notice:
            lines.append(self.bank_notice)
        if self.problems:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            lines.append(f"skipped {self.problems[0]}{more}")
        if not self.found:
            lines.append("no presets yet: s saves the sound now")
        self.query_one("#preset-status", Static).update(Text("\n".join(lines)))

    def current(self) -> str | None:
        ol = self.query_one("#preset-list", OptionList)
        if ol.highlighted is None or not 0 <= ol.highlighted < ol.option_count:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    # ------------------------------------------------------------ actions

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "preset-search":
            self.refresh_rows(force=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "preset-search":
            self.query_one("#preset-list", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._recall(event.option.id)

    def action_search(self) -> None:
        self.query_one("#preset-search", Input).focus()

    def action_close(self) -> None:
        if self.focused is self.query_one("#preset-search", Input):
            self.query_one("#preset-list", OptionList).focus()
            return
        self.app.pop_screen()

    def action_recall(self) -> None:
        self._recall(self.current())

    def _recall(self, name: str | None) -> None:
        if not name:
            return
        app: Any = self.app
        self._status(app.recall_preset(name))
        self.refresh_rows(force=True)

    def action_save(self) -> None:
        app: Any = self.app
        default = app.preset_in_use or self.query_one("#preset-search", Input).value.strip()
        self.app.push_screen(NameScreen("Save the sound now as:", default), self._saved)

    def _saved(self, name: str | None) -> None:
        if name:
            app: Any = self.app
            self._status(app.save_preset(name))
            self.reload(select=name)

    def action_rename(self) -> None:
        name = self.current()
        if name:
            self.app.push_screen(
                NameScreen(f"Rename {name!r} to:", name), lambda new: self._renamed(name, new)
            )

    def _renamed(self, old: str, new: str | None) -> None:
        if not new or new == old:
            return
        app: Any = self.app
        try:
            presets.rename(old, new)
        except presets.PresetError as exc:
            self._status(f"not renamed: {exc}")
            return
        if app.preset_in_use == old:
            app.preset_in_use = new
        self._status(f"renamed {old!r} to {new!r}")
        self.reload(select=new)

    def action_duplicate(self) -> None:
        name = self.current()
        if not name:
            return
        n = 2
        while presets.exists(f"{name} {n}"):
            n += 1
        self.app.push_screen(
            NameScreen(f"Copy {name!r} as:", f"{name} {n}"), lambda new: self._copied(name, new)
        )

    def _copied(self, name: str, new: str | None) -> None:
        if not new:
            return
        try:
            presets.duplicate(name, new)
        except presets.PresetError as exc:
            self._status(f"not copied: {exc}")
            return
        self._status(f"copied {name!r} as {new!r}")
        self.reload(select=new)

    def action_delete(self) -> None:
        name = self.current()
        if name:
            self.app.push_screen(
                ConfirmScreen(f"Delete the preset {escape(repr(name))}?", "Delete (y)", "Keep (n)"),
                lambda yes: self._deleted(name, bool(yes)),
            )

    def _deleted(self, name: str, yes: bool) -> None:
        if not yes:
            return
        try:
            presets.delete(name)
        except presets.PresetError as exc:
            self._status(f"not deleted: {exc}")
            return
        app: Any = self.app
        if app.preset_in_use == name:
            app.preset_in_use = None
        self._status(f"deleted {name!r}")
        self.reload()

    def action_morph_ms(self, direction: int) -> None:
        c = self.engine.controls
        c["morph_beats"] = 0.0
        c["morph_ms"] = max(0.0, c["morph_ms"] + 250.0 * direction)
        self.refresh_rows()

    def action_morph_beats(self, direction: int) -> None:
        c = self.engine.controls
        c["morph_beats"] = max(0.0, c["morph_beats"] + direction)
        self.refresh_rows()
