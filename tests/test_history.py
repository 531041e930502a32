"""The engine's input history: the last seconds of its input, written by the audio path (the
real Processor) into a shared ring and read without ever stopping it.

Known audio: a ramp of distinct values (k / 2**16, exact in float32 and in 24-bit WAV), so
a read is checked sample by sample to be one unbroken stretch of the source, in order,
ending where the writer's count says, across the ring's wrap-around and the source's loop.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np
import pytest
from harness import jack

from floweq_tui import _dsp, sources
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    CONTROL_INDEX,
    H_FRAMES,
    H_START,
    HISTORY_MARGIN,
    METERS_SIZE,
    History,
    history_frames,
    history_size,
)
from floweq_tui.engine import Engine, EngineConfig, EngineError
from floweq_tui.tui.capture import CaptureError, last_seconds

FS = 8000
STEP = 2.0**-16


def ramp(n: int) -> np.ndarray:
    """n distinct values, centred on 0 (|v| < 0.5), exact in float32."""
    return ((np.arange(n) - n // 2) * STEP).astype(np.float32)


def index_of(v: np.ndarray, n: int) -> np.ndarray:
    """The ramp index of each value of ``ramp(n)``."""
    return np.round(np.asarray(v, np.float64) / STEP).astype(np.int64) + n // 2


def processor(history: History, fs: float = FS, block: int = 128, source=None):
    proc = _dsp.Processor(
        2,
        float(fs),
        block,
        CONTROL_DEFAULTS.copy(),
        np.zeros(METERS_SIZE),
        wall_clock=False,
        history=history.array,
    )
    if source is not None:
        proc.set_source(np.repeat(source[:, None], 2, axis=1))
        proc.process(None, np.zeros((1, 2), np.float32))  # takes the source (1 frame)
    return proc


def feed(proc, x: np.ndarray, block: int = 100) -> None:
    """Play x (mono) as the input, both channels, block by block."""
    for i in range(0, len(x), block):
        b = np.repeat(x[i : i + block, None], 2, axis=1)
        proc.process(b, np.zeros_like(b))


def assert_unbroken(got: np.ndarray, n: int, end: int | None = None) -> int:
    """``got`` is consecutive values of the looped ramp(n) (ending at index ``end`` - 1);
    returns the index of its first value."""
    idx = index_of(got, n)
    assert np.array_equal(got, ramp(n)[idx]), "values not from the source"
    steps = np.diff(idx) % n
    assert np.all(steps == 1), f"broken at {np.flatnonzero(steps != 1)[:5]}"
    if end is not None:
        assert (idx[-1] + 1) % n == end % n
    return int(idx[0])


# ------------------------------------------------------------------- the audio path (C)


def test_history_holds_the_last_seconds_exactly_across_the_wrap():
    h = History.empty(0.5, FS)  # 4000 frames + the margin
    ring = int(h.header[H_FRAMES])
    assert ring == 4000 + 2 * HISTORY_MARGIN and h.capacity == 4000
    proc = processor(h)
    x = ramp(60000)
    feed(proc, x[:2500])
    assert h.written == 2500 and h.available() == 2500
    np.testing.assert_array_equal(h.last(4000), x[:2500])  # less heard than asked: all of it
    np.testing.assert_array_equal(h.last(1000), x[1500:2500])
    feed(proc, x[2500:51337])  # the ring wrapped more than twice
    assert h.written == 51337 > 2 * ring and h.available() == 4000
    np.testing.assert_array_equal(h.last(4000), x[51337 - 4000 : 51337])
    np.testing.assert_array_equal(h.last(10**6), x[51337 - 4000 : 51337])  # at most capacity
    np.testing.assert_array_equal(h.last(1), x[51336:51337])
    assert h.last(0).size == 0


def test_history_is_the_mono_mix_after_the_input_gain():
    h = History.empty(0.25, FS)
    ctl = CONTROL_DEFAULTS.copy()
    ctl[CONTROL_INDEX["in_gain"]] = 20 * np.log10(0.5)  # -6.02 dB: half
    proc = _dsp.Processor(
        2, float(FS), 128, ctl, np.zeros(METERS_SIZE), wall_clock=False, history=h.array
    )
    left, right = ramp(1000), np.full(1000, 0.25, np.float32)
    stereo = np.stack([left, right], axis=1)
    proc.process(stereo[:100], np.zeros((100, 2), np.float32))
    np.testing.assert_allclose(h.last(100), 0.5 * (left[:100] + 0.25) / 2, rtol=0, atol=1e-7)


def test_a_new_processor_continues_the_count_and_a_new_rate_starts_afresh():
    h = History.empty(0.5, FS)
    x = ramp(20000)
    feed(processor(h), x[:3000])
    feed(processor(h), x[3000:5000])  # a restarted engine: one running count, same rate
    assert h.written == 5000
    np.testing.assert_array_equal(h.last(4000), x[1000:5000])
    feed(processor(h, fs=16000), x[5000:5600])  # reopened at another rate
    assert h.samplerate == 16000 and int(h.header[H_START]) == 5000
    np.testing.assert_array_equal(h.last(4000), x[5000:5600])  # nothing of the old rate
    assert h.available() == 600


class Racing(History):
    """A reader whose first look at the count is followed, before its copy, by ``frames``
    more frames from the real writer (the worst moment for a reader)."""

    def __init__(self, array, proc, src, frames: int) -> None:
        super().__init__(array)
        self.proc, self.src, self.frames, self.looks = proc, src, frames, 0

    @property
    def written(self) -> int:
        pos = int(self.header[0])
        self.looks += 1
        if self.looks == 1:
            feed(self.proc, self.src[pos : pos + self.frames])
        return pos


def test_a_read_keeps_its_span_when_blocks_land_while_it_copies():
    n = 80000
    h = History.empty(0.5, FS)  # capacity 4000
    src = ramp(n)
    proc = processor(h)
    feed(proc, src[:30000])
    r = Racing(h.array, proc, src, HISTORY_MARGIN)  # a whole margin lands meanwhile
    np.testing.assert_array_equal(r.last(4000), src[26000:30000])  # as of its first look
    assert r.looks == 2  # one copy, one re-check: nothing was dropped


def test_a_torn_read_is_dropped_and_read_again():
    """The writer laps the span while the reader copies it: the copy holds newer samples
    in part of the span; the re-check finds it unsafe and the read is made again."""
    n = 80000
    h = History.empty(0.5, FS)
    ring = int(h.header[H_FRAMES])
    src = ramp(n)
    proc = processor(h)
    feed(proc, src[:30000])
    lap = ring  # every slot rewritten, the span's included
    r = Racing(h.array, proc, src, lap)
    got = r.last(4000)
    assert h.samples[26000 % ring] == src[26000 + lap]  # the first copy's span was rewritten
    np.testing.assert_array_equal(got, src[30000 + lap - 4000 : 30000 + lap])
    assert r.looks == 4  # two copies, each re-checked


def test_reads_while_the_audio_path_runs_are_always_unbroken():
    """A real writer thread (the Processor releases the GIL) laps a small ring while the
    reader copies: every read is one unbroken stretch ending at the count it read."""
    n = 1 << 15
    src = ramp(n)
    h = History.empty(0.05, FS)  # 400 frames + the margin: a lap every ~67 blocks
    proc = processor(h, source=src)
    out = np.zeros((128, 2), np.float32)
    stop = threading.Event()

    def audio() -> None:
        while not stop.is_set():
            proc.process(None, out)

    t = threading.Thread(target=audio)
    t.start()
    reads = 0
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline or reads < 200:
            got = h.last(400)
            if len(got):
                assert_unbroken(got, n)
                reads += 1
    finally:
        stop.set()
        t.join()
    assert reads >= 200 and h.written > 100 * int(h.header[H_FRAMES])


def test_the_processor_refuses_a_history_it_could_tear():
    h = History.empty(0.1, FS)
    with pytest.raises(ValueError, match="margin"):
        _dsp.Processor(
            2, float(FS), 16384, CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE), history=h.array
        )
    with pytest.raises(ValueError, match="history"):
        _dsp.Processor(
            2, float(FS), 128, CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE), history=np.zeros(3)
        )


def test_history_size_and_settings():
    frames = history_frames(30.0, 48000)
    assert frames == 30 * 48000 + 2 * HISTORY_MARGIN
    assert history_size(frames) * 8 == 5_825_600  # the 5.8 MB docs/match.md states
    with pytest.raises(EngineError, match="input history"):
        EngineConfig(history_seconds=-1).validate()
    with pytest.raises(EngineError, match="input history"):
        EngineConfig(history_seconds=601).validate()


# ------------------------------------------------------------------- what the match takes


def test_last_seconds_takes_what_was_heard_and_refuses_too_little_or_silence():
    h = History.empty(10.0, FS)
    proc = processor(h)
    with pytest.raises(CaptureError, match="too little"):
        last_seconds(h, 5.0)  # nothing heard yet
    feed(proc, np.zeros(3 * FS, np.float32))
    with pytest.raises(CaptureError, match="silent"):
        last_seconds(h, 2.0)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * FS) / FS)).astype(np.float32)
    feed(proc, tone)
    heard = last_seconds(h, 1.5)
    np.testing.assert_array_equal(heard.audio, tone[-int(1.5 * FS) :])
    assert heard.samplerate == FS and not heard.short and heard.note() == ""
    heard = last_seconds(h, 8.0)  # 5 s heard: all of it, and it says so
    assert heard.seconds == 5.0 and heard.short
    assert heard.note() == "only 5.0 of the 8 s asked had been heard: matched those"
    with pytest.raises(CaptureError, match="no input history"):
        last_seconds(None, 1.0)


# ------------------------------------------------------------------- the engine process


def _ramp_file(tmp_path, n: int, fs: int) -> str:
    path = tmp_path / "ramp.wav"
    sources.write_file(path, np.repeat(ramp(n)[:, None], 2, axis=1), fs)
    return str(path)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _check_engine_history(eng: Engine, n: int, seconds: float) -> None:
    h = eng.history
    assert h is not None and h.samplerate == 48000
    ring = int(h.header[H_FRAMES])
    assert h.capacity == int(seconds * 48000)
    # wrapped twice: every slot rewritten since start
    _wait_for(lambda: h.written > 2 * ring, 30, "the history to wrap twice")
    for _ in range(5):
        before = h.written
        got = h.last(int(seconds * 48000))
        after = h.written
        assert len(got) == h.capacity
        first = assert_unbroken(got, n)
        # the source played from the first block on: history frame k is source frame k % n,
        # so the newest sample is the one just before the count the read saw
        end = (first + len(got) - before) % n
        assert end % 128 == 0 and before + end <= after, (before, end, after)
        time.sleep(0.05)
    assert int(h.header[H_START]) == 0


def test_engine_on_the_silent_clock_keeps_the_last_seconds(tmp_path):
    n = 48000 + 12345  # not a multiple of the block or the ring: the loop and the ring wrap apart
    eng = Engine(
        EngineConfig(silent=True, source=_ramp_file(tmp_path, n, 48000), history_seconds=1.0)
    )
    eng.start()
    try:
        _check_engine_history(eng, n, 1.0)
    finally:
        eng.stop()
    assert eng.history is None


@pytest.fixture
def private_jack(tmp_path):
    """A JACK dummy server of this test's own (48 kHz, 128 frames), the default server of
    every client started meanwhile."""
    with contextlib.ExitStack() as stack:
        try:
            name = f"fq_test_history_{os.getpid()}"
            yield stack.enter_context(jack.private_server(48000, 128, tmp_path / "jackd.log", name))
        except jack.ServerError as exc:
            pytest.skip(str(exc))


@pytest.mark.jack
def test_engine_on_jack_keeps_the_last_seconds(private_jack, tmp_path):
    n = 48000 + 12345
    eng = Engine(
        EngineConfig(
            samplerate=48000,
            blocksize=128,
            source=_ramp_file(tmp_path, n, 48000),
            history_seconds=1.0,
        )
    )
    eng.start()
    try:
        assert eng.state == "running", eng.status.message
        _check_engine_history(eng, n, 1.0)
        # a restarted engine process continues the same block and count
        before = eng.history.written
        eng.restart()
        _wait_for(lambda: eng.history.written > before + 2 * 48000, 30, "the new process")
        got = eng.history.last(48000)
        assert_unbroken(got[-40000:], n)  # the newest stretch: the new process's alone
    finally:
        eng.stop()
