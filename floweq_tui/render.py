"""Offline rendering: a file through exactly the engine's processor, much faster than real time.

The live engine and this renderer run the same ``_dsp.Processor`` block by block, so a
file rendered here and the same file streamed through the engine with the same controls
give the same samples (tests/test_engine.py checks it on the JACK dummy server), modulators
included: the render's clock is its frame count, and the song (beat 0) starts at the first
frame, as it does when the live engine loads a file with a reset. Files are streamed: memory
stays flat whatever the length, and the output appears atomically.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .controls import CONTROL_DEFAULTS, METERS_SIZE, Controls, Meters
from .paths import atomic_path
from .vae import core_models

ProgressFn = Callable[[float], None]


@dataclass
class RenderResult:
    frames: int
    samplerate: int
    channels: int
    seconds: float
    x_realtime: float
    peak: float
    limited: int
    lufs_in: float
    lufs_out: float


class _Renderer:
    """One processor with the engine's controls, fed block by block; keeps the statistics."""

    def __init__(
        self,
        channels: int,
        samplerate: int,
        controls: dict[str, float] | None,
        blocksize: int,
        models_path: str | None,
    ) -> None:
        from . import _dsp

        models = core_models(models_path)
        self.ctl = CONTROL_DEFAULTS.copy()
        Controls(self.ctl)["model"] = models.default_index
        Controls(self.ctl).update(models.default_anchors)  # warm -> bright
        Controls(self.ctl).update(controls or {})
        self.met = np.zeros(METERS_SIZE)
        self.proc = _dsp.Processor(
            channels, float(samplerate), blocksize, self.ctl, self.met, models.decoders,
            models.anchors, wall_clock=False,
        )  # fmt: skip
        self.samplerate = int(samplerate)
        self.channels = channels
        self.frames = 0
        self.peak = 0.0
        self.t0 = time.perf_counter()

    def process(self, block_in: np.ndarray, block_out: np.ndarray) -> None:
        self.proc.process(block_in, block_out)
        self.frames += block_in.shape[0]
        self.peak = max(self.peak, float(np.abs(block_out).max(initial=0.0)))

    def result(self) -> RenderResult:
        seconds = time.perf_counter() - self.t0
        m = Meters(self.met)
        return RenderResult(
            frames=self.frames,
            samplerate=self.samplerate,
            channels=self.channels,
            seconds=seconds,
            x_realtime=(self.frames / self.samplerate) / max(seconds, 1e-9),
            peak=self.peak,
            limited=int(m["limited"]),
            lufs_in=m["lufs_in"],
            lufs_out=m["lufs_out"],
        )


class _Progress:
    """Calls ``fn`` with the fraction done at most ten times a second, and 1.0 at the end."""

    def __init__(self, fn: ProgressFn | None, total: int) -> None:
        self.fn, self.total, self.last = fn, max(total, 1), time.perf_counter()

    def __call__(self, done: int) -> None:
        if self.fn is not None and time.perf_counter() - self.last > 0.1:
            self.last = time.perf_counter()
            self.fn(min(done / self.total, 1.0))

    def finish(self) -> None:
        if self.fn is not None:
            self.fn(1.0)


