"""The UI on the real Engine with its MIDI process, over JACK MIDI on the dummy server: the
port state in the status line, learn (done, and a conflict replaced) from a fake controller
process, a knob drawn at once while dozing (the MIDI process's news), and recovery after
the engine process is killed (controls kept)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

pytest.importorskip("textual")

from pilot_helpers import record_notices, screen_name, until  # noqa: E402

from floweq_tui.engine import Engine, EngineConfig  # noqa: E402
from floweq_tui.midi.state import Conflict, LearnPhase  # noqa: E402
from floweq_tui.tui.app import FloweqApp  # noqa: E402

pytestmark = [pytest.mark.jack, pytest.mark.slow]

CTL, FB = f"tui-ctl-{os.getpid()}", f"tui-fb-{os.getpid()}"


def test_real_engine_midi_learn_and_recovery(jack_server, tmp_path) -> None:  # noqa: ARG001
    from test_midi_jack import WATCHED, Controller  # the fake JACK MIDI controller

    cfg = EngineConfig(
        samplerate=48000, blocksize=128, midi=True, midi_in=CTL, midi_out="none",
        midi_config=str(tmp_path / "midi.toml"),
    )  # fmt: skip
    eng = Engine(cfg, x=0.4)
    eng.start()
    WATCHED.append(eng)  # (a timeout reports its MIDI state)
    ctl = Controller(names=(CTL, FB), received=lambda: eng.midi.status().hw.messages)
    notes: list[str] = []
    try:
        app = FloweqApp(eng)
        notes = record_notices(app)

        async def run() -> None:
            async with app.run_test(size=(200, 50)) as pilot:
                status = lambda: app.screen.query_one("#status").plain  # noqa: E731
                await until(pilot, lambda: "connected" in status(), 15, "MIDI connected")
                assert f"MIDI {CTL}:out connected" in status() and "(jack)" in status()
                # learn x from CC 30
                await pilot.press("l")
                await until(pilot, lambda: screen_name(app) == "LearnScreen")
                # the service must be listening before the knob moves (the request is async)
                await until(
                    pilot, lambda: eng.midi.learn_status().phase is LearnPhase.WAITING, 10, "armed"
                )
                await asyncio.to_thread(ctl.sweep, 30, [10, 20, 30])
                await until(pilot, lambda: app.last_learn is not None, 10, "learn done")
                assert app.last_learn.phase is LearnPhase.DONE, app.last_learn
                assert app.last_learn.source == "cc 30 ch1"
                # y from CC 16 (x's default knob): asks, then replaces
                await pilot.press("n", "l")
                await until(pilot, lambda: screen_name(app) == "LearnScreen")
                await asyncio.to_thread(ctl.sweep, 16, [100, 101])
                await until(
                    pilot,
                    lambda: screen_name(app) == "ConfirmScreen" and bool(app.screen.query("#yes")),
                )
                await pilot.press("y")
                await until(
                    pilot,
                    lambda: screen_name(app) == "MainScreen" and app.last_learn is not None,
                )
                assert app.last_learn.phase is LearnPhase.DONE and app.last_learn.control == "y"
                assert app.last_learn.replaced == (Conflict("x", "cc 16 ch1"),)
                # dozing with looks 10 s apart, a knob (CC 30, x) is drawn at once: the MIDI
                # process's news wakes the loop, and the knob's status is asked for
                app.doze_fps = 0.1
                app._changed_at = -1e9
                await until(pilot, lambda: app.look_period == 10.0, 10, "dozing")
                drawn, x = app.frames_drawn, eng.controls["x"]
                knob = lambda: app.ctrl.knobs.get("x")  # noqa: E731
                seen = knob().knob if knob() is not None else None
                await asyncio.to_thread(ctl.sweep, 30, list(range(40, 128, 8)))  # (picks x up)
                await until(pilot, lambda: app.frames_drawn > drawn, 5, "the knob drawn")
                assert eng.controls["x"] != x and app.look_period < 1.0
                await until(
                    pilot,
                    lambda: knob() is not None and knob().knob not in (None, seen),
                    5,
                    "the knob's position asked for",
                )
                app.doze_fps, eng.controls["x"] = 1.0, x
                # kill the engine: its supervisor restarts it, the UI says so, the controls are kept
                pid = eng.pid
                os.kill(pid, signal.SIGKILL)
                await until(pilot, lambda: eng.alive and eng.pid != pid, 40, "a new engine")
                await until(pilot, lambda: "engine restarted (controls kept)" in notes, 10)
                assert any("exited (code -9): restarting it" in n for n in notes), notes
                assert eng.controls["x"] == pytest.approx(0.4)

        asyncio.run(run())
    finally:
        WATCHED.remove(eng)
        ctl.close()
        eng.stop()
