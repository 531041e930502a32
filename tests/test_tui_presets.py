"""Pilot tests of the preset browser (P): the miniature curves, the search, the marks on the
preset in use and on unsaved changes, and save / rename / copy / delete / recall, checked in
the files and in the values that reach the engine's controls block."""

from __future__ import annotations

import asyncio
import functools

import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, synthetic_family  # noqa: E402
from pilot_helpers import until  # noqa: E402
from textual.widgets import Input, OptionList  # noqa: E402

from floweq_tui import presets  # noqa: E402
from floweq_tui.controls import CONTROL_SPECS  # noqa: E402
from floweq_tui.tui.app import FloweqApp  # noqa: E402
from floweq_tui.tui.presets_view import miniature  # noqa: E402
from floweq_tui.tui.screens.presets import NameScreen, PresetsScreen  # noqa: E402

FAMILY = synthetic_family()


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    defaults = {s.name: float(s.default) for s in CONTROL_SPECS}
    boost = {**defaults, "mode": 2.0, "p0": 12.0, "p1": 100.0}
    cut = {**defaults, "mode": 2.0, "p11": -12.0, "p12": 5000.0}
    presets.save(presets.Preset.from_controls("bass boost", boost, [], []))
    presets.save(presets.Preset.from_controls("dark", cut, [], []))
    presets.save(presets.Preset.from_controls("wide", {**defaults, "x": 1.5, "y": -1.0}, [], []))
    return tmp_path / "floweq-tui" / "presets"


def lines(app) -> list[str]:
    ol = app.screen.query_one("#preset-list", OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


def test_miniature_shows_the_shape() -> None:
    defaults = {s.name: float(s.default) for s in CONTROL_SPECS}
    boost = presets.Preset.from_controls("b", {**defaults, "mode": 2, "p0": 12.0}, [], [])
    text = miniature(boost, 16)
    assert len(text) == 16 and text[0] == "█" and text[-1] == "▄"  # +12 dB low, 0 dB high
    off = presets.Preset.from_controls("b", {**defaults, "mode": 2, "p0": 12.0, "active0": 0},
                                       [], [])  # fmt: skip
    assert set(miniature(off, 16)) == {"▄"}


@aio
async def test_browse_search_recall_and_marks(store) -> None:
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PresetsScreen), 5, "the browser")
        rows = lines(app)
        assert [r.split()[0] for r in rows] == ["bass", "dark", "wide"]
        assert "█" in rows[0] and "manual" in rows[0]
        # search
        await pilot.press("slash", *"wid")
        await until(pilot, lambda: len(lines(app)) == 1, 5, "the search")
        assert lines(app)[0].split()[0] == "wide"
        await pilot.press("enter", "enter")  # to the list, then recall
        await until(pilot, lambda: eng.controls["x"] == 1.5, 5, "the recall")
        assert eng.controls["y"] == -1.0 and eng.controls["morph_seq"] == 1
        assert app.preset_in_use == "wide"
        await until(pilot, lambda: lines(app)[0].startswith("▶  wide"), 5, "the in-use mark")
        # the sound moves away from it: unsaved changes
        eng.controls["x"] = 0.5
        await until(pilot, lambda: lines(app)[0].startswith("▶* wide"), 5, "the unsaved mark")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PresetsScreen), 5, "closed")


@aio
async def test_save_rename_copy_delete(store) -> None:
    eng = FakeEngine(FAMILY, mode=2, p0=-6.0)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PresetsScreen), 5, "the browser")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, NameScreen), 5, "the name prompt")
        await pilot.press(*"thin", "enter")
        await until(pilot, lambda: presets.exists("thin"), 5, "the saved file")
        assert presets.load("thin").values["p0"] == -6.0 and app.preset_in_use == "thin"
        screen = app.screen
        assert isinstance(screen, PresetsScreen)
        assert screen.current() == "thin"
        # rename
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, NameScreen), 5, "the rename prompt")
        app.screen.query_one(Input).value = "thinner"
        await pilot.press("enter")
        await until(pilot, lambda: presets.exists("thinner"), 5, "renamed")
        assert not presets.exists("thin") and app.preset_in_use == "thinner"
        # copy
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, NameScreen), 5, "the copy prompt")
        await pilot.press("enter")  # the offered name
        await until(pilot, lambda: presets.exists("thinner 2"), 5, "copied")
        # delete (asked first)
        await until(pilot, lambda: screen.current() == "thinner 2", 5, "the copy selected")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert presets.exists("thinner 2")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: not presets.exists("thinner 2"), 5, "deleted")
        assert presets.names() == ["bass boost", "dark", "thinner", "wide"]
        # the morph time, from the browser
        await pilot.press("plus", "plus")
        assert eng.controls["morph_ms"] == 500.0
        await pilot.press("greater_than_sign")
        assert eng.controls["morph_beats"] == 1.0
        assert "1 beats at 120.0 BPM" in str(screen.query_one("#preset-head").render())


@aio
async def test_a_bad_file_is_reported_not_touched(store) -> None:
    bad = store / "broken.toml"
    bad.write_text("version = 1\n[gain]\nstrength = 3\n")
    app = FloweqApp(FakeEngine(FAMILY), FAMILY)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PresetsScreen), 5, "the browser")
        status = str(app.screen.query_one("#preset-status").render())
        assert "broken.toml:3: [gain] strength = 3 is outside [0, 1]" in status
        assert len(lines(app)) == 3
    assert bad.read_text() == "version = 1\n[gain]\nstrength = 3\n"


@aio
async def test_midi_program_change_marks_the_preset(store) -> None:
    """A recall by MIDI (the MIDI process writes the program) is said and marked."""
    from pilot_helpers import record_notices

    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY, preset="dark")
    notes = record_notices(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        eng.controls["program"] = 2  # the implicit bank: "wide"
        await until(pilot, lambda: app.preset_in_use == "wide", 5, "the program seen")
        assert "program 2: preset 'wide'" in notes
