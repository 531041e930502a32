"""Pilot tests of the UI's MIDI parts and engine recovery, over a FakeEngine with a FakeMidi:
learn (start, done, Esc, conflict -> replace / keep), port state and knob positions in the
status line and groups, the default mapping in help and docs, engine restart after a death."""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, FakeMidi, synthetic_family  # noqa: E402
from pilot_helpers import screen_name, until  # noqa: E402

from floweq_tui.midi import default_mapping_table  # noqa: E402
from floweq_tui.midi.state import (  # noqa: E402
    KnobInfo,
    LearnPhase,
    LearnState,
    LinkInfo,
    LinkState,
    MidiStatus,
)
from floweq_tui.tui.app import FloweqApp  # noqa: E402
from floweq_tui.tui.keys import midi_rows  # noqa: E402
from floweq_tui.tui.midi_view import knob_text, learn_notice, midi_state  # noqa: E402

FAMILY = synthetic_family()
REPO = Path(__file__).resolve().parents[1]


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def make(midi=None, **controls: float) -> tuple[FloweqApp, FakeEngine, list[tuple[str, str]]]:
    eng = FakeEngine(FAMILY, midi=midi, **controls)
    app = FloweqApp(eng, FAMILY)
    notes: list[tuple[str, str]] = []
    orig = app.notify

    def notify(message, *a, severity="information", **k):
        notes.append((str(message), severity))
        return orig(message, *a, severity=severity, **k)

    app.notify = notify  # type: ignore[method-assign]
    return app, eng, notes


async def open_learn(pilot, *keys: str) -> None:
    """Press ``keys`` then ``l``, and wait for the learn modal."""
    await pilot.press(*keys, "l")
    await until(pilot, lambda: screen_name(pilot.app) == "LearnScreen", what="the learn modal")


def learn_over(app) -> bool:
    """The learn modal is gone *and* its result was handled (notice posted): the screen
    pops before the dismiss callback runs, so the screen alone is not enough."""
    return screen_name(app) == "MainScreen" and app.last_learn is not None


def confirm_shown(app) -> bool:
    return screen_name(app) == "ConfirmScreen" and bool(app.screen.query("#confirm-text"))


# ------------------------------------------------------------------ learn


@aio
async def test_learn_focused_value_done() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.focused.id == "g-latent"  # x selected
        await open_learn(pilot)
        assert "learn_start x" in midi.calls
        text = str(app.screen.query_one("#learn-text").render())
        assert "turn a knob a few steps or press a button for" in text and "Esc cancels" in text
        midi.move("cc 30 ch1")
        await until(pilot, lambda: learn_over(app), what="learn to finish")
        assert app.last_learn.phase is LearnPhase.DONE
        assert midi.bound["cc 30 ch1"]["control"] == "x"
        assert any(n == "MIDI learn: x ← cc 30 ch1 (nanoKONTROL2)" for n, _ in notes)
        assert eng.controls["x"] == 0.0


@aio
async def test_learn_escape_cancels() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_learn(pilot, "tab", "tab")  # LEVEL: strength
        assert "learn_start strength" in midi.calls
        await pilot.press("escape")
        await until(pilot, lambda: learn_over(app), what="the modal to close")
        assert "learn_cancel" in midi.calls
        assert app.last_learn.phase is LearnPhase.CANCELLED
        assert ("MIDI learn cancelled", "information") in notes
        midi.move("cc 30 ch1")  # too late: nothing is learned
        assert "cc 30 ch1" not in midi.bound


@pytest.mark.parametrize("answer", ["y", "n"])
@aio
async def test_learn_conflict_asks_replace_or_keep(answer: str) -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_learn(pilot, "tab", "tab")  # LEVEL: strength
        midi.move("cc 16 ch1")  # the default knob of x
        await until(pilot, lambda: confirm_shown(app), what="the question")
        question = str(app.screen.query_one("#confirm-text").render())
        assert "cc 16 ch1 already drives x" in question and "Strength" in question
        await pilot.press(answer)
        await until(pilot, lambda: learn_over(app), what="the modals to close")
        if answer == "y":
            assert "learn_commit True" in midi.calls
            assert midi.bound["cc 16 ch1"]["control"] == "strength"
            assert app.last_learn.phase is LearnPhase.DONE
            assert any("Strength ← cc 16 ch1" in n and "replacing x" in n for n, _ in notes)
        else:
            assert "learn_cancel" in midi.calls and "learn_commit True" not in midi.calls
            assert midi.bound["cc 16 ch1"]["control"] == "x"
            assert app.last_learn.phase is LearnPhase.KEPT
            assert any(n == "MIDI learn: kept cc 16 ch1 on x" for n, _ in notes)


