"""Offline rendering: a file through exactly the engine's processor, much faster than real time.

The live engine and this renderer run the same ``_dsp.Processor`` block by block, so a
file rendered here and the same file streamed through the engine with the same controls
give the same samples (tests/test_engine.py checks it on the JACK dummy server).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .controls import CONTROL_DEFAULTS, METERS_SIZE, Controls, Meters
from .vae import core_models


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


def render_array(
    data: np.ndarray,
    samplerate: int,
    controls: dict[str, float] | None = None,
    blocksize: int = 512,
    models_path: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, RenderResult]:
    """Run float32 audio (frames, channels) through the engine's processor; returns (out, stats)."""
    from . import _dsp

    x = np.ascontiguousarray(data, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError("audio must be a non-empty (frames, channels) array")
    frames, channels = x.shape
    models = core_models(models_path)
    ctl = CONTROL_DEFAULTS.copy()
    Controls(ctl)["model"] = models.default_index
    Controls(ctl).update(controls or {})
    met = np.zeros(METERS_SIZE)
    proc = _dsp.Processor(
        channels, float(samplerate), blocksize, ctl, met, models.decoders, models.anchors
    )
    out = np.empty_like(x)
    block_out = np.zeros((blocksize, channels), np.float32)
    block_in = np.zeros((blocksize, channels), np.float32)
    t0 = time.perf_counter()
    last = t0
    for start in range(0, frames, blocksize):
        n = min(blocksize, frames - start)
        if n == blocksize:
            proc.process(x[start : start + n], out[start : start + n])
        else:  # the last, partial block: same processor, a shorter block
            block_in[:n] = x[start : start + n]
            proc.process(block_in[:n], block_out[:n])
            out[start : start + n] = block_out[:n]
        if progress is not None and time.perf_counter() - last > 0.1:
            last = time.perf_counter()
            progress((start + n) / frames)
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(1.0)
    m = Meters(met)
    return out, RenderResult(
        frames=frames,
        samplerate=int(samplerate),
        channels=channels,
        seconds=seconds,
        x_realtime=(frames / samplerate) / max(seconds, 1e-9),
        peak=float(np.abs(out).max()),
        limited=int(m["limited"]),
        lufs_in=m["lufs_in"],
        lufs_out=m["lufs_out"],
    )


def render_file(
    in_path: str | Path,
    out_path: str | Path,
    controls: dict[str, float] | None = None,
    blocksize: int = 512,
    models_path: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> RenderResult:
    """Render a WAV/FLAC/OGG file at its own rate and write the result atomically."""
    from . import sources

    out = Path(out_path)
    if out.suffix.lower() not in sources.WRITE_FORMATS:
        raise sources.SourceError(f"cannot write {out}: use .wav, .flac or .ogg")
    if not out.parent.is_dir():
        raise sources.SourceError(f"cannot write {out}: directory {out.parent} does not exist")
    frames, rate, channels = sources.info(in_path)
    data = sources.load_file(in_path, rate, channels)
    out, result = render_array(data, rate, controls, blocksize, models_path, progress)
    sources.write_file(out_path, out, rate)
    return result
