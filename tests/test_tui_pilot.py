"""Pilot tests: keys and mouse on the real app over a FakeEngine; the assertions are the
values that reach the engine's controls block."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, FakeMidi, synthetic_family  # noqa: E402
from pilot_helpers import until  # noqa: E402

from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX  # noqa: E402
from floweq_tui.tui.app import FloweqApp  # noqa: E402
from floweq_tui.tui.engine_port import EngineLike, MidiClient  # noqa: E402
from floweq_tui.tui.keys import display  # noqa: E402

FAMILY = synthetic_family()


def aio(fn):
    """Run an async test with asyncio.run (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def make(**controls: float) -> tuple[FloweqApp, FakeEngine]:
    eng = FakeEngine(FAMILY, **controls)
    return FloweqApp(eng, FAMILY), eng


async def press(keys: list[str], size=(80, 24), **controls: float) -> FakeEngine:
    app, eng = make(**controls)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
    return eng


def test_fake_engine_is_enginelike() -> None:
    assert isinstance(FakeEngine(FAMILY), EngineLike)
    assert isinstance(FakeMidi(), MidiClient)
    # and so are the real ones (a Protocol checks the names only: start nothing)
    from floweq_tui.engine import Engine, EngineConfig
    from floweq_tui.midi import MidiProcess

    assert isinstance(Engine(EngineConfig(silent=True)), EngineLike)
    assert isinstance(MidiProcess("unused", {}), MidiClient)


# ------------------------------------------------------------------ latent point


@pytest.mark.parametrize(
    "key,name,delta",
    [
        ("right", "x", 0.05), ("left", "x", -0.05), ("up", "y", 0.05), ("down", "y", -0.05),
        ("shift+right", "x", 0.25), ("shift+left", "x", -0.25), ("shift+up", "y", 0.25),
        ("shift+down", "y", -0.25), ("pageup", "z", 0.05), ("pagedown", "z", -0.05),
        ("Z", "z", 0.05), ("z", "z", -0.05),
    ],
)  # fmt: skip
@aio
async def test_xyz_keys(key: str, name: str, delta: float) -> None:
    eng = await press([key])
    assert eng.controls[name] == pytest.approx(delta)


@aio
async def test_xy_clamped_and_extend() -> None:
    eng = await press(["shift+right"] * 12 + ["e"])
    assert eng.controls["x"] == pytest.approx(2.0)
    assert eng.controls["extend"] == 1.0


@aio
async def test_arrows_change_decoded_params_and_map_point() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before = eng.meters.params
        lmap = app.screen.query_one("#map")
        p0 = lmap._inputs[2]
        await pilot.press("shift+right", "shift+up")
        await pilot.pause()
        assert not np.allclose(eng.meters.params, before)
        assert lmap._inputs[2] == (0.25, 0.25)
        assert p0 in lmap.trail


@aio
async def test_click_and_drag_on_map_sets_point() -> None:
    app, eng = make(mode=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lmap = app.screen.query_one("#map")
        w, h = lmap.size.width, lmap.size.height
        await pilot.click("#map", offset=(w - 1, 1))  # top right corner of the plane
        await pilot.pause()
        assert eng.controls["mode"] == 0  # a click steers: Traverse
        assert eng.controls["x"] == pytest.approx(2.0)
        assert eng.controls["y"] == pytest.approx(2.0)
        await pilot.click("#map", offset=((w - 1) // 2, 1 + (h - 2) // 2))
        await pilot.pause()
        assert abs(eng.controls["x"]) < 0.2 and abs(eng.controls["y"]) < 0.3


# ------------------------------------------------------------------ modes and models


@aio
async def test_mode_cycle_and_direct_keys() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        seen = []
        for _ in range(3):
            await pilot.press("m")
            await pilot.pause()
            seen.append(eng.controls["mode"])
            assert (
                app.screen.query_one("#status").plain.split()[0]
                == ("TRAVERSE", "SEMANTIC", "MANUAL")[int(eng.controls["mode"])]
            )
        assert seen == [1.0, 2.0, 0.0]
        for key, mode in (("M", 2), ("S", 1), ("T", 0)):
            await pilot.press(key)
            assert eng.controls["mode"] == mode


@aio
async def test_manual_switch_copies_decoded_params_and_map_encodes() -> None:
    app, eng = make(x=1.0, y=-0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        decoded = eng.meters.params
        assert not np.allclose(decoded, CONTROL_DEFAULTS[CONTROL_INDEX["p0"] :][:13])
        await pilot.press("M")
        await pilot.pause()
        assert eng.controls["mode"] == 2
        np.testing.assert_allclose(eng.controls.params, decoded)
        lmap = app.screen.query_one("#map")
        model = FAMILY["vae_d2_b0.001"]
        want = tuple(round(float(v), 3) for v in model.encode(decoded))
        assert lmap._inputs[2] == want and lmap._inputs[5] is True


@aio
async def test_model_selection_keys() -> None:
    app, eng = make()
    names = eng.status.models
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert names[int(eng.controls["model"])] == "vae_d2_b0.001"
        await pilot.press("3")
        assert names[int(eng.controls["model"])] == "vae_d3_b0.001"
        await pilot.press("v")
        assert names[int(eng.controls["model"])] == "vae_d3_b0.01"
        await pilot.press("V", "V")
        assert names[int(eng.controls["model"])] == "vae_d3_b0"
        await pilot.press("1")
        assert names[int(eng.controls["model"])] == "vae_d1_b0"
        await pilot.pause()
        assert app.screen.query_one("#map")._inputs[0] == 1


@aio
async def test_semantic_anchor_keys() -> None:
    app, eng = make(mode=1)
    labels = eng.status.anchors
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.press("left_curly_bracket")
        await pilot.press("full_stop", "full_stop", "full_stop", "comma")
        await pilot.pause()
        assert eng.controls["anchor_a"] == 2
        assert eng.controls["anchor_b"] == 0  # 1 - 1
        assert eng.controls["interpolate"] == pytest.approx(0.10)
        sem = app.screen.query_one("#g-semantic")
        assert labels[2] in "".join(sem._shown[:1])
        # the map marks A and B in Semantic
        assert app.screen.query_one("#map")._inputs[4] == (2, 0)


# ------------------------------------------------------------------ levels and toggles


@pytest.mark.parametrize(
    "keys,name,value",
    [
        (["r"], "strength", 0.95), (["R"], "strength", 1.0), (["I", "I"], "in_gain", 1.0),
        (["i"], "in_gain", -0.5), (["O"], "out_gain", 0.5), (["o", "o"], "out_gain", -1.0),
        (["b"], "bypass", 1.0), (["b", "b"], "bypass", 0.0), (["a"], "auto_gain", 1.0),
        (["space"], "mute", 1.0), (["exclamation_mark"], "mute", 1.0),
        (["space", "space"], "mute", 0.0), (["e"], "extend", 1.0),
    ],
)  # fmt: skip
@aio
async def test_level_and_toggle_keys(keys: list[str], name: str, value: float) -> None:
    eng = await press(keys)
    assert eng.controls[name] == pytest.approx(value)


@aio
async def test_tab_groups_and_focused_value_keys() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.focused.id == "g-latent"
        await pilot.press("plus")
        assert eng.controls["x"] == pytest.approx(0.05)
        await pilot.press("n", "greater_than_sign")
        assert eng.controls["y"] == pytest.approx(0.25)
        await pilot.press("tab")
        assert app.focused.id == "g-semantic"
        await pilot.press("n", "n", "plus")
        assert eng.controls["interpolate"] == pytest.approx(0.05)
        await pilot.press("tab")
        assert app.focused.id == "g-level"
        await pilot.press("minus")
        assert eng.controls["strength"] == pytest.approx(0.95)
        await pilot.press("n", "less_than_sign")
        assert eng.controls["in_gain"] == pytest.approx(-3.0)
        await pilot.press("tab")
        assert app.focused.id == "g-auto"
        await pilot.press("enter", "n", "plus", "n", "minus")
        assert eng.controls["auto_gain"] == 1.0
        assert eng.controls["auto_time"] == pytest.approx(2**0.25)
        assert eng.controls["auto_range"] == pytest.approx(11.0)
        await pilot.press("tab")
        assert app.focused.id == "bands"
        await pilot.press("tab")
        assert app.focused.id == "g-mode"
        await pilot.press("plus")
        assert eng.controls["mode"] == 1
        await pilot.press("n", "plus")  # latent dims 2 -> 3
        assert eng.status.models[int(eng.controls["model"])] == "vae_d3_b0.001"
        await pilot.press("n", "n", "plus")  # glide
        assert eng.controls["glide_ms"] == pytest.approx(25.0)
        await pilot.press("shift+tab")
        assert app.focused.id == "bands"


@aio
async def test_mouse_scroll_adjusts_value_under_pointer() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.hover("#g-level", offset=(5, 2))  # row 2 = "In"
        grp = app.screen.query_one("#g-level")
        from textual import events

        for _ in range(2):
            grp.post_message(events.MouseScrollUp(grp, 5, 2, 0, 0, 0, False, False, False))
        await pilot.pause()
        assert eng.controls["in_gain"] == pytest.approx(1.0)


# ------------------------------------------------------------------ bands


@aio
async def test_band_edits_switch_to_manual_and_change_params() -> None:
    app, eng = make(x=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        decoded = eng.meters.params
        bands = app.screen.query_one("#bands")
        bands.focus()
        await pilot.press("n")  # low shelf gain
        await pilot.press("plus")
        await pilot.pause()
        assert eng.controls["mode"] == 2
        assert eng.controls["p0"] == pytest.approx(round((decoded[0] + 0.5) / 0.5) * 0.5)
        await pilot.press("n", "plus")  # low shelf freq: one semitone up
        assert eng.controls["p1"] == pytest.approx(decoded[1] * 2 ** (1 / 12))
        await pilot.press("n", "enter")  # band 1 active off
        assert eng.controls["active1"] == 0.0
        await pilot.press("n", "n", "n", "greater_than_sign")  # band 1 Q, coarse
        assert eng.controls["p4"] == pytest.approx(min(decoded[4] * 2**0.5, 10.0))
        # untouched parameters keep the decoded values
        np.testing.assert_allclose(eng.controls.params[5:], decoded[5:])


@aio
async def test_band_click_selects_cell() -> None:
    app, eng = make(mode=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bands = app.screen.query_one("#bands")
        await pilot.click("#bands", offset=(bands.size.width - 3, 2))  # high shelf gain
        await pilot.pause()
        bands.focus()
        await pilot.press("minus")
        assert eng.controls["p11"] == pytest.approx(-0.5)


# ------------------------------------------------------------------ layout, help, palette


@aio
async def test_resize_small_and_back() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lmap = app.screen.query_one("#map")
        assert lmap.display and lmap.size.width > 0
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert not app.screen.query_one("#map").display
        assert app.screen.query_one("#curve").size.width == 60
        assert app.screen.query_one("#bands").display
        await pilot.press("right")
        assert eng.controls["x"] == pytest.approx(0.05)
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert not app.screen.query_one("#groups").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen.query_one("#map").display
        assert app.screen.query_one("#groups").display
        assert app.screen.query_one("#map").size.width >= 20


@aio
async def test_lines_and_spectrum_lay_out_at_the_width_they_are_drawn_at() -> None:
    """Fed once at mount (before the layout settles) and not again (no frame ticks), the
    meters and status lines and the curve's spectrum still fit the width they are drawn
    at, and lay out again after a resize."""
    eng = FakeEngine(FAMILY, midi=FakeMidi())
    app = FloweqApp(eng, FAMILY, fps=1e-4)  # no timer frame: only forced refreshes
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        meters = app.screen.query_one("#meters")
        status = app.screen.query_one("#status")
        curve = app.screen.query_one("#curve")
        assert "MIDI" in str(status.render()) and len(str(status.render())) <= 80
        assert str(meters.render()).startswith(" in -12.0dB -18.2LU  out")  # the wide form
        await pilot.press("f")  # the spectrum on (a forced refresh, at this width)
        await pilot.pause()
        assert "█" in str(curve.render())
        await pilot.resize_terminal(60, 30)  # the map hides: the curve widens
        await pilot.pause()
        assert str(meters.render()).startswith("in -12.0/-18.2 out")  # the compact form
        assert curve.size.width == 60 and "█" in str(curve.render())
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert str(meters.render()).startswith(" in -12.0dB -18.2LU  out")


@aio
async def test_spectrum_is_not_recomputed_while_the_output_is_silent(monkeypatch) -> None:
    """Shown, the live spectrum is computed about 10 times a second while sound plays; once
    the output stayed silent longer than its ring, not again (the floor is drawn already);
    as soon as sound comes back, again."""
    import floweq_tui.tui.app as app_module
    from floweq_tui.controls import METER_INDEX

    calls: list[int] = []
    real = app_module.spectrum_db

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(app_module, "spectrum_db", counted)
    app, eng = make()

    async def settles(looks: int = 8) -> bool:
        """True once ``looks`` looks pass without a new spectrum (False: 10 s went by)."""
        deadline = asyncio.get_running_loop().time() + 10.0
        while asyncio.get_running_loop().time() < deadline:
            n, start = len(calls), app.looks
            await until(pilot, lambda s=start: app.looks >= s + looks, what="looks")
            if len(calls) == n:
                return True
        return False

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f")  # the spectrum on
        n = len(calls)
        await until(pilot, lambda: len(calls) >= n + 3, what="spectra while sound plays")
        eng.meters.array[METER_INDEX["peak_out"]] = 0.0  # the output falls silent
        assert await settles(), "the spectrum is still computed in silence"
        eng.meters.array[METER_INDEX["peak_out"]] = 0.3  # sound again
        n = len(calls)
        await until(pilot, lambda: len(calls) >= n + 2, what="spectra once sound is back")


def help_keys(help_screen) -> dict[str, str]:
    """What the help screen lists: {key as shown: its row's description}; mouse rows
    left out. A cell like "+ / -  (or = / _)" or "pgdn z" lists several keys."""
    keys, descs = (list(col.cells) for col in help_screen.keys_table.columns)
    out = {}
    for cell, desc in zip(keys, descs, strict=True):
        if not str(cell).startswith("mouse"):
            for key in str(cell).replace("(or", " ").replace(")", " ").split():
                if key != "/":
                    out[key] = str(desc)
    return out


def bound_keys(app) -> tuple[dict[str, list], set[str]]:
    """The bindings really in force on the main screen, by key: the app's, the screen's and
    each focusable group's (Textual's own included); and the keys the instrument itself
    binds (those whose binding is not one of Textual's defaults)."""
    from textual.app import App
    from textual.binding import BindingsMap
    from textual.screen import Screen
    from textual.widget import Widget

    nodes = [app, app.screen, *(w for w in app.screen.query("*") if w.can_focus)]
    real: dict[str, list] = {}
    for node in nodes:
        for key, bindings in node._bindings.key_to_bindings.items():
            real.setdefault(key, []).extend(bindings)
    textual_own = {
        (b.key, b.action)
        for cls in (App, Screen, Widget)
        for bs in BindingsMap(cls.BINDINGS).key_to_bindings.values()
        for b in bs
    } | {(App.COMMAND_PALETTE_BINDING, "command_palette")}
    ours = {k for k, bs in real.items() if any((k, b.action) not in textual_own for b in bs)}
    return real, ours


@aio
async def test_help_lists_every_binding() -> None:
    """The help screen against the bindings in force: every key the instrument binds is in
    help (its row saying what the binding does), and every key help lists does something."""
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        real, ours = bound_keys(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        shown = help_keys(app.screen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "MainScreen"
    missing = sorted(display(k) for k in ours if display(k) not in shown)
    assert missing == [], f"bound but not in help: {missing}"
    dead = sorted(k for k in shown if k not in {display(r) for r in real})
    assert dead == [], f"in help but bound to nothing: {dead}"
    for key in ours:  # an app key's row says what its binding does
        for b in real[key]:
            if b.tooltip and b in app._bindings.key_to_bindings.get(key, []):
                assert shown[display(key)] == b.tooltip, key
    assert {"n", "p", "+", "-", ">", "<", "enter", "tab", "ctrl+p", "q"} <= set(shown)


@aio
async def test_command_palette_lists_actions() -> None:
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t == "Bypass on/off" for t in titles)
        assert any(t.startswith("Anchor A: warm") for t in titles)
        cmd = next(c for c in app.get_system_commands(app.screen) if c.title == "Auto gain on/off")
        cmd.callback()
        await pilot.pause()
        assert eng.controls["auto_gain"] == 1.0


async def quits_on(keys: str) -> None:
    """Press ``keys`` and wait, still inside run_test (whose end stops the app anyway), for
    the exit only quitting sets: App.exit's return code."""
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.return_code is None
        await pilot.press(keys)
        await until(pilot, lambda: app.return_code == 0, what=f"{keys} to quit the app")
    assert not app.is_running


@aio
async def test_q_quits() -> None:
    await quits_on("q")


@aio
async def test_ctrl_c_quits() -> None:
    await quits_on("ctrl+c")


@aio
async def test_frames_are_drawn_only_when_their_inputs_change() -> None:
    """Looks that find nothing new draw no frame; a control written by another process (as
    a MIDI knob does) is drawn at the next look, and a key at once, in its own frame."""
    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        map_title = lambda: app.screen.query_one("#map").render().plain.split("\n")[0]  # noqa: E731
        drawn, looks = app.frames_drawn, app.looks
        await until(pilot, lambda: app.looks >= looks + 5, what="five looks")
        assert app.frames_drawn == drawn  # nothing changed: nothing drawn
        assert map_title().startswith("x+0.00")
        eng.controls["x"] = 0.5  # another writer (the MIDI service) moves x
        await until(pilot, lambda: app.frames_drawn > drawn, what="the frame with x")
        assert map_title().startswith("x+0.50")
        drawn, looks = app.frames_drawn, app.looks
        app.action_nudge("x", 1)  # what the right arrow does: drawn before it returns
        assert map_title().startswith("x+0.55") and app.frames_drawn == drawn + 1
        await until(pilot, lambda: app.looks >= looks + 3, what="three more looks")
        assert app.frames_drawn == drawn + 1  # and not drawn again by the looks after it


@aio
async def test_modulation_draws_every_look_and_the_band_values_at_their_own_rate() -> None:
    """Modulators move the decoded point and parameters by themselves: the looks draw the
    curve and the map's moving point as they move, while the band values follow at most
    AUTO_NUMBERS_HZ and the meters at their idle rate (a modulator is no key or knob)."""
    import time

    from floweq_tui.controls import METER_INDEX
    from floweq_tui.tui.app import AUTO_NUMBERS_HZ, HOT_S, METERS_IDLE_HZ

    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        await until(pilot, lambda: time.monotonic() - app._user_at > HOT_S, what="start-up")
        stamps: dict[str, list[float]] = {"bands": [], "meters": []}
        update, feed = main.bands.update_values, main.meters_line.feed

        # stamped with the look's own time (what the rates are kept in), not the moment
        # the call came within the look: a slow draw before it must not shorten a gap
        def bands() -> None:
            stamps["bands"].append(app._bands_at)
            update()

        def meters(layout) -> None:
            stamps["meters"].append(app._meters_at)
            feed(layout)

        main.bands.update_values, main.meters_line.feed = bands, meters
        m = eng.meters.array
        _ = eng.meters.params  # (the fake decodes the controls once; the modulators take over)
        p0 = METER_INDEX["p0"]
        gain = m[p0]
        m[METER_INDEX["mods_running"]] = 1.0
        k = 0

        def step() -> bool:  # what the engine's modulators do, about once a look
            nonlocal k
            k += 1
            m[METER_INDEX["mod_x"]] = -0.5 + 0.02 * k
            m[p0] = gain + 0.1 * k
            return app.looks >= looks + 30

        drawn, looks = app.frames_drawn, app.looks
        map_title = lambda: main.query_one("#map").render().plain.split("\n")[0]  # noqa: E731
        await until(pilot, step, what="30 looks")
        assert app.frames_drawn - drawn >= 10  # the looks that saw a change drew it
        assert "→" in map_title()  # (the moving point)
        assert len(stamps["bands"]) >= 2  # the band values follow, at their own rate
        gaps = np.diff(stamps["bands"])
        assert gaps.min() >= 1.0 / AUTO_NUMBERS_HZ - 0.02, gaps
        assert np.all(np.diff(stamps["meters"]) >= 1.0 / METERS_IDLE_HZ - 0.05), stamps


@aio
async def test_looks_doze_when_idle_and_wake_on_a_change() -> None:
    """Nothing changed for DOZE_S: the next look is a doze period away. A key, or a control
    written by another process (a MIDI knob) as soon as a look sees it, brings the next look
    to one frame away at once."""
    import time

    from floweq_tui.tui.app import DOZE_FPS_POLLED, DOZE_S

    app, eng = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.doze_fps == DOZE_FPS_POLLED  # (no MIDI news from this engine)
        frame, doze = 1.0 / app.fps, 1.0 / app.doze_fps
        app._changed_at = time.monotonic() - DOZE_S - 1  # as if idle for DOZE_S
        await until(pilot, lambda: app.look_period == doze, what="dozing")
        app.action_nudge("x", 1)  # a key: the next look a frame away
        assert app.look_period == frame
        app._changed_at = time.monotonic() - DOZE_S - 1
        await until(pilot, lambda: app.look_period == doze, what="dozing again")
        drawn = app.frames_drawn
        eng.controls["x"] = -0.5  # a knob: drawn by the next look, the one after a frame away
        await until(pilot, lambda: app.frames_drawn > drawn, what="the frame with x")
        assert app.look_period == frame


def _news(midi: FakeMidi, fds: list[int]) -> int:
    """Give a fake MIDI process a news pipe, as MidiProcess has; the write end (both ends
    added to ``fds``, to close once the app is gone)."""
    import os

    r, w = os.pipe()
    os.set_blocking(r, False)
    fds += [r, w]

    def take() -> bool:
        try:
            return bool(os.read(r, 4096))
        except BlockingIOError:
            return False

    midi.news_fd, midi.take_news = r, take  # type: ignore[attr-defined]
    return w


@aio
async def test_news_from_the_midi_process_wakes_the_dozing_looks() -> None:
    """With the MIDI process's news pipe and a supervisor that tells: dozing looks come
    DOZE_FPS a second; a byte of news brings the next look to one frame away at once and
    asks for the MIDI status. An engine that made a new MIDI process is listened to again."""
    import os
    import time

    from floweq_tui.tui.app import DOZE_FPS, DOZE_S

    fds: list[int] = []
    eng = FakeEngine(FAMILY, midi=FakeMidi())
    w = _news(eng.midi, fds)
    app = FloweqApp(eng, FAMILY)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.doze_fps == DOZE_FPS and eng.supervisor.on_change is not None
            app.doze_fps = 0.01  # (looks 100 s apart: only news brings one)
            app._changed_at = time.monotonic() - DOZE_S - 1
            await until(pilot, lambda: app.look_period == 100.0, what="dozing")
            asked = len(eng.midi.calls)
            os.write(w, b"n")
            await until(pilot, lambda: app.look_period == 1.0 / app.fps, 5, "woken")
            await until(pilot, lambda: "status" in eng.midi.calls[asked:], 5, "status asked")
            eng.midi = FakeMidi()
            _news(eng.midi, fds)
            await until(pilot, lambda: app._news_of is eng.midi, 5, "the new process heard")
    finally:
        for fd in fds:
            os.close(fd)


# ------------------------------------------------------------------ A/B and export


@aio
async def test_ab_keys_toggle_copy_and_match() -> None:
    app, eng = make(mode=2)
    c = eng.controls
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        c["p0"] = 6.0
        await pilot.press("w")  # arms A/B (B = a copy of A) and hears B
        await until(pilot, lambda: c["ab_slot"] == 1)
        assert c["ab_on"] == 1 and c["ab_p0"] == 6.0
        c["p0"] = -6.0  # edit B
        await pilot.press("w")  # back to A
        await until(pilot, lambda: c["ab_slot"] == 0)
        assert c["p0"] == 6.0 and c["ab_p0"] == -6.0
        await pilot.press("W")  # copy A to B
        await until(pilot, lambda: c["ab_p0"] == 6.0)
        await pilot.press("L")
        await until(pilot, lambda: c["ab_match"] == 1)


@aio
async def test_export_key_writes_every_format(tmp_path, monkeypatch) -> None:
    from floweq_tui import eqfile, eqmath

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app, eng = make(mode=2, p0=4.0, p5=-3.0, strength=0.5, active4=0)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("X")
        folder = tmp_path / "floweq-tui" / "exports"
        await until(pilot, lambda: folder.is_dir() and len(list(folder.iterdir())) == 4)
    p = np.array([eng.controls[f"p{i}"] for i in range(13)])
    grid = eqmath.log_grid(200)
    want = eqmath.response_db(p * np.where(np.isin(range(13), [0, 2, 5, 8, 11]), 0.5, 1), grid,
                              48000, [True, True, True, True, False])  # fmt: skip
    for f in folder.iterdir():
        got = eqfile.response_db(eqfile.read_curve(f).filters, grid, 48000)
        assert np.max(np.abs(got - want)) < 0.02, f.name
