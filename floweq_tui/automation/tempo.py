"""Tempo sources, pure: tap tempo, a MIDI clock follower, the beat line they write.

Every source ends in the same four values of the controls block (docs/automation.md):
``bpm``, and the beat line's anchor ``beat_origin`` at CLOCK_MONOTONIC ``beat_time``
(``beat(t) = beat_origin + (t - beat_time) * bpm / 60``), and ``transport``. The engine's C
code derives the beat per block from them; nothing here runs on the audio thread, and
nothing here reads a clock: every call is given the time the event happened (a tap, or a
clock message stamped where it arrived), so a late reader does not move the beat.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PPQN = 24
"""MIDI clock ticks a quarter note."""
CLOCK, START, CONTINUE, STOP, SPP = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2
"""MIDI real-time (and Song Position Pointer) status bytes."""
AFTER_SKIP = 1 << 16
"""In a Clock's value: the JACK server skipped frames (an xrun) since the previous Clock
(set by ``_jackmidi``). Not used to tell lost Clocks from skipped time: on the dummy server
an xrun did both, and the benchmark was worse with it (docs/performance.md)."""
BPM_MIN, BPM_MAX = 20.0, 300.0
MAX_LOST = 12
"""The most Clocks in a row counted as lost from a gap (half a beat); a longer gap is a
pause of the sender, and the count goes on from the next Clock."""


@dataclass(frozen=True)
class BeatLine:
    """What a tempo source writes: the tempo and the beat anchor, and whether it runs."""

    bpm: float
    origin: float
    time: float
    running: bool = True

    def beat_at(self, t: float) -> float:
        """The beat at monotonic time ``t`` (held at ``origin`` while stopped)."""
        if not self.running:
            return self.origin
        return self.origin + (t - self.time) * self.bpm / 60.0

    def as_controls(self, source: int) -> dict[str, float]:
        """The controls block's tempo slots (``source``: 0 internal, 1 MIDI clock, 2 Link)."""
        return {
            "bpm": min(max(self.bpm, BPM_MIN), BPM_MAX),
            "beat_origin": self.origin,
            "beat_time": self.time,
            "transport": 1.0 if self.running else 0.0,
            "tempo_source": float(source),
        }


class TapTempo:
    """Tap tempo: the first tap of a series is a downbeat (beat 0: synced modulators start
    their cycles there), each further tap the next beat; the tempo is the mean of the last
    ``keep`` intervals. A pause longer than ``reset_s`` starts a new series."""

    def __init__(self, keep: int = 4, reset_s: float = 2.0) -> None:
        self.keep = keep
        self.reset_s = reset_s
        self.taps: deque[float] = deque(maxlen=keep + 1)
        self.count = 0

    def tap(self, t: float, bpm: float) -> BeatLine:
        """One tap at monotonic time ``t``; ``bpm`` is the tempo in effect (kept on a
        series' first tap). Returns the new beat line (always running)."""
        if self.taps and not 0.0 < t - self.taps[-1] <= self.reset_s:
            self.taps.clear()
            self.count = 0
        self.taps.append(t)
        self.count += 1
        if len(self.taps) >= 2:
            span = self.taps[-1] - self.taps[0]
            bpm = 60.0 * (len(self.taps) - 1) / span
        bpm = min(max(bpm, BPM_MIN), BPM_MAX)
        return BeatLine(bpm, float(self.count - 1), t)