@aio
async def test_learn_from_palette_toggle_and_band_cell() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        cmds = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"MIDI learn: Bypass", "MIDI learn: Strength", "MIDI learn: x"} <= set(cmds)
        cmds["MIDI learn: Bypass"].callback()
        await until(pilot, lambda: screen_name(app) == "LearnScreen", what="the learn modal")
        midi.move("note 50 ch10")
        await until(pilot, lambda: learn_over(app), what="learn to finish")
        assert midi.bound["note 50 ch10"]["control"] == "bypass"
        # a band cell: the bands group, low shelf gain -> p0
        app.screen.query_one("#bands").focus()
        await open_learn(pilot, "n")
        assert midi.calls[-1] == "learn_start p0" or "learn_start p0" in midi.calls
        await pilot.press("escape")
        await until(pilot, lambda: learn_over(app), what="the modal to close")


@aio
async def test_learn_timeout_and_midi_off() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_learn(pilot)
        midi.learn_state = LearnState(LearnPhase.TIMEOUT, control="x")
        await until(pilot, lambda: learn_over(app), what="the timeout")
        assert ("MIDI learn: nothing received for x", "warning") in notes
    app, eng, notes = make(None)  # --no-midi
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await until(pilot, lambda: any("MIDI is off" in n for n, _ in notes), what="the notice")
        assert screen_name(app) == "MainScreen"
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        assert app.screen.query_one("#status").plain.endswith("│ MIDI off (--no-midi)")


# ------------------------------------------------------------------ port state, knobs


@aio
async def test_port_state_in_status_line() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        status = app.screen.query_one("#status").plain
        assert status.endswith(
            "│ MIDI nanoKONTROL2 connected · virtual floweq-tui:floweq-tui (alsa)"
        ), status
        assert "48 kHz 128 fr" in status and "no audio device: silent clock" in status
        midi.state = LinkState.DISCONNECTED
        midi.detail = "disconnected: waiting for nanoKONTROL2"
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        assert "│ MIDI nanoKONTROL2 waiting · virtual" in app.screen.query_one("#status").plain
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        app.refresh_from_engine(force=True)
        status = app.screen.query_one("#status").plain
        assert len(status) <= 80 and status.endswith("│ MIDI wait"), status
        assert "no audio device: silent clock" in status

        def broken():
            raise RuntimeError("the MIDI process exited (code 1)")

        midi.status = broken  # type: ignore[method-assign]
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        assert app.screen.query_one("#status").plain.endswith("│ MIDI err")
    # an engine without MIDI has midi None (the status line says MIDI is off)
    eng2 = FakeEngine(FAMILY)
    assert eng2.midi is None


def test_status_line_fits_80_columns_on_jack() -> None:
    from floweq_tui.engine import EngineStatus
    from floweq_tui.tui.meters import status_parts

    st = EngineStatus(device="system", hostapi="JACK Audio Connection Kit", samplerate=48000,
                      blocksize=128)  # fmt: skip
    midi = midi_state(
        MidiStatus(api="jack", hw=LinkInfo("nanoKONTROL2", state=LinkState.CONNECTED),
                   virtual=LinkInfo(port="floweq-tui:floweq-tui"))
    )  # fmt: skip
    text = "".join(p for p, _ in status_parts("SEMANTIC", "running", st, "vae_d2_b0.001", midi, 80))
    assert text == " SEMANTIC  running │ system (JACK) │ 48k/128 │ vae_d2_b0.001 │ MIDI ok"
    wide = "".join(p for p, _ in status_parts("SEMANTIC", "running", st, "m", midi, 200))
    assert wide.endswith("│ 48 kHz 128 fr │ m │ MIDI nanoKONTROL2 connected · virtual "
                         "floweq-tui:floweq-tui (jack)")  # fmt: skip
    # no MIDI attribute (an engine without MIDI): the line as before
    assert "MIDI" not in "".join(p for p, _ in status_parts("T", "running", st, "m", None, 80))


