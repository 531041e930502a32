"""Audio sources for the engine: a generated demo loop and audio files read/written to disk.

Everything returned here is float32, shaped (frames, channels) and C-contiguous, so the engine
can hand blocks straight to the Cython core. Problems a user can cause (a missing file, a
text file, a bad extension) raise :class:`SourceError` with a one-line message naming the file,
which the CLI prints without a traceback.
"""

from __future__ import annotations

import math
import numbers
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .paths import atomic_path
from .runtime import one_line

__all__ = [
    "DEMO_PEAK_DBFS",
    "DEMO_LOUDNESS_LUFS",
    "WRITE_FORMATS",
    "SourceError",
    "demo_source",
    "info",
    "load_file",
    "write_file",
]

DEMO_PEAK_DBFS = -6.0
"""The demo loop's sample peak never exceeds this (headroom for EQ boosts)."""
DEMO_LOUDNESS_LUFS = -18.0
"""The demo loop is normalised to this K-weighted loudness (ungated, over the whole loop)."""
WRITE_FORMATS = {".wav": ("WAV", "PCM_24"), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS")}
"""File extension -> (libsndfile format, subtype) used by :func:`write_file`."""
RESAMPLE_MAX_DENOMINATOR = 1000
"""Resampling ratios are approximated by fractions with at most this denominator."""
_BAR_SECONDS = 2.0  # 4/4 at 120 BPM; the loop is a whole number of bars of about this length


class SourceError(ValueError):
    """An audio source cannot be made, read or written; the message is one line for the user."""


# --------------------------------------------------------------------------------------------
# checks shared by the public functions


def _line(text: object) -> str:
    return one_line(text).rstrip(".")


def _check_rate(samplerate: object) -> int:
    if isinstance(samplerate, bool) or not isinstance(samplerate, numbers.Real):
        raise SourceError(f"sample rate must be a number of Hz, not {samplerate!r}")
    if not math.isfinite(samplerate) or samplerate != int(samplerate) or samplerate < 1:
        raise SourceError(f"sample rate must be a positive whole number of Hz, not {samplerate}")
    return int(samplerate)


def _check_channels(channels: object) -> int:
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 1:
        raise SourceError(f"channel count must be a whole number >= 1, not {channels!r}")
    return int(channels)


def _open_info(path: str | os.PathLike[str]):
    """soundfile.info with every failure turned into a one-line SourceError naming the file."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise SourceError(f"audio file not found: {p}")
    if p.is_dir():
        raise SourceError(f"not an audio file: {p} is a directory")
    try:
        meta = sf.info(str(p))
    except sf.LibsndfileError as exc:
        raise SourceError(f"cannot read {p} as audio: {_line(exc.error_string)}") from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise SourceError(f"cannot read {p} as audio: {_line(exc)}") from None
    if meta.frames <= 0 or meta.channels < 1 or meta.samplerate < 1:
        raise SourceError(f"audio file is empty (no audio frames): {p}")
    return meta


# --------------------------------------------------------------------------------------------
# files


def info(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Return (frames, samplerate, channels) of an audio file, or raise :class:`SourceError`."""
    meta = _open_info(path)
    return int(meta.frames), int(meta.samplerate), int(meta.channels)


def load_file(
    path: str | os.PathLike[str], samplerate: int, channels: int, max_seconds: float = 1800
) -> NDArray[np.float32]:
    """Read a WAV/FLAC/OGG (anything libsndfile reads) as float32 (frames, channels).

    The file is resampled to ``samplerate`` (polyphase, ratio as a fraction with denominator
    <= 1000) and mapped to ``channels``: mono is copied to every channel; extra channels are
    dropped (keeping the first ones; a mono target gets the mean of the first two); missing
    ones repeat the file's channels cyclically. NaN/Inf samples become 0. Files longer than
    ``max_seconds`` are refused before they are read, so a stray multi-hour file cannot fill
    the memory.
    """
    import soundfile as sf

    rate = _check_rate(samplerate)
    nch = _check_channels(channels)
    p = Path(path)
    meta = _open_info(p)
    seconds = meta.frames / meta.samplerate
    if seconds > max_seconds:
        raise SourceError(
            f"audio file is too long: {p} lasts {seconds:.1f} s, the limit is {max_seconds:g} s"
        )
    try:
        data, file_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise SourceError(f"cannot read {p} as audio: {_line(exc.error_string)}") from None
    except (RuntimeError, OSError, ValueError, TypeError, MemoryError) as exc:
        raise SourceError(f"cannot read {p} as audio: {_line(exc)}") from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise SourceError(f"audio file is empty (no audio frames): {p}")
    np.nan_to_num(data, copy=False, nan=0.0, posinf=0.0, neginf=0.0)

    # Reduce first (fewer channels to resample), then resample, then expand.
    file_ch = data.shape[1]
    if nch == 1 and file_ch >= 2:
        data = data[:, :2].mean(axis=1, keepdims=True, dtype=np.float32)
    elif file_ch > nch:
        data = data[:, :nch]
    if int(file_rate) != rate:
        data = _resample(data, int(file_rate), rate)
    if data.shape[1] < nch:
        data = data[:, np.arange(nch) % data.shape[1]]
    return np.ascontiguousarray(data, dtype=np.float32)


def _resample(data: NDArray[np.float32], src: int, dst: int) -> NDArray[np.float32]:
    """Polyphase resampling, one channel at a time (keeps the float64 temporaries small)."""
    from scipy.signal import resample_poly

    ratio = Fraction(dst, src).limit_denominator(RESAMPLE_MAX_DENOMINATOR)
    up, down = ratio.numerator, ratio.denominator
    out_frames = -(-data.shape[0] * up // down)
    out = np.empty((out_frames, data.shape[1]), dtype=np.float32)
    for ch in range(data.shape[1]):
        out[:, ch] = resample_poly(data[:, ch], up, down)[:out_frames]
    return out


def umask() -> int:
    """The process umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_file(path: str | os.PathLike[str], data: ArrayLike, samplerate: int) -> None:
    """Write audio atomically: to a temporary file in the same directory, then os.replace.

    The format comes from the extension (``.wav``/``.flac`` as 24-bit PCM, ``.ogg`` as
    Vorbis). ``data`` is (frames, channels) or (frames,); samples are clipped to [-1, 1] and
    NaN/Inf written as 0. A reader never sees a half-written file.
    """
    import soundfile as sf

    p = Path(path)
    ext = p.suffix.lower()
    if ext not in WRITE_FORMATS:
        known = ", ".join(WRITE_FORMATS)
        raise SourceError(f"cannot write {p}: unknown extension {ext or '(none)'!r} (use {known})")
    fmt, subtype = WRITE_FORMATS[ext]
    rate = _check_rate(samplerate)
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise SourceError(f"cannot write {p}: audio must be (frames, channels), not {arr.shape}")
    if arr.dtype.kind == "f":
        arr = np.clip(np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
        arr = arr.astype(np.float32, copy=False)
    directory = p.parent if str(p.parent) else Path(".")
    if not directory.is_dir():
        raise SourceError(f"cannot write {p}: directory {directory} does not exist")
    try:
        with atomic_path(p, suffix=ext) as tmp:
            sf.write(tmp, arr, rate, format=fmt, subtype=subtype)
            os.chmod(tmp, 0o666 & ~umask())
    except sf.LibsndfileError as exc:
        raise SourceError(f"cannot write {p}: {_line(exc.error_string)}") from None
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        reason = _line(getattr(exc, "strerror", None) or exc)
        raise SourceError(f"cannot write {p}: {reason}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------------------------
# the demo loop

_PROGRESSIONS = (
    # (scale offsets of each chord's tones from the key root, bass root offset)
    (((0, 4, 7, 12), 0), ((7, 11, 14, 19), 7), ((9, 12, 16, 21), 9), ((5, 9, 12, 17), 5)),
    (((9, 12, 16, 21), 9), ((5, 9, 12, 17), 5), ((0, 4, 7, 12), 0), ((7, 11, 14, 19), 7)),
    (((0, 3, 7, 12), 0), ((8, 12, 15, 20), 8), ((3, 7, 10, 15), 3), ((10, 14, 17, 22), 10)),
    (((2, 5, 9, 14), 2), ((7, 11, 14, 17), 7), ((0, 4, 7, 11), 0), ((9, 12, 16, 19), 9)),
)
_TABLE = 4096


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _wavetable(freq: float, sr: int, n_harm: int, tilt: float, rng: np.random.Generator):
    """One cycle of a band-limited additive tone (harmonic k at k^-tilt, below 0.45 sr)."""
    top = max(1, min(n_harm, int(0.45 * sr / freq)))
    k = np.arange(1, top + 1)
    spec = np.zeros(_TABLE // 2 + 1, dtype=np.complex128)
    spec[k] = k**-tilt * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, top))
    table = np.fft.irfft(spec, _TABLE)
    table /= np.abs(table).max()
    return np.append(table, table[0])


def _osc(table: NDArray[np.float64], freq: float, sr: int, n: int) -> NDArray[np.float64]:
    """Read a wavetable at ``freq`` for ``n`` samples (16.16 fixed-point phase, linear interp)."""
    inc = int(round(freq * _TABLE / sr * 65536.0))
    pos = np.arange(n, dtype=np.int64)
    pos *= inc
    pos &= _TABLE * 65536 - 1
    i = pos >> 16
    frac = (pos & 0xFFFF).astype(np.float64)
    frac *= 1.0 / 65536.0
    lo = table[i]
    return lo + (table[i + 1] - lo) * frac


def _envelope(n: int, sr: int, attack: float, decay: float, release: float) -> NDArray:
    """Attack ramp, exponential decay (time constant ``decay`` s), linear fade to 0 at the end."""
    t = np.arange(n) / sr
    env = np.exp(-t / decay) if decay > 0 else np.ones(n)
    na = min(n, max(1, int(attack * sr)))
    env[:na] *= np.linspace(0.0, 1.0, na, endpoint=False) ** 2
    nr = min(n, max(1, int(release * sr)))
    env[n - nr :] *= np.linspace(1.0, 0.0, nr)
    return env


def _place(buf: NDArray[np.float64], start: int, seg: NDArray[np.float64]) -> None:
    """Add ``seg`` into ``buf`` at ``start``, wrapping past the end (so the loop is seamless)."""
    n = buf.shape[0]
    seg = seg[:n]
    start %= n
    first = min(seg.shape[0], n - start)
    buf[start : start + first] += seg[:first]
    if first < seg.shape[0]:
        buf[: seg.shape[0] - first] += seg[first:]


def _shaped_noise(
    rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, count: int = 1
) -> NDArray[np.float64]:
    """``count`` columns of periodic noise band-limited to about [lo, hi] Hz, unit RMS.

    Made in the frequency domain (random spectrum times the band shape, one inverse FFT), so
    it is exactly periodic over ``n`` samples and joins itself at the loop point.
    """
    lo, hi = min(lo, 0.4 * sr), min(hi, 0.45 * sr)  # low rates: keep the band below Nyquist
    bins = n // 2 + 1
    f = np.arange(bins, dtype=np.float32) * np.float32(sr / n)
    r = np.square(np.square(f / np.float32(lo)))
    h = np.square(np.square(f / np.float32(hi)))
    gain = r / ((1.0 + r) * (1.0 + h))
    spec = rng.standard_normal((bins, 2 * count), dtype=np.float32).view(np.complex64)
    spec *= gain[:, None]
    out = np.fft.irfft(spec, n, axis=0)
    out /= np.sqrt(np.mean(out**2, axis=0)) + 1e-12
    return out


def _loudness(x: NDArray[np.float64], sr: int) -> float:
    """Ungated BS.1770 loudness of a periodic signal (filter state settled on a first pass)."""
    from scipy.signal import sosfilt

    from .eqmath import k_weighting_sos

    sos = k_weighting_sos(sr)
    y = sosfilt(sos, np.concatenate([x, x]), axis=0)[x.shape[0] :]
    power = float(np.mean(y**2, axis=0).sum())
    return -0.691 + 10.0 * math.log10(power + 1e-20)


def demo_source(
    samplerate: int, channels: int, seconds: float = 8.0, seed: int = 0
) -> NDArray[np.float32]:
    """A generated, music-like stereo loop (float32, (frames, channels)) to EQ without a file.

    Four-chord progression: a pad (four detuned voices with harmonics), a bright arpeggio,
    a bass line, kick, snare and noise hi-hats, so every EQ band from ~50 Hz to ~12 kHz has
    something to act on. The loop is a whole number of 4/4 bars (tempo about 120 BPM, adjusted
    to fit ``seconds``), every note tail wraps around the loop point and every note starts and
    ends with a fade, so it repeats without a click. It is normalised to about -18 LUFS with
    peaks at or below -6 dBFS. Channels beyond two alternate left/right; one channel is the
    mono mix. The same seed gives the same samples.
    """
    sr = _check_rate(samplerate)
    nch = _check_channels(channels)
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise SourceError(f"demo length must be a number of seconds, not {seconds!r}")
    if not math.isfinite(seconds) or not 0.1 <= seconds <= 3600:
        raise SourceError(f"demo length must be between 0.1 and 3600 s, not {seconds}")
    n = int(round(seconds * sr))
    rng = np.random.default_rng(seed)
    bars = max(1, int(round(seconds / _BAR_SECONDS)))
    bar = n / bars
    step = bar / 16.0  # a sixteenth note, in samples (fractional)
    bpm_scale = bar / (_BAR_SECONDS * sr)  # note lengths follow the tempo
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    key = 48 + int(rng.integers(-3, 4))  # around C3
    left, right = np.zeros(n), np.zeros(n)
    mid = np.zeros(n)

    def at(sixteenth: float) -> int:
        return int(round(sixteenth * step))

    # Envelopes are the same for every note of an instrument: make them once.
    pad_len, arp_len, kick_len = int(bar), int(3 * step), int(0.3 * sr)
    pad_env = 0.16 * _envelope(pad_len, sr, 0.08 * bpm_scale, 3.0, 0.25 * bpm_scale)
    arp_env = _envelope(arp_len, sr, 0.004, 0.12 * bpm_scale, 0.02 * bpm_scale)
    bass_lens = {n16: int(n16 * step * 0.95) for n16 in (2, 4)}
    bass_envs = {
        n16: _envelope(ln, sr, 0.006, 0.35 * bpm_scale, 0.03 * bpm_scale)
        for n16, ln in bass_lens.items()
    }
    t = np.arange(kick_len) / sr
    kick = np.sin(2.0 * np.pi * np.cumsum(48.0 + 110.0 * np.exp(-t / 0.035)) / sr)
    kick *= _envelope(kick_len, sr, 0.001, 0.16, 0.03)
    tables: dict[tuple[str, float], NDArray[np.float64]] = {}

    def table(kind: str, f0: float, n_harm: int, tilt: float) -> NDArray[np.float64]:
        if (kind, f0) not in tables:
            tables[kind, f0] = _wavetable(f0, sr, n_harm, tilt, rng)
        return tables[kind, f0]

    for b in range(bars):
        tones, bass_root = progression[b % len(progression)]
        # Pad: chord tones an octave above the key, L and R detuned for width.
        for tone in tones:
            f0 = _midi_hz(key + 12 + tone)
            wave = table("pad", f0, 12, 1.6)
            for buf, cents in ((left, -6.0), (right, 6.0)):
                f = f0 * 2.0 ** (cents / 1200.0)
                _place(buf, int(b * bar), pad_env * _osc(wave, f, sr, pad_len))
        # Arpeggio: eighth notes over the chord, two octaves up, bright, panned left/right.
        for i in range(8):
            tone = tones[(i * 3 + b) % len(tones)] + (12 if i % 4 == 3 else 0)
            f0 = _midi_hz(key + 24 + tone)
            vel = 0.07 * (1.0 if i % 2 == 0 else 0.75) * rng.uniform(0.85, 1.0)
            note = vel * arp_env * _osc(table("arp", f0, 14, 1.0), f0, sr, arp_len)
            pan = 0.35 if i % 2 else -0.35
            _place(left, at(b * 16 + 2 * i), note * (1.0 - pan))
            _place(right, at(b * 16 + 2 * i), note * (1.0 + pan))
        # Bass: root on the beats, octave or fifth on some offbeats.
        for i, (pos, offset) in enumerate(((0, 0), (4, 0), (6, 12), (8, 0), (12, 7), (14, 0))):
            f0 = _midi_hz(key - 12 + (bass_root % 12) + offset)
            n16 = 2 if pos in (6, 14) else 4
            wave = _osc(table("bass", f0, 10, 1.4), f0, sr, bass_lens[n16])
            _place(mid, at(b * 16 + pos), (0.5 if i == 0 else 0.42) * bass_envs[n16] * wave)
        # Kick on 1 and 3 (plus a pickup on the last bar's "and of 4"): a falling sine.
        for pos in (0, 8, 14) if b == bars - 1 else (0, 8):
            _place(mid, at(b * 16 + pos), (0.75 if pos != 14 else 0.45) * kick)

    # Snare (tone + band-passed noise) and hats (high-passed noise), as periodic envelope tracks
    # multiplying periodic noise, so they wrap around the loop point too.
    snare_env, hat_env = np.zeros(n), np.zeros(n)
    snare_len, hat_len, open_len = int(0.18 * sr), int(0.05 * sr), int(0.25 * sr)
    snare_shape = _envelope(snare_len, sr, 0.001, 0.06, 0.03)
    hat_shape = _envelope(hat_len, sr, 0.0005, 0.015, 0.01)
    open_shape = 0.8 * _envelope(open_len, sr, 0.001, 0.09, 0.05)
    snare_tone = np.sin(2.0 * np.pi * 185.0 * np.arange(snare_len) / sr)
    snare_tone *= 0.22 * _envelope(snare_len, sr, 0.001, 0.05, 0.03)
    for b in range(bars):
        for pos in (4, 12):
            _place(snare_env, at(b * 16 + pos), snare_shape)
            _place(mid, at(b * 16 + pos), snare_tone)
        for i in range(15):
            if i == 14:
                _place(hat_env, at(b * 16 + i), open_shape)
            else:
                vel = (1.0 if i % 4 == 2 else 0.6 if i % 2 == 0 else 0.4) * rng.uniform(0.8, 1.0)
                _place(hat_env, at(b * 16 + i), vel * hat_shape)
    mid += 0.16 * snare_env * _shaped_noise(rng, n, sr, 900.0, 6000.0)[:, 0]
    hats = _shaped_noise(rng, n, sr, 7000.0, 16000.0, count=3)
    hat_env *= 0.09
    left += mid + hat_env * (0.64 * hats[:, 0] + 0.48 * hats[:, 1])
    right += mid + hat_env * (0.96 * hats[:, 0] + 0.72 * hats[:, 2])

    stereo = np.stack([left, right], axis=1)
    if nch == 1:
        stereo = stereo.mean(axis=1, keepdims=True)
    # Normalise loudness, then keep the peaks at or below -6 dBFS with a soft knee (only the
    # few loudest transients are touched; the knee is smooth so it adds no click).
    stereo *= 10.0 ** ((DEMO_LOUDNESS_LUFS - _loudness(stereo, sr)) / 20.0)
    ceiling = 10.0 ** (DEMO_PEAK_DBFS / 20.0)
    knee = 0.8 * ceiling
    mag = np.abs(stereo)
    over = mag > knee
    if np.any(over):
        room = ceiling - knee
        squashed = knee + room * np.tanh((mag[over] - knee) / room)
        stereo[over] = np.sign(stereo[over]) * squashed
    out = stereo[:, np.arange(nch) % stereo.shape[1]]
    return np.ascontiguousarray(out, dtype=np.float32)
