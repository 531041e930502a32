"""Pilot tests of "match to a reference": from a file and from the engine's input ring, the
result applied with a glide, the target drawn behind the curve, bad input said in one line.

The app runs over a FakeEngine with the real shipped models; the audio is the real piano.
"""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest

pytest.importorskip("textual")

from harness.fakes import FakeEngine  # noqa: E402
from pilot_helpers import screen_name, until  # noqa: E402
from scipy.signal import sosfilt  # noqa: E402

from floweq_tui import eqmath, sources, vae  # noqa: E402
from floweq_tui.controls import METER_INDEX, N_METERS, RING_FRAMES  # noqa: E402
from floweq_tui.tui.app import MATCH_GLIDE_MS, FloweqApp  # noqa: E402
from floweq_tui.tui.capture import RingRecorder  # noqa: E402

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


def fill_form(app, ref: str, src: str = "", secs: str = "5") -> None:
    app.screen.query_one("#match-ref").value = ref
    app.screen.query_one("#match-in").value = src
    app.screen.query_one("#match-secs").value = secs


@aio
async def test_match_from_a_file_is_applied_with_a_glide_and_drawn(files) -> None:
    src, ref = files
    eng = FakeEngine(FAMILY, glide_ms=20.0)
    app = FloweqApp(eng, FAMILY)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the match form")
        fill_form(app, ref, src)
        await pilot.press("enter")
        await until(pilot, lambda: app.last_match is not None, timeout=60, what="the match")
        res = app.last_match
        c = eng.controls
        assert c["glide_ms"] == MATCH_GLIDE_MS  # applied with a long glide ...
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


class RingFeeder:
    """Plays audio into the fake engine's input ring as the audio thread would."""

    def __init__(self, eng: FakeEngine, audio: np.ndarray, block: int = 1024) -> None:
        self.a = eng.meters.array
        self.audio, self.block, self.pos = audio, block, 0

    def step(self) -> None:
        ring = self.a[N_METERS : N_METERS + RING_FRAMES]
        rp = int(self.a[METER_INDEX["ring_pos"]])
        for k in range(self.block):
            ring[(rp + k) % RING_FRAMES] = self.audio[(self.pos + k) % len(self.audio)]
        self.pos += self.block
        self.a[METER_INDEX["ring_pos"]] = rp + self.block


@aio
async def test_match_from_the_live_input_ring(files, piano) -> None:
    _, ref = files
    x, fs = piano
    eng = FakeEngine(FAMILY, samplerate=fs)
    feeder = RingFeeder(eng, x.mean(axis=1))
    app = FloweqApp(eng, FAMILY)
    stop = asyncio.Event()

    async def audio_thread() -> None:
        while not stop.is_set():
            feeder.step()
            await asyncio.sleep(1024 / fs)

    async with app.run_test(size=(100, 30)) as pilot:
        task = asyncio.create_task(audio_thread())
        try:
            await pilot.press("c")
            await until(pilot, lambda: screen_name(app) == "MatchScreen", what="the form")
            fill_form(app, ref, "", "2")
            await pilot.press("enter")
            await until(pilot, lambda: app.last_match is not None, timeout=60, what="the match")
            assert screen_name(app) == "MainScreen"
        finally:
            stop.set()
            await task
    res = app.last_match
    assert res.params.error_db < res.flat_error_db


@aio
async def test_bad_reference_and_a_still_input_are_said_and_the_form_stays(tmp_path) -> None:
    eng = FakeEngine(FAMILY)  # its ring never moves
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
        fill_form(app, str(bad), "", "1")
        await pilot.press("enter")
        await until(pilot, lambda: "not running" in str(msg.render()), what="a still input")
        assert screen_name(app) == "MatchScreen" and app.last_match is None
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MainScreen", what="the form closed")


def test_ring_recorder_counts_what_it_missed() -> None:
    eng = FakeEngine(FAMILY)
    feeder = RingFeeder(eng, np.arange(100000, dtype=float), block=1000)
    rec = RingRecorder(eng.meters, 1000.0, 20.0)  # 20000 frames
    feeder.step()
    rec.poll()
    np.testing.assert_array_equal(rec.audio(), np.arange(1000))
    for _ in range(10):  # 10000 new frames: more than the ring holds
        feeder.step()
    rec.poll()
    assert rec.lost == 10000 - RING_FRAMES and rec.got == 1000 + RING_FRAMES
    while not rec.poll():
        feeder.step()
    assert rec.done and len(rec.audio()) == 20000


@pytest.mark.jack
@pytest.mark.slow
def test_live_input_match_on_the_real_engine_keeps_the_audio(private_jack, tmp_path) -> None:
    """The real engine plays the piano on a private JACK dummy server; the UI records 3 s of
    its input ring and matches it to the EQ'd piano. The audio keeps its xrun rule (as the
    soak: at most what the machine's own misses allow) while it runs."""
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
