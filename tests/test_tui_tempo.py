"""The UI's tempo: the tap key and the meter line's tempo tag (fake engine, Textual pilot)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine, synthetic_family  # noqa: E402
from pilot_helpers import until  # noqa: E402

from floweq_tui.tui.app import FloweqApp  # noqa: E402

FAMILY = synthetic_family()


async def _taps() -> FakeEngine:
    eng = FakeEngine(FAMILY, tempo_source=1.0)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(4):
            await pilot.press("t")
            await asyncio.sleep(0.3)
        await pilot.pause()
    return eng


def test_tap_key_sets_the_internal_tempo_and_anchor() -> None:
    eng = asyncio.run(_taps())
    c = eng.controls
    assert c["tempo_source"] == 0.0 and c["transport"] == 1.0
    assert c["beat_origin"] == 3.0 and c["beat_time"] > 0
    # four taps about 0.3 s apart (plus the pilot's own time): a fast tempo, in range
    assert 60.0 <= c["bpm"] <= 300.0


async def _tag(**controls: float) -> str:
    eng = FakeEngine(FAMILY, **controls)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        line = app.screen.query_one("#meters")
        await until(pilot, lambda: "cpu" in line.plain, 5.0)
        return line.plain


def test_meter_line_shows_tempo_and_source_when_something_follows_it() -> None:
    assert "BPM" not in asyncio.run(_tag())
    assert "96.0 BPM midi" in asyncio.run(_tag(tempo_source=1.0, bpm=96.0))
    assert "BPM internal" in asyncio.run(_tag(lfo1_on=1.0))