def test_midi_state_texts() -> None:
    st = MidiStatus(
        api="jack",
        hw=LinkInfo("", state=LinkState.NOT_FOUND),
        virtual=LinkInfo(port="floweq-tui:floweq-tui", state=LinkState.OPEN),
    )
    assert midi_state(st).medium == "MIDI no controller" and midi_state(st).short == "MIDI virt"
    st = replace(st, api=None, virtual=LinkInfo())
    assert midi_state(st).level == "bad"
    assert midi_state(None).short == "MIDI …"
    assert learn_notice(LearnState(LearnPhase.DONE, control="x", source="cc 1 ch1", saved=False,
                                   error="midi.toml:3: bad")) == (
        "MIDI learn: x ← cc 1 ch1; not saved: midi.toml:3: bad", "warning")  # fmt: skip
    knobs = {"x": KnobInfo(knob=-0.3, picked_up=False), "y": KnobInfo(knob=None, picked_up=False)}
    assert knob_text(knobs, "x", "+.2f") == "-0.30"
    assert knob_text(knobs, "y", "+.2f") is None and knob_text(knobs, "z", "+.2f") is None


@aio
async def test_knob_position_until_picked_up() -> None:
    midi = FakeMidi()
    app, eng, notes = make(midi, x=0.7)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        midi.set_knob("x", -0.3)
        midi.set_knob("strength", 0.2)
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        await pilot.pause()
        latent = app.screen.query_one("#g-latent")
        rendered = str(latent.render())
        assert re.search(r"x +\+0\.70 \(knob -0\.30\)", rendered), rendered
        level = str(app.screen.query_one("#g-level").render())
        assert "1.00 (knob 0.20)" in level
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        rendered = str(latent.render())
        assert "+0.70 k-0.30" in rendered, rendered
        assert all(len(line) <= latent.size.width for line in rendered.split("\n"))
        midi.set_knob("x", -0.3, picked_up=True)
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        await pilot.pause()
        assert "k-0.30" not in str(latent.render())


@aio
async def test_band_cells_show_unpicked_knobs() -> None:
    """A knob on a band value (Manual) shows where it is until soft takeover picks it up."""
    midi = FakeMidi()
    app, eng, notes = make(midi, mode=2, p0=3.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        midi.set_knob("p0", -6.0)  # low shelf gain
        midi.set_knob("p1", 250.0)  # low shelf frequency
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        await pilot.pause()
        bands = app.screen.query_one("#bands")
        rendered = str(bands.render())
        assert "+3.0dB k-6.0" in rendered and "k250" in rendered, rendered
        assert all(len(line) <= bands.size.width for line in rendered.split("\n"))
        bands.focus()
        await pilot.press("n")  # low shelf gain selected: the title reads the knob in full
        await pilot.pause()
        assert "knob at -6.0 dB, turn it to pick up" in str(bands.render())
        midi.set_knob("p0", -6.0, picked_up=True)
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        await pilot.pause()
        rendered = str(bands.render())
        assert "k-6.0" not in rendered and "knob at" not in rendered


def test_with_knob_fits_any_width() -> None:
    from floweq_tui.tui.bands import with_knob

    assert with_knob("+3.0dB", "-6.0", 14) == "  +3.0dB k-6.0"
    assert with_knob("+3.0dB", "-6.0", 9) == "  +3.0dB*"
    assert with_knob("+3.0dB", None, 9) == "   +3.0dB"
    for width in range(0, 16):
        assert len(with_knob("1.2kHz", "250", width)) == width


# ------------------------------------------------------------------ help and docs


@aio
async def test_help_lists_default_midi_mapping() -> None:
    app, eng, notes = make(FakeMidi())
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert screen_name(app) == "HelpScreen"
        table = app.screen.midi_table
        from rich.console import Console

        console = Console(width=90, record=True)
        console.print(table)
        text = console.export_text()
        for row in default_mapping_table():
            assert row["label"] in text and row["source"].split(",")[0] in text
    assert len(midi_rows()) == len(default_mapping_table())


def test_usage_doc_lists_default_mapping_and_keys() -> None:
    doc = (REPO / "docs" / "usage.md").read_text()
    for row in default_mapping_table():
        assert f"| {row['control']} | {row['label']} | {row['source']} |" in doc, row
    assert "| `l` |" in doc and "| `ctrl+r` |" in doc


# ------------------------------------------------------------------ engine recovery


@aio
async def test_engine_death_notice_and_restart_with_backoff() -> None:
    """The engine's supervisor restarts a dead engine (the UI only says so): at once, then,
    after a failed start, with a delay; the controls are kept."""
    from floweq_tui.runtime import RestartPolicy

    app, eng, notes = make(None, x=0.4, strength=0.6)
    eng.supervisor.policy = RestartPolicy(base=0.5)
    restarted = ("engine restarted (controls kept)", "information")
    shown: list[str] = []
    status = lambda: app.screen.query_one("#status").plain  # noqa: E731
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        eng.restart_failures = 1  # the immediate retry fails, the next one (0.5 s later) works
        eng.die(-9)
        await until(
            pilot,
            lambda: shown.append(status()) or (eng.restarts == 1 and restarted in notes),
            what="the restart notice",
        )
        assert any(
            n == "the engine process exited (code -9): restarting it (ctrl+r restarts by hand)"
            and s == "error"
            for n, s in notes
        ), notes
        assert any("engine restart 1 failed" in n and "next try in 0.5 s" in n for n, _ in notes)
        assert any("engine stopped: retry in 0.5 s (ctrl+r now)" in t for t in shown), shown
        assert eng.alive
        assert eng.controls["x"] == 0.4 and eng.controls["strength"] == 0.6
        await pilot.pause(0.1)
        app.refresh_from_engine(force=True)
        assert "no audio device: silent clock" in status()


@aio
async def test_engine_restart_by_hand_and_a_deliberate_stop() -> None:
    """ctrl+r restarts a live engine through the supervisor (no death notice); a failed
    restart by hand is said and retried; an engine stopped on purpose is left alone."""
    from floweq_tui.runtime import ChildState

    app, eng, notes = make(None)
    restarted = ("engine restarted (controls kept)", "information")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: eng.restarts == 1 and restarted in notes, what="by hand")
        assert eng.alive
        assert not any("restarting it" in n for n, _ in notes)  # not a crash
        eng.restart_failures = 1
        await pilot.press("ctrl+r")  # fails once; the supervisor tries again
        await until(pilot, lambda: eng.restarts == 2, what="a second restart")
        assert any("engine restart 1 failed" in n for n, _ in notes), notes
        assert eng.alive
        count = len(notes)
        eng.stop()
        for _ in range(3):
            assert eng.health["engine"].state is ChildState.STOPPED
        await pilot.pause(0.6)
        assert eng.restarts == 2 and not eng.alive and len(notes) == count