class ClockFollower:
    """Follows a MIDI clock (24 ppqn, Start, Stop, Continue, Song Position Pointer).

    The tempo is smoothed against jitter: a least-squares line through the last ``window``
    clock stamps (48: two beats), tick number against time; its slope is the tempo and the
    line's value at the latest tick anchors the beat. So a stamp that arrives early or late
    moves the beat by a fraction of its error, and a tempo change is followed within the
    window. Start resets the phase: the first Clock after it is beat 0. Stop holds the beat
    where it is; Song Position Pointer (while stopped) moves it; Continue runs on from it.

    A Clock lost on the way (the receiving JACK client missed a cycle: an xrun) would shift
    the beat by a tick for good; a gap of about n tick lengths (2 <= n <= 13) between steady
    stamps counts the n - 1 Clocks that are missing (taken back if the next interval is long
    too: that was the tempo dropping).

    Clocks that come before any Start, Stop or Continue (a follower that joined a running
    clock: the MIDI process restarted, or the gear was playing already) are followed from
    the beat ``join(t)`` gives (the beat line in effect; None: from beat 0).
    """

    def __init__(self, window: int = 48, join: Callable[[float], float] | None = None) -> None:
        self.window = window
        self.stamps: deque[tuple[int, float]] = deque(maxlen=window)
        self.tick = 0
        """The position in ticks of the next Clock (the song's start is tick 0)."""
        self.running = False
        self.line: BeatLine | None = None
        self.bpm = 120.0
        self.starts = 0
        self.join = join
        self.lost = 0
        self._pending = 0
        """Clocks counted from the gaps they left (lost on the way)."""
        self.transport_seen = False
        """A Start, Stop, Continue or Song Position Pointer came (else Clocks are joined)."""

    def feed(self, t: float, status: int, value: int = 0) -> BeatLine | None:
        """One message stamped ``t`` (monotonic s); the new beat line when it changed."""
        if status != CLOCK:
            self.transport_seen = True
        if status == CLOCK:
            if not self.running and not self.transport_seen:  # joining a running clock
                beat = self.join(t) if self.join is not None else 0.0
                self.tick = round(beat * PPQN) if math.isfinite(beat) else 0
                self.running = True
            if not self.running:
                return None
            self._count_lost(t)  # (AFTER_SKIP is not used: see its note)
            self.stamps.append((self.tick, t))
            self.tick += 1
            return self._fit()
        if status == START:
            self.tick = 0
            self.stamps.clear()
            self.running = True
            self.starts += 1
            return None  # (the first Clock anchors beat 0)
        if status == CONTINUE:
            self.stamps.clear()
            self.running = True
            return None
        if status == STOP:
            self.running = False
            self.stamps.clear()
            beat = self.line.beat_at(t) if self.line is not None else self.tick / PPQN
            self.line = BeatLine(self.bpm, beat, t, running=False)
            return self.line
        if status == SPP and not self.running:
            self.tick = int(value) * (PPQN // 4)
            self.line = BeatLine(self.bpm, self.tick / PPQN, t, running=False)
            return self.line
        return None

    def _count_lost(self, t: float) -> None:
        """Count Clocks lost on the way (an xrun) from the gap before this one: about n tick
        lengths (n >= 2) after steady single ticks. Lost Clocks are single events, so when
        the interval after such a gap is long too, the tempo dropped instead: the count
        is taken back."""
        pts = self.stamps
        if len(pts) < 3:
            return
        gap = (t - pts[-1][1]) * self.bpm * PPQN / 60.0
        if self._pending:  # the interval after a counted gap
            if gap >= 1.5:  # long too: a slower tempo, not lost Clocks
                k, tt = pts[-1]
                pts[-1] = (k - self._pending, tt)
                self.tick -= self._pending
                self.lost -= self._pending
            self._pending = 0
            return
        steady = all(
            abs((pts[i][1] - pts[i - 1][1]) * self.bpm * PPQN / 60.0 - 1.0) < 0.25 for i in (-1, -2)
        )
        n = round(gap)
        if steady and 2 <= n <= MAX_LOST + 1 and abs(gap - n) < 0.25:
            self.tick += n - 1
            self.lost += n - 1
            self._pending = n - 1

    def _fit(self) -> BeatLine:
        pts = self.stamps
        n_last, t_last = pts[-1]
        if len(pts) < 3:
            # too few stamps for a slope: keep the tempo, anchor on this tick
            self.line = BeatLine(self.bpm, n_last / PPQN, t_last)
            return self.line
        n = len(pts)
        mean_k = sum(k for k, _ in pts) / n
        mean_t = sum(tt for _, tt in pts) / n
        sxx = sum((k - mean_k) ** 2 for k, _ in pts)
        sxy = sum((k - mean_k) * (tt - mean_t) for k, tt in pts)
        slope = sxy / sxx if sxx > 0 else 0.0  # seconds a tick
        if slope > 0:
            self.bpm = min(max(60.0 / (slope * PPQN), BPM_MIN), BPM_MAX)
            t_fit = mean_t + slope * (n_last - mean_k)
        else:
            t_fit = t_last
        self.line = BeatLine(self.bpm, n_last / PPQN, t_fit)
        return self.line


class DeltaStamps:
    """Monotonic stamps from rtmidi's delta times (ALSA input, where messages carry the
    seconds since the previous one, taken where they arrived).

    The deltas add up to a time line of their own; its offset to CLOCK_MONOTONIC is the
    smallest (now - sum) seen, since Python can only read a message after it arrived. The
    offset creeps up slowly (``creep`` s a second) so a drifting ALSA clock is followed."""

    def __init__(self, creep: float = 1e-4) -> None:
        self.creep = creep
        self.sum: float | None = None
        self.offset = 0.0
        self._last_now = 0.0

    def stamp(self, delta: float, now: float) -> float:
        """The arrival time of a message read at ``now`` with delta ``delta`` seconds."""
        if self.sum is None or delta < 0 or delta > 10.0:
            self.sum, self.offset = 0.0, now
        else:
            self.sum += delta
            self.offset += self.creep * max(now - self._last_now, 0.0)
            self.offset = min(self.offset, now - self.sum)
        self._last_now = now
        return self.offset + self.sum