def render_array(
    data: np.ndarray,
    samplerate: int,
    controls: dict[str, float] | None = None,
    blocksize: int = 512,
    models_path: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, RenderResult]:
    """Run float32 audio (frames, channels) through the engine's processor; returns (out, stats)."""
    x = np.ascontiguousarray(data, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError("audio must be a non-empty (frames, channels) array")
    frames, channels = x.shape
    r = _Renderer(channels, samplerate, controls, blocksize, models_path)
    tick = _Progress(progress, frames)
    out = np.empty_like(x)
    for start in range(0, frames, blocksize):
        stop = min(start + blocksize, frames)
        r.process(x[start:stop], out[start:stop])
        tick(stop)
    tick.finish()
    return out, r.result()


def output_target(in_path: str | Path, out_path: str | Path, force: bool = False) -> Path:
    """The file to write for OUT: refuses the input itself, and an existing OUT unless forced.

    Any spelling of the input (``./a.wav``, a hard or symbolic link to it) is refused. A
    symbolic link OUT stays a link: the file it points to is replaced.
    """
    from .sources import SourceError

    src, out = Path(in_path), Path(out_path)
    real = Path(os.path.realpath(out))
    same = real == Path(os.path.realpath(src))
    if not same and real.exists():
        try:
            same = os.path.samefile(src, real)
        except OSError:
            same = False
    if same:
        raise SourceError(f"refusing to write {out}: it is the input file {src}")
    if (out.exists() or out.is_symlink()) and not force:
        raise SourceError(f"{out} exists: add --force to replace it")
    return real


def render_file(
    in_path: str | Path,
    out_path: str | Path,
    controls: dict[str, float] | None = None,
    blocksize: int = 512,
    models_path: str | None = None,
    progress: ProgressFn | None = None,
    force: bool = False,
) -> RenderResult:
    """Render a WAV/FLAC/OGG file at its own rate and channels, streaming, written atomically."""
    import soundfile as sf

    from . import sources

    out = Path(out_path)
    ext = out.suffix.lower()
    if ext not in sources.WRITE_FORMATS:
        raise sources.SourceError(f"cannot write {out}: use .wav, .flac or .ogg")
    if not out.parent.is_dir():
        raise sources.SourceError(f"cannot write {out}: directory {out.parent} does not exist")
    frames, rate, channels = sources.info(in_path)
    target = output_target(in_path, out, force)
    fmt, subtype = sources.WRITE_FORMATS[ext]
    r = _Renderer(channels, rate, controls, blocksize, models_path)
    tick = _Progress(progress, frames)
    buf_in = np.zeros((blocksize, channels), np.float32)
    buf_out = np.zeros((blocksize, channels), np.float32)
    try:
        with (
            sf.SoundFile(str(in_path)) as fin,
            atomic_path(target, suffix=ext) as tmp,
            sf.SoundFile(str(tmp), "w", rate, channels, subtype, format=fmt) as fout,
        ):
            while True:
                block = fin.read(blocksize, dtype="float32", always_2d=True, out=buf_in)
                n = block.shape[0]
                if n == 0:
                    break
                np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
                r.process(block, buf_out[:n])
                fout.write(buf_out[:n])
                tick(r.frames)
            os.chmod(tmp, 0o666 & ~sources.umask())
    except sf.LibsndfileError as exc:
        raise sources.SourceError(_write_error(out, exc.error_string)) from None
    except OSError as exc:
        raise sources.SourceError(_write_error(out, exc.strerror or exc)) from None
    tick.finish()
    return r.result()


def _write_error(out: Path, reason: Any) -> str:
    """One line for a failed write; a full disk is named (libsndfile only says 'System error')."""
    try:
        full = shutil.disk_usage(out.parent).free < 1 << 20
    except OSError:
        full = False
    why = "no space left on device" if full else " ".join(str(reason).split()).rstrip(".")
    return f"cannot write {out}: {why}"


@dataclass
class EqState:
    """The EQ a set of controls gives: the 13 parameters in effect (decoded in the latent
    modes), the band switches and the strength."""

    params: np.ndarray
    active: list[bool]
    strength: float


def eq_in_effect(
    controls: dict[str, float] | None, samplerate: int = 48000, models_path: str | None = None
) -> EqState:
    """What the engine's processor would play for these controls (its first block), for export."""
    r = _Renderer(1, samplerate, controls, 64, models_path)
    silence = np.zeros((64, 1), np.float32)
    r.process(silence, np.empty_like(silence))
    m, c = Meters(r.met), Controls(r.ctl)
    return EqState(
        params=np.array([m[f"p{i}"] for i in range(13)]),
        active=[c[f"active{b}"] >= 0.5 for b in range(5)],
        strength=float(c["strength"]),
    )
