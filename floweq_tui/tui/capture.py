"""The last N seconds of the engine's input, from its input history block, for a match.

The audio thread keeps the last seconds of its input (the mono mix after the input gain,
before the EQ) in a shared ring with a running count (``controls.History``); taking the
last N seconds is one copy of shared memory, checked against the count after copying, so
the audio thread is never asked, waited on or slowed down, and there is nothing to wait
for: the seconds were heard already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MIN_HEARD_S = 0.5
"""Less input than this is refused (a match needs a few 0.37 s analysis windows)."""
SILENT_PEAK = 1e-5
"""An input whose peak stays below this (-100 dBFS) is silence: nothing to match."""


class CaptureError(ValueError):
    """No usable input to match (no history, too little heard, silence): one line."""


@dataclass(frozen=True)
class Heard:
    """The input taken from the history: mono float32 samples at ``samplerate``."""

    audio: NDArray[np.float32]
    samplerate: float
    asked: float
    """The seconds asked for (``seconds`` may be fewer: all that was heard since start)."""

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.samplerate

    @property
    def short(self) -> bool:
        """Fewer seconds than asked were there (the engine had not heard that much yet)."""
        return len(self.audio) < int(round(self.asked * self.samplerate)) - 1

    def note(self) -> str:
        """One line saying how much was taken when it is less than asked ("" otherwise)."""
        if not self.short:
            return ""
        return (
            f"only {self.seconds:.1f} of the {self.asked:g} s asked had been heard: matched those"
        )


def history_seconds(history: Any) -> float:
    """The most seconds the history can give (0 with none)."""
    if history is None or history.samplerate <= 0:
        return 0.0
    return history.capacity / history.samplerate


def last_seconds(history: Any, seconds: float) -> Heard:
    """The last ``seconds`` of input from ``history`` (a ``controls.History``), at once.

    Fewer when fewer were heard since the engine started; CaptureError (one line) when there
    is no history, less than MIN_HEARD_S or only silence.
    """
    if history is None or history.samplerate <= 0:
        raise CaptureError("the engine keeps no input history (history_seconds is 0)")
    fs = history.samplerate
    audio = history.last(int(round(seconds * fs)))
    if len(audio) < MIN_HEARD_S * fs:
        raise CaptureError(
            f"only {len(audio) / fs:.2f} s of input heard so far: too little to match "
            f"(at least {MIN_HEARD_S:g} s)"
        )
    if not np.any(np.abs(audio) > SILENT_PEAK):
        raise CaptureError(
            f"the input was silent for the last {len(audio) / fs:.1f} s: nothing to match"
        )
    return Heard(audio, fs, float(seconds))
