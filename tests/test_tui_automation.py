"""Pilot tests of the automation screen: keys reach the modulator, figure, path and motion
slots of the controls block; the latent map draws the moving point and the path; the panel
redraws only on change; MIDI learn takes the selected field."""

from __future__ import annotations

import asyncio
import functools

import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, FakeMidi, synthetic_family  # noqa: E402
from pilot_helpers import screen_name, until  # noqa: E402

from floweq_tui.automation.path import waypoints_from_controls  # noqa: E402
from floweq_tui.controls import (  # noqa: E402
    FIGURES,
    METER_INDEX,
    MOD_SHAPES,
    MOD_TARGETS,
    NOTE_INDEX,
    REC_POINTS,
)
from floweq_tui.tui.app import FloweqApp  # noqa: E402
from floweq_tui.tui.keys import help_rows, panel_rows  # noqa: E402

FAMILY = synthetic_family()


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def opened(pilot, app):
    await pilot.pause()
    await pilot.press("A")
    await until(pilot, lambda: screen_name(app) == "AutomationScreen", what="the screen")
    await pilot.pause()


@aio
async def test_every_field_of_a_modulator_from_the_keyboard() -> None:
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    c = eng.controls
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("down", "enter")  # LFO 2 on
        await until(pilot, lambda: c["lfo2_on"] == 1, what="lfo2 on")
        await pilot.press("right", "plus", "plus", "plus")  # target x -> interpolate
        await pilot.press("right", "plus")  # shape sine -> triangle
        await pilot.press("right", "plus")  # sync: note
        await pilot.press("right", "minus", "minus")  # note 1bar -> 2bar -> 4bar
        await pilot.press("right", "plus", "greater_than_sign")  # depth 0.5 + 0.05 + 0.25
        await pilot.press("right", "greater_than_sign")  # phase + 90
        await pilot.press("right", "enter")  # unipolar (enter toggles the row: on -> off)
        await pilot.press("plus")  # ... and + toggles the field
        await pilot.pause()
        assert c["lfo2_target"] == MOD_TARGETS.index("interpolate")
        assert c["lfo2_shape"] == MOD_SHAPES.index("triangle")
        assert c["lfo2_sync"] == 1 and c["lfo2_note"] == NOTE_INDEX["4bar"]
        assert c["lfo2_depth"] == pytest.approx(0.8)
        assert c["lfo2_phase"] == 90 and c["lfo2_unipolar"] == 1
        assert c["lfo2_on"] == 0  # the enter on the last field
        text = app.screen.panel.render().plain
        assert "interpol" in text and "4bar" in text and "+0.80" in text and "uni" in text
        # the figure row: on, figure8
        await pilot.press("down", "down", "down", "left", "left", "left", "left", "left")
        await pilot.press("left", "left", "enter", "right", "plus")
        await pilot.pause()
        assert c["fig_on"] == 1 and c["fig_shape"] == FIGURES.index("figure8")
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen", what="back")


@aio
async def test_a_path_built_on_the_map_and_moved_by_its_knob() -> None:
    eng = FakeEngine(FAMILY, mode=1)
    app = FloweqApp(eng, FAMILY)
    c = eng.controls
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        anchors = app.ctrl.anchors()
        c["anchor_a"] = 0
        await pilot.press("W")  # anchor A
        c["anchor_a"] = 1
        await pilot.press("W")
        await pilot.pause()
        c["mode"] = 0
        c["x"], c["y"] = 0.5, -1.0
        await pilot.press("w")  # the current point
        await pilot.pause()
        wps = waypoints_from_controls(c)
        assert [w.xyz[:2] for w in wps[:2]] == [tuple(anchors[i][2][:2]) for i in (0, 1)]
        assert wps[2].xyz == (0.5, -1.0, 0.0)
        c["mode"] = 1  # semantic: switching the path on moves to Traverse
        for _ in range(5):
            await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: c["path_on"] == 1 and c["mode"] == 0, what="path on")
        await pilot.press("right", "greater_than_sign")  # pos + 0.1
        assert c["path_pos"] == pytest.approx(0.1)
        await pilot.press("d")
        await pilot.pause()
        assert c["path_n"] == 2
        text = app.screen.panel.render().plain
        assert f"{anchors[0][0]} > {anchors[1][0]}" in text
        # the map: the path's curve and the moving point (the engine's meters)
        eng.meters.array[METER_INDEX["mod_x"]] = 1.5
        eng.meters.array[METER_INDEX["mod_y"]] = 1.5
        lmap = app.screen.lmap
        await until(pilot, lambda: "→ +1.50,+1.50" in lmap.render().plain, what="moving point")
        plain = lmap.render().plain
        assert "∙" in plain and "◉" in plain and "●" in plain  # path, moving point, centre


@aio
async def test_motion_record_loop_undo_clear_from_keys() -> None:
    eng = FakeEngine(FAMILY, mode=0)
    app = FloweqApp(eng, FAMILY)
    c = eng.controls
    beat = METER_INDEX["beat"]
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        eng.meters.array[beat] = 2.0
        await pilot.press("t")
        await until(pilot, lambda: c["rec_state"] == 1, what="armed")
        # the song plays on; a hand moves x from the bar line
        for k in range(60):
            b = 3.0 + k * 0.05
            eng.meters.array[beat] = b
            if b >= 4.0:
                c["x"] = -1.0 + (b - 4.0) * 0.5
            await pilot.pause(0.02)
        await until(pilot, lambda: c["rec_state"] == 2, what="recording")
        for k in range(25):
            eng.meters.array[beat] = 6.0 + k * 0.1
            c["x"] = -1.0 + (6.0 + k * 0.1 - 4.0) * 0.5
            await pilot.pause(0.02)
        await until(pilot, lambda: c["rec_state"] == 3, what="playing")
        assert c["rec_play"] == 1 and c["rec_n"] == REC_POINTS and c["rec_start"] == 4.0
        # the panel shows it at its next look (it redraws when what it shows changed)
        await until(pilot, lambda: "playing" in app.screen.panel.render().plain, what="said")
        await pilot.press("x")
        await until(pilot, lambda: c["rec_n"] == 0 and c["rec_play"] == 0, what="cleared")
        await pilot.press("u")
        await until(pilot, lambda: c["rec_n"] == REC_POINTS, what="undone")


@aio
async def test_l_learns_the_selected_field_and_help_lists_the_panel_keys() -> None:
    midi = FakeMidi()
    eng = FakeEngine(FAMILY, midi=midi)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("right", "right", "right", "right", "l")
        await until(pilot, lambda: "learn_start lfo1_rate" in midi.calls, what="learn")
    assert "A" in [k for k, _ in help_rows()]
    keys = [k for k, _ in panel_rows()]
    assert {"t", "u", "x", "w", "W", "d", "l", "+ =", "enter"} <= set(keys)


@aio
async def test_the_panel_redraws_only_on_change() -> None:
    eng = FakeEngine(FAMILY)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        panel = app.screen.panel
        await pilot.pause(0.3)
        before = panel.draws
        await pilot.pause(0.5)  # five looks, nothing changed
        assert panel.draws == before
        eng.controls["lfo3_depth"] = -0.25  # a MIDI knob, say
        await until(pilot, lambda: "-0.25" in panel.render().plain, what="redraw")
        assert panel.draws > before
