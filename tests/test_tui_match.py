"""Pilot tests of "match to a reference": from a file and from the last seconds of the
engine's input history (taken at once), the result applied with a glide, the target drawn
behind the curve, bad input said in one line.

The app runs over a FakeEngine with the real shipped models; its input history is written
by the real audio path (a ``_dsp.Processor``); the audio is the real piano.
"""

from __future__ import annotations

import asyncio
import functools
import time

import numpy as np
import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine  # noqa: E402
from pilot_helpers import record_notices, screen_name, until  # noqa: E402
from scipy.signal import sosfilt  # noqa: E402

from floweq_tui import _dsp, eqmath, sources, vae  # noqa: E402
from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE  # noqa: E402
from floweq_tui.tui.app import MATCH_GLIDE_MS, FloweqApp  # noqa: E402

FAMILY = vae.load_family()
SETTING = np.array([-6.0, 200, 4, 800, 2, 0, 1000, 1, 3, 4000, 1, 5, 9000])


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@pytest.fixture
def files(tmp_path, piano):
    x, fs = piano
    src, ref = tmp_path / "in.wav", tmp_path / "ref.wav"
    sources.write_file(src, x, fs)
    sources.write_file(ref, sosfilt(eqmath.design(SETTING, fs), x, axis=0).astype(np.float32), fs)
    return str(src), str(ref)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def fill_form(app, ref: str, src: str = "", secs: str = "5") -> None:
    app.screen.query_one("#match-ref").value = ref
    app.screen.query_one("#match-in").value = src
    app.screen.query_one("#match-secs").value = secs


@aio
async def test_match_from_a_file_is_applied_with_a_glide_and_drawn(files) -> None:
    src, ref = files
    eng = FakeEngine(FAMILY, glide_ms=20.0)
    app = FloweqApp(eng, FAMILY)
    writes: list[tuple[str, float]] = []
    set_control = app.ctrl.set
    app.ctrl.set = lambda name, value: (writes.append((name, value)), set_control(name, value))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the match form")
        fill_form(app, ref, src)
        await pilot.press("enter")
        await until(pilot, lambda: app.last_match is not None, timeout=60, what="the match")
        res = app.last_match
        c = eng.controls
        # applied with a long glide first, then the point and the parameters
        first = writes.index(("glide_ms", MATCH_GLIDE_MS))
        assert {"x", "y", "mode", "p0", "strength"} <= {n for n, _ in writes[first + 1 :]}
        assert c["mode"] == 0 and c["strength"] == 1.0  # traverse, at the point
        z = res.latent.z
        scale = 0.5 if c["extend"] else 1.0
        assert (c["x"], c["y"]) == pytest.approx((z[0] * scale, z[1] * scale), abs=1e-6)
        np.testing.assert_allclose(eng.controls.params, res.params.params, atol=1e-6)
        assert res.params.error_db < res.flat_error_db
        curve = app.screen.query_one("#curve")
        await until(pilot, lambda: curve._inputs[-1] is not None, what="the target drawn")
        assert len(curve._inputs[-1][0]) > 50
        await until(pilot, lambda: c["glide_ms"] == 20.0, what="the glide restored")
        await pilot.press("C")
        await until(pilot, lambda: curve._inputs[-1] is None, what="the target hidden")
        # the point is on the map: the map is fed the controls' point
        assert app.ctrl.point()[0][:2] == pytest.approx((c["x"], c["y"]))


def hear(eng: FakeEngine, audio: np.ndarray, block: int = 1024) -> None:
    """Play ``audio`` (frames, channels) through the real audio path into the fake engine's
    input history, as its audio thread would have (before the match is asked for)."""
    fs = eng.history.samplerate
    ctl, met = CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE)
    proc = _dsp.Processor(
        audio.shape[1], fs, block, ctl, met, wall_clock=False, history=eng.history.array
    )
    out = np.zeros((block, audio.shape[1]), np.float32)
    for i in range(0, len(audio), block):
        b = np.ascontiguousarray(audio[i : i + block], np.float32)
        proc.process(b, out[: len(b)])


@pytest.fixture
def taken(monkeypatch):
    """The input audio each match was given (the real match still runs)."""
    from floweq_tui import match

    seen: list[np.ndarray] = []
    real = match.match

    def spy(audio, *args, **kwargs):
        seen.append(np.array(audio))
        return real(audio, *args, **kwargs)

    monkeypatch.setattr(match, "match", spy)
    return seen


@aio
async def test_match_takes_the_last_seconds_of_the_input_at_once(files, piano, taken) -> None:
    """The input was heard before the key: the match takes the last 2 s of it straight from
    the history (nothing is played afterwards, so nothing could be recorded)."""
    _, ref = files
    x, fs = piano
    eng = FakeEngine(FAMILY, samplerate=fs)
    hear(eng, x)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(100, 30)) as pilot:
        notes = record_notices(app)
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
        fill_form(app, ref, "", "2")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_match is not None, timeout=60, what="the match")
        assert screen_name(app) == "MainScreen"
    res = app.last_match
    assert res.params.error_db < res.flat_error_db
    expected = x[-2 * fs :].mean(axis=1)  # the mono mix of the last 2 s, oldest first
    assert len(taken) == 1
    np.testing.assert_allclose(taken[0], expected, rtol=0, atol=1e-7)
    assert not any("only" in n for n in notes)


