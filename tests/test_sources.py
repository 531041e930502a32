"""Audio sources: the generated demo loop, reading/writing files, resampling, channel mapping."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from floweq_tui.sources import SourceError, demo_source, info, load_file, write_file

PIANO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio"
PIANO = PIANO / "piano_flowEQ_demo.flac"
RATE = 48000


@pytest.fixture(scope="module")
def demo() -> np.ndarray:
    return demo_source(RATE, 2)


def _sine(freq: float, rate: int, seconds: float, channels: int = 1, amp: float = 0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def _peak_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / rate)[np.argmax(spec)])


def _one_line_error(func, *args, match: str, **kwargs) -> str:
    with pytest.raises(SourceError, match=match) as info_:
        func(*args, **kwargs)
    text = str(info_.value)
    assert "\n" not in text and text.strip() == text
    return text


# ---------------------------------------------------------------------------------- demo


def test_demo_shape_dtype_layout(demo):
    assert demo.shape == (8 * RATE, 2)
    assert demo.dtype == np.float32 and demo.flags.c_contiguous
    assert np.isfinite(demo).all()
    mono = demo_source(44100, 1, seconds=3.0)
    assert mono.shape == (3 * 44100, 1) and mono.dtype == np.float32 and mono.flags.c_contiguous
    quad = demo_source(RATE, 4, seconds=2.0)
    assert quad.shape == (2 * RATE, 4)
    np.testing.assert_array_equal(quad[:, 2], quad[:, 0])
    np.testing.assert_array_equal(quad[:, 3], quad[:, 1])


def test_demo_is_deterministic_per_seed(demo):
    np.testing.assert_array_equal(demo, demo_source(RATE, 2))
    other = demo_source(RATE, 2, seed=1)
    assert other.shape == demo.shape and not np.array_equal(other, demo)


def test_demo_peaks_near_minus_6_dbfs(demo):
    peak_db = 20 * np.log10(np.abs(demo).max())
    assert -9.0 < peak_db <= -6.0 + 1e-4


@pytest.mark.parametrize("seed", [0, 3])
def test_demo_loudness_is_sane(seed):
    import pyloudnorm as pyln

    x = demo_source(RATE, 2, seed=seed)
    meter = pyln.Meter(RATE)
    assert -20.0 < meter.integrated_loudness(x) < -16.0
    # Short-term loudness (3 s windows) stays close to it: the loop has no quiet gaps.
    for start in range(0, len(x) - 3 * RATE + 1, RATE):
        assert -22.0 < meter.integrated_loudness(x[start : start + 3 * RATE]) < -14.0


@pytest.mark.parametrize(
    ("rate", "seconds", "seed"), [(RATE, 8.0, 0), (44100, 3.0, 2), (RATE, 5.3, 5)]
)
def test_demo_loops_seamlessly(rate, seconds, seed):
    """The join is one more step of the continuing waveform, not a click.

    Every note tail and noise track wraps around the loop point, so the step from the last
    sample to the first is an ordinary sample-to-sample change of the signal playing there.
    A click is a step the signal itself does not make: one larger than the RMS of the
    signal's own steps within 5 ms either side (about the ear's time resolution for clicks)
    stands out, one below it is masked by the signal. The real joins are 0.05-0.2 of that RMS
    in these cases (at most 0.8 over 72 rate/length/seed combinations); a loop whose wrapped
    tails are dropped, or cut off its bar grid, gives 1.6-3.4 in the first two cases.
    """
    x = demo_source(rate, 2, seconds=seconds, seed=seed).astype(np.float64)
    assert x.shape[0] == round(seconds * rate)
    inside = np.abs(np.diff(x, axis=0)).max()
    across = np.abs(x[0] - x[-1]).max()
    assert across <= inside
    # The join is not even a large step: well under half the largest one inside.
    assert across < 0.5 * inside
    steps = np.abs(np.diff(x, axis=0)).max(axis=1)
    near = int(0.005 * rate)
    local = np.sqrt(np.mean(np.concatenate([steps[:near], steps[-near:]]) ** 2))
    assert across < local, f"join step {across:.4f} vs the signal's own {local:.4f} around it"


def test_demo_has_energy_in_every_eq_region(demo):
    mono = demo.mean(axis=1).astype(np.float64)
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / RATE)
    edges = [20, 150, 600, 2500, 8000, RATE / 2]
    bands = np.array(
        [
            power[(freqs >= lo) & (freqs < hi)].sum()
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
    )
    rel_db = 10 * np.log10(bands / bands.max())
    assert (rel_db > -30.0).all(), rel_db
    # Below 50 Hz there is little (no DC, no rumble), and there is sound up to ~12 kHz.
    assert power[freqs < 30].sum() < 0.01 * bands.max()
    assert power[(freqs > 10000) & (freqs < 14000)].sum() > 1e-4 * bands.max()


def test_demo_is_stereo_with_some_width(demo):
    left, right = demo[:, 0], demo[:, 1]
    assert not np.array_equal(left, right)
    assert 0.3 < np.corrcoef(left, right)[0, 1] < 0.99


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"samplerate": 0, "channels": 2}, "sample rate"),
        ({"samplerate": 48000, "channels": 0}, "channel count"),
        ({"samplerate": 48000, "channels": 2, "seconds": -1.0}, "demo length"),
        ({"samplerate": 48000, "channels": 2, "seconds": float("nan")}, "demo length"),
    ],
)
def test_demo_errors(kwargs, match):
    _one_line_error(demo_source, match=match, **kwargs)


# ---------------------------------------------------------------------------------- files


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_round_trip(tmp_path, ext):
    x = _sine(440.0, RATE, 1.0, channels=2)
    x[:, 1] *= 0.5
    path = tmp_path / f"tone.{ext}"
    write_file(path, x, RATE)
    assert info(path) == (len(x), RATE, 2)
    y = load_file(path, RATE, 2)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == x.shape
    if ext == "ogg":  # lossy: same tone, same levels
        assert _peak_freq(y[:, 0], RATE) == pytest.approx(440.0, abs=2.0)
        rms = np.sqrt(np.mean(y[RATE // 10 :] ** 2, axis=0))
        np.testing.assert_allclose(rms, [0.5 / np.sqrt(2), 0.25 / np.sqrt(2)], rtol=0.05)
    else:  # 24-bit PCM
        np.testing.assert_allclose(y, x, atol=2e-7)
    assert sorted(os.listdir(tmp_path)) == [f"tone.{ext}"]  # no temporary file left


def test_write_is_atomic_overwrite_and_mono(tmp_path):
    path = tmp_path / "out.WAV"
    write_file(path, np.zeros((100, 2), np.float32), RATE)
    write_file(path, np.full(50, 2.0), 44100)  # 1-D is mono; out-of-range samples are clipped
    assert info(path) == (50, 44100, 1)
    data, _ = sf.read(path)
    assert np.abs(data).max() <= 1.0
    assert sorted(os.listdir(tmp_path)) == ["out.WAV"]


def test_write_errors(tmp_path):
    x = np.zeros((10, 2), np.float32)
    text = _one_line_error(
        write_file, tmp_path / "a.mp3", x, RATE, match="unknown extension '.mp3'"
    )
    assert "a.mp3" in text
    _one_line_error(write_file, tmp_path / "noext", x, RATE, match="unknown extension")
    _one_line_error(write_file, tmp_path / "missing" / "a.wav", x, RATE, match="does not exist")
    _one_line_error(write_file, tmp_path / "a.wav", x, 0, match="sample rate")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("src", "dst"), [(44100, 48000), (48000, 44100), (22050, 48000)])
def test_resampling_keeps_duration_and_pitch(tmp_path, src, dst):
    path = tmp_path / "tone.wav"
    write_file(path, _sine(1000.0, src, 1.0), src)
    y = load_file(path, dst, 1)
    assert abs(len(y) - dst) <= 1
    assert _peak_freq(y[:, 0], dst) == pytest.approx(1000.0, abs=1.5)
    # The level survives resampling (away from the edges).
    assert np.sqrt(np.mean(y[dst // 10 : -dst // 10] ** 2)) == pytest.approx(
        0.5 / np.sqrt(2), rel=0.01
    )


def test_resampling_odd_ratio_uses_a_close_fraction(tmp_path):
    path = tmp_path / "tone.wav"
    write_file(path, _sine(1000.0, 44100, 1.0), 44100)
    y = load_file(path, 47999, 1)  # 47999/44100 is approximated with denominator <= 1000
    assert len(y) == pytest.approx(47999, rel=1e-3)
    assert _peak_freq(y[:, 0], 47999) == pytest.approx(1000.0, rel=2e-3)


def test_channel_mapping(tmp_path):
    n = 1000
    cols = [np.full(n, v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)]

    def saved(*columns) -> Path:
        path = tmp_path / f"ch{len(columns)}.wav"
        write_file(path, np.stack(columns, axis=1), RATE)
        return path

    mono, stereo, quad = saved(cols[0]), saved(cols[0], cols[1]), saved(*cols)
    tri = saved(*cols[:3])

    def means(path, channels):
        return load_file(path, RATE, channels).mean(axis=0)

    np.testing.assert_allclose(means(mono, 3), [0.1, 0.1, 0.1], atol=1e-5)  # mono -> all
    np.testing.assert_allclose(means(stereo, 1), [0.15], atol=1e-5)  # stereo -> mono: mean
    np.testing.assert_allclose(means(tri, 1), [0.15], atol=1e-5)  # mean of the first two
    np.testing.assert_allclose(means(quad, 2), [0.1, 0.2], atol=1e-5)  # first N
    np.testing.assert_allclose(means(quad, 3), [0.1, 0.2, 0.3], atol=1e-5)
    np.testing.assert_allclose(means(stereo, 4), [0.1, 0.2, 0.1, 0.2], atol=1e-5)  # cyclic
    np.testing.assert_allclose(means(tri, 5), [0.1, 0.2, 0.3, 0.1, 0.2], atol=1e-5)
    assert load_file(stereo, RATE, 4).flags.c_contiguous


def test_nan_and_inf_become_zero(tmp_path):
    x = np.full((100, 2), 0.25, np.float32)
    x[10, 0], x[20, 1], x[30, 0] = np.nan, np.inf, -np.inf
    path = tmp_path / "bad.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    y = load_file(path, RATE, 2)
    assert np.isfinite(y).all()
    assert y[10, 0] == 0 and y[20, 1] == 0 and y[30, 0] == 0 and y[11, 0] == 0.25


def test_load_errors(tmp_path):
    missing = tmp_path / "nope.wav"
    text = _one_line_error(load_file, missing, RATE, 2, match="audio file not found")
    assert str(missing) in text
    _one_line_error(info, missing, match="audio file not found")

    notes = tmp_path / "notes.wav"
    notes.write_text("this is not audio\n" * 20)
    text = _one_line_error(load_file, notes, RATE, 2, match="cannot read .* as audio")
    assert "notes.wav" in text
    _one_line_error(info, notes, match="cannot read .* as audio")

    _one_line_error(load_file, tmp_path, RATE, 2, match="is a directory")

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), RATE)
    _one_line_error(load_file, empty, RATE, 2, match=r"empty \(no audio frames\).*empty\.wav")
    _one_line_error(info, empty, match="empty")

    long = tmp_path / "long.flac"
    write_file(long, np.zeros((3 * 8000, 1), np.float32), 8000)
    _one_line_error(
        load_file, long, RATE, 2, max_seconds=2.5, match=r"too long: .*long\.flac lasts 3\.0 s"
    )
    assert load_file(long, 8000, 1, max_seconds=3.0).shape == (3 * 8000, 1)

    _one_line_error(load_file, long, RATE, 0, match="channel count must be a whole number >= 1")
    _one_line_error(load_file, long, 0, 2, match="sample rate")


def test_real_piano_excerpt_at_48k():
    if not PIANO.is_file():
        pytest.skip(f"demo audio not found at {PIANO} (../shared is absent)")
    frames, rate, channels = info(PIANO)
    assert (rate, channels) == (44100, 2)
    y = load_file(PIANO, RATE, 2)
    assert y.shape[1] == 2 and abs(len(y) - frames * RATE / rate) <= 1
    assert y.dtype == np.float32 and y.flags.c_contiguous and np.isfinite(y).all()
    assert 4.5 < len(y) / RATE < 5.5
    src, _ = sf.read(PIANO, dtype="float32")
    rms_in, rms_out = np.sqrt(np.mean(src**2)), np.sqrt(np.mean(y**2))
    assert rms_out == pytest.approx(rms_in, rel=0.02)
