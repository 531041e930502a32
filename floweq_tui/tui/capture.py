"""Recording the engine's input from the meters block's input ring, for a match.

The audio thread writes the last RING_FRAMES input samples (a mono mix, after the input
gain, before the EQ) into the meters block with a running position; the UI copies what is
new at each poll. Reading shared memory is all it does: the audio thread is never asked,
waited on or slowed down. The ring holds about 0.17 s at 48 kHz, so a recording is of the
next N seconds (polled every 50 ms); a late poll loses the overwritten part, counted in
``lost``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..controls import RING_FRAMES


class RingRecorder:
    """Collects ``seconds`` of the input ring from now on; call :meth:`poll` until done."""

    def __init__(self, meters: Any, samplerate: float, seconds: float) -> None:
        self.meters = meters
        self.samplerate = float(samplerate)
        self.need = max(1, int(round(seconds * self.samplerate)))
        self.pos = int(meters["ring_pos"])
        self.chunks: list[NDArray[np.float64]] = []
        self.got = 0
        self.lost = 0
        """Frames overwritten before a poll copied them."""

    @property
    def done(self) -> bool:
        return self.got >= self.need

    @property
    def fraction(self) -> float:
        return min(self.got / self.need, 1.0)

    def poll(self) -> bool:
        """Copy what is new in the ring; True once ``seconds`` were collected."""
        now = int(self.meters["ring_pos"])
        new = now - self.pos
        if new > 0 and not self.done:
            take = min(new, RING_FRAMES)
            self.lost += new - take
            self.chunks.append(self.meters.ring("in", take))
            self.got += take
        self.pos = max(now, self.pos)
        return self.done

    def audio(self) -> NDArray[np.float64]:
        """The recording so far (mono), at most ``seconds`` long."""
        if not self.chunks:
            return np.zeros(0)
        return np.concatenate(self.chunks)[: self.need]