@aio
async def test_less_heard_than_asked_is_matched_and_said(files, piano, taken) -> None:
    _, ref = files
    x, fs = piano
    eng = FakeEngine(FAMILY, samplerate=fs)
    hear(eng, x[: int(1.5 * fs)])
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(100, 30)) as pilot:
        notes = record_notices(app)
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
        fill_form(app, ref, "", "5")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_match is not None, timeout=60, what="the match")
    np.testing.assert_allclose(taken[0], x[: int(1.5 * fs)].mean(axis=1), rtol=0, atol=1e-7)
    said = [n for n in notes if n.startswith("matched")]
    assert said and said[-1].endswith("only 1.5 of the 5 s asked had been heard: matched those")


@aio
async def test_bad_reference_and_too_little_or_silent_input_are_said_and_the_form_stays(
    tmp_path, files
) -> None:
    _, ref = files
    eng = FakeEngine(FAMILY)  # nothing heard yet
    app = FloweqApp(eng, FAMILY)
    bad = tmp_path / "nope.flac"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
        fill_form(app, str(bad), str(bad))
        await pilot.press("enter")
        msg = app.screen.query_one("#match-msg")
        await until(pilot, lambda: "not found" in str(msg.render()), what="the error")
        assert "\n" not in str(msg.render()).strip()
        fill_form(app, ref, "", "1")
        await pilot.press("enter")
        await until(pilot, lambda: "too little" in str(msg.render()), what="too little input")
        assert str(msg.render()).strip() == (
            "only 0.00 s of input heard so far: too little to match (at least 0.5 s)"
        )
        hear(eng, np.zeros((2 * 48000, 2), np.float32))
        await pilot.press("enter")
        await until(pilot, lambda: "silent" in str(msg.render()), what="a silent input")
        fill_form(app, ref, "", "31")
        await pilot.press("enter")
        await until(pilot, lambda: "0.5-30" in str(msg.render()), what="the range")
        assert screen_name(app) == "MatchScreen" and app.last_match is None
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen", what="the form closed")


@aio
async def test_an_engine_without_history_says_so(files) -> None:
    _, ref = files
    app = FloweqApp(FakeEngine(FAMILY, history_seconds=0), FAMILY)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
        fill_form(app, ref, "", "5")
        await pilot.press("enter")
        msg = app.screen.query_one("#match-msg")
        await until(pilot, lambda: "no input history" in str(msg.render()), what="the notice")


@pytest.mark.jack
@pytest.mark.slow
def test_live_input_match_on_the_real_engine_keeps_the_audio(private_jack, tmp_path, taken) -> None:
    """The real engine plays the piano on a private JACK dummy server; the UI takes the last
    3 s of its input history at once and matches them to the EQ'd piano. The audio keeps
    its xrun rule (as the soak: at most what the machine's own misses allow) while the
    match runs."""
    from conftest import PIANO
    from harness import jack

    from floweq_tui.engine import Engine, EngineConfig

    if not PIANO.is_file():
        pytest.skip(f"demo audio not found at {PIANO} (../shared is absent)")
    x, fs = sources.load_file(PIANO, 48000, 2), 48000
    ref = tmp_path / "ref.wav"
    sources.write_file(ref, sosfilt(eqmath.design(SETTING, fs), x, axis=0).astype(np.float32), fs)
    eng = Engine(EngineConfig(samplerate=48000, blocksize=128, source=str(PIANO)))
    eng.start()
    reference = jack.ReferenceClient()
    have_reference = reference.start()
    offset = jack.log_size(private_jack.log)
    try:
        assert eng.state == "running", eng.state
        heard = eng.history
        _wait(lambda: heard.available() >= 3 * 48000, 30, "3 s of input heard")
        xruns = eng.meters["xruns"]
        app = FloweqApp(eng, FAMILY)

        async def run() -> None:
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("c")
                await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
                fill_form(app, str(ref), "", "3")
                await pilot.press("enter")
                await until(pilot, lambda: app.last_match is not None, 60, "the match")

        asyncio.run(run())
        engine_xruns = eng.meters["xruns"] - xruns
    finally:
        eng.stop()
        reference.stop()
    allowance = jack.soak_allowance(private_jack.log, offset, reference if have_reference else None)
    assert engine_xruns <= allowance.allowed, (engine_xruns, allowance)
    res = app.last_match
    assert res.params.error_db < res.flat_error_db
    assert len(taken) == 1 and len(taken[0]) == 3 * 48000  # the last 3 s, all there