@aio
async def test_bad_mapping_file_said_at_80x24(tmp_path) -> None:
    """A real midi.toml with one bad binding (channel 17), read by the real service: at
    80x24 a notice gives the line-numbered error and the status line names file and line."""
    import numpy as np

    from floweq_tui.controls import CONTROL_DEFAULTS
    from floweq_tui.midi.service import MidiService

    path = tmp_path / "midi.toml"
    path.write_text(
        'version = 1\n[[controllers."nanoKONTROL2".bindings]]\ncontrol = "x"\ntype = "cc"\n'
        'number = 16\nchannel = 1\n[[controllers."nanoKONTROL2".bindings]]\ncontrol = "y"\n'
        'type = "cc"\nnumber = 17\nchannel = 17\n'
    )
    service = MidiService(np.array(CONTROL_DEFAULTS), {"midi_config": str(path)})
    midi = FakeMidi()
    fake_status = midi.status
    midi.status = lambda: replace(  # type: ignore[method-assign]
        fake_status(),
        mapping_file=str(path),
        mapping_error=service.map_error,
        mapping_errors=service.map_errors,
        mapping_line=service.map_line,
    )
    app, eng, notes = make(midi)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        said = [t for t, sev in notes if "midi.toml:7:" in t and sev == "warning"]
        assert said and "channel" in said[0] and "17" in said[0], notes
        status = app.screen.query_one("#status").plain
        assert len(status) <= 80 and status.endswith("│ MIDI ok midi.toml:7"), status
        await app.poll_midi()
        assert len([t for t, _ in notes if "midi.toml:7:" in t]) == 1  # said once
        # the JACK server goes away, and comes back: said both times
        plain = midi.status
        midi.status = lambda: replace(plain(), server_gone=True)  # type: ignore[method-assign]
        await app.poll_midi()
        app.refresh_from_engine(force=True)
        assert app.screen.query_one("#status").plain.endswith("│ MIDI wait midi.toml:7")
        midi.status = plain  # type: ignore[method-assign]
        await app.poll_midi()
        assert [t for t, _ in notes if "JACK server" in t] == [
            "MIDI: JACK server gone; waiting for it",
            "MIDI: JACK server back, ports open again",
        ]


def test_jack_server_gone_in_status_texts() -> None:
    st = MidiStatus(
        api="jack", server_gone=True, hw=LinkInfo(state=LinkState.OFF),
        virtual=LinkInfo(port="floweq-tui:floweq-tui", state=LinkState.DISCONNECTED,
                         detail="JACK server gone"),
    )  # fmt: skip
    view = midi_state(st)
    assert (view.level, view.short, view.medium) == (
        "warn", "MIDI wait", "MIDI waiting: JACK server gone")  # fmt: skip
    assert st.summary() == "MIDI (jack): JACK server gone; waiting for it to come back"
