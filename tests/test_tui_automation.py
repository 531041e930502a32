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
        await pilot.press("escape")  # (the learn screen)
        await until(pilot, lambda: screen_name(app) == "AutomationScreen", what="back")
        for _ in range(6):
            await pilot.press("down")  # the Motion row (through the Path row's 3 fields)
        await pilot.press("right", "right")  # overdub > target > target 2
        assert app.screen.panel.control() == "rec_target2"
        await pilot.press("l")
        await until(pilot, lambda: "learn_start rec_target2" in midi.calls, what="learn 2")
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


@aio
async def test_a_drag_on_the_map_is_recorded_over_x_and_y_and_loops() -> None:
    """Choose x + y on the Motion row with the keys, arm with t, drag the mouse across the
    automation screen's map for a bar: the take holds both axes, and the engine's core
    (a real Processor on the same controls block) plays the drag back looped."""
    import numpy as np

    from floweq_tui import _dsp
    from floweq_tui.automation.recorder import loop_points, to_fraction
    from floweq_tui.controls import METERS_SIZE, REC_TARGETS2, Meters

    eng = FakeEngine(FAMILY, mode=0)
    app = FloweqApp(eng, FAMILY)
    c = eng.controls
    beat = METER_INDEX["beat"]
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        for _ in range(6):
            await pilot.press("down")  # the Motion row
        await pilot.press("right", "right", "right", "right", "plus", "plus")  # + none > x > y
        await until(pilot, lambda: c["rec_target2"] == REC_TARGETS2.index("y"), what="target 2")
        assert c["rec_target"] == MOD_TARGETS.index("x")
        await until(pilot, lambda: "+y" in app.screen.panel.render().plain, what="shown")
        eng.meters.array[beat] = 2.0
        await pilot.press("t")
        await until(pilot, lambda: c["rec_state"] == 1, what="armed")
        lmap = app.screen.lmap
        w, h = lmap.size.width, lmap.size.height
        start, end = (2, h - 2), (w // 2, 2)  # bottom left -> top middle
        eng.meters.array[beat] = 3.9
        await pilot.mouse_down("#auto-map", offset=start)
        steps = 40
        for k in range(steps + 1):  # the bar from beat 4: the hand drags on
            eng.meters.array[beat] = 4.0 + 4.0 * k / steps
            at = tuple(round(a + k / steps * (b - a)) for a, b in zip(start, end, strict=True))
            await pilot.hover("#auto-map", offset=at)
            await pilot.pause(0.02)
        await pilot.mouse_up("#auto-map", offset=end)
        eng.meters.array[beat] = 8.1
        await until(pilot, lambda: c["rec_state"] == 3, what="playing")
        assert c["rec_play"] == 1 and c["rec_lanes"] == 2 and c["rec_start"] == 4.0
        await until(pilot, lambda: "x+y" in app.screen.panel.render().plain, what="said")
        xs, ys = np.array(loop_points(c)), np.array(loop_points(c, 1))
        q = REC_POINTS // 4
        assert xs[-q:].mean() - xs[:q].mean() > 0.15  # to the right ...
        assert ys[-q:].mean() - ys[:q].mean() > 0.3  # ... and up, in one gesture
        assert xs[-1] == pytest.approx(to_fraction("x", c["x"]), abs=0.02)
        assert ys[-1] == pytest.approx(to_fraction("y", c["y"]), abs=0.02)
        ctl = c.array.copy()  # the block as the engine reads it

    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(2, 48000.0, 64, ctl, met, wall_clock=False)
    m = Meters(met)
    buf = np.zeros((64, 2), np.float32)
    for _ in range(int(4 * 48000 / 64)):  # two loops at 120 BPM
        b = proc.beat_position
        proc.process(buf, buf)
        u = (b - 4.0) / 4.0
        assert m["mod_x"] == pytest.approx(-2 + 4 * _dsp.rec_value(xs, u), abs=1e-9)
        assert m["mod_y"] == pytest.approx(-2 + 4 * _dsp.rec_value(ys, u), abs=1e-9)
