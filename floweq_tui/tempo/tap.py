"""Tap tempo: tap times -> a tempo, robust to a missed tap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .slots import BPM_MAX, BPM_MIN

TAP_RESET = 2.0
"""Seconds without a tap after which the next tap starts a new count."""
TAP_KEEP = 8
"""Taps used at most (the latest)."""


def tap_bpm(taps: Sequence[float]) -> float | None:
    """The tempo of the taps at ``taps`` (seconds, ascending), or None with fewer than two.

    Each interval is counted in beats against the median interval (a missed tap makes an
    interval of two beats, and is counted as two; an interval far from a whole number of
    beats is a stray and is dropped), then beat index against tap time is fitted by least
    squares, so one late or early tap moves the tempo only a little.
    """
    t = np.asarray(taps, dtype=np.float64)
    if len(t) < 2:
        return None
    gaps = np.diff(t)
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return None
    unit = float(np.median(gaps))
    if len(gaps) >= 3:  # the median of two is their mean: one missed tap would sway it
        ones = gaps[np.abs(gaps / unit - 1.0) < 0.25]
        unit = float(np.median(ones)) if len(ones) else unit
    beats = [0.0]
    times = [float(t[0])]
    for a, b in zip(t[:-1], t[1:], strict=True):
        ratio = (b - a) / unit
        n = round(ratio)
        if n < 1 or n > 4 or abs(ratio - n) > 0.25 * n:
            beats, times = [0.0], [float(b)]  # a stray tap: start the count again here
            continue
        beats.append(beats[-1] + n)
        times.append(float(b))
    if len(times) < 2:
        bpm = 60.0 / unit
    else:
        slope = float(np.polyfit(beats, times, 1)[0])
        bpm = 60.0 / slope
    return min(max(bpm, BPM_MIN), BPM_MAX)


class TapTempo:
    """Taps in, a tempo out; a pause longer than :data:`TAP_RESET` starts a new count."""

    def __init__(self) -> None:
        self.taps: list[float] = []

    def tap(self, t: float) -> float | None:
        """Record a tap at ``t``; the tempo so far (None after the first tap)."""
        if self.taps and (t - self.taps[-1] > TAP_RESET or t <= self.taps[-1]):
            self.taps = []
        self.taps = [*self.taps, t][-TAP_KEEP:]
        return tap_bpm(self.taps)
