"""Snapshots of the main screen at 80x24 and 160x48 in each mode, and of the MIDI learn
modals at 80x24 (FakeEngine: fixed meters, a seeded stand-in model family; FakeMidi).
Regenerate with ``--snapshot-update`` after a deliberate layout change and review the SVGs
under tests/__snapshots__/."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("textual")
pytest.importorskip("pytest_textual_snapshot")

from harness.demo import make_app  # noqa: E402
from harness.fakes import FakeMidi  # noqa: E402
from pilot_helpers import until  # noqa: E402

SIZES = [(80, 24), (160, 48)]
MODES = [(0, "traverse"), (1, "semantic"), (2, "manual")]
SCENES = {
    0: dict(x=0.6, y=-0.4),
    1: dict(anchor_a=0, anchor_b=4, interpolate=0.35),
    2: dict(p0=4.0, p2=-6.0, p3=250.0, p5=3.0, p8=-2.5, p11=5.0, p12=6000.0),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode,name", MODES, ids=[n for _, n in MODES])
def test_main_screen(snap_compare, mode: int, name: str, size: tuple[int, int]) -> None:
    app = make_app(mode=mode, **SCENES[mode])
    assert snap_compare(app, terminal_size=size)


def test_small_terminal_60x20(snap_compare) -> None:
    assert snap_compare(make_app(mode=0, x=-1.0, y=1.0), terminal_size=(60, 20))


def test_spectrum_and_3d_160x48(snap_compare) -> None:
    assert snap_compare(
        make_app(mode=0, x=0.3, y=0.3, z=-1.0), terminal_size=(160, 48), press=["3", "f"]
    )


def test_learn_modal_with_encoder_hint_80x24(snap_compare) -> None:
    """The learn box over the main screen, asking an ambiguous encoder to turn back."""
    midi = FakeMidi()
    hint = "relative encoder: turn it the other way to tell its encoding"

    async def before(pilot) -> None:
        await pilot.press("l")
        await until(pilot, lambda: bool(pilot.app.screen.query("#learn-wait")), what="learn")
        midi.learn_state = replace(midi.learn_state, hint=hint)
        wait = pilot.app.screen.query_one("#learn-wait")
        await until(pilot, lambda: hint in str(wait.render()), what="the hint")

    app = make_app(mode=0, midi=midi, x=0.6, y=-0.4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_learn_conflict_question_80x24(snap_compare) -> None:
    midi = FakeMidi()

    async def before(pilot) -> None:
        await pilot.press("tab", "tab", "l")  # LEVEL: strength
        await until(pilot, lambda: bool(pilot.app.screen.query("#learn-wait")), what="learn")
        midi.move("cc 16 ch1")  # x's default knob
        await until(pilot, lambda: bool(pilot.app.screen.query("#confirm-text")), what="question")
        await pilot.pause()

    app = make_app(mode=0, midi=midi, x=0.6, y=-0.4)
    assert snap_compare(app, terminal_size=(80, 24), run_before=before)
