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
"""In a Clock's value: the JACK server skipped frames (an xrun) since the previous Clock,
and bits 0-15 their time in 0.1 ms, signed (set by ``_jackmidi``). A sender on the same
server falls behind by them, so the follower takes them off a gap before counting lost
Clocks in it (a hint only: the gap's time decides)."""
BPM_MIN, BPM_MAX = 20.0, 300.0
MAX_LOST = 12
"""The most Clocks in a row counted as lost from a gap (half a beat); a longer gap is a
pause of the sender, and the count goes on from the next Clock."""
WARMUP = 12
"""Clocks after a Start (or a new tempo) that are simply counted, before the line is
trusted to say where the next ones belong."""
STEP_MIN = 0.5e-3
"""Seconds: the least a Clock may miss the line by to be taken for an outlier or a step
(more on a jittery clock: five times the fit's residual spread)."""
LOST_TOL = 0.25
"""Ticks: how near a whole number of ticks a gap must be to count Clocks lost in it."""
RETEMPO = 6
"""Clocks in a row off the line, and not by a steady amount, that make a new tempo (fewer
are a sender falling behind cycle after cycle, or JACK's clock settling after an xrun)."""


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

    Once the line holds (``WARMUP`` Clocks), each Clock's tick is read from its time, not
    counted, so what goes wrong on the way costs at most a tick or two (docs/automation.md):

    - a Clock lost (the receiving JACK client missed a cycle): the next one is about n tick
      lengths after the line's last tick, so it is tick +n (taken back if the interval
      after it is long too: the tempo dropped);
    - a Clock received twice, or two in one tick: the second is dropped;
    - a Clock off the line by more than the jitter (``STEP_MIN``, or five times the fit's
      spread) is held back from the fit, and the beat follows it at once at the tempo held
      (most often the clock's phase stepped: the sender fell behind by frames the server
      skipped); if the next one is back on the line it was an outlier (a stamp a block
      late) and the fit is put back; if the next one is off by the same amount the step is
      confirmed and a new line starts from the Clocks at its level, at the tempo held
      until ``WARMUP`` of them are in; ``RETEMPO`` in a row off the line and not alike are
      a new tempo, fitted afresh from them.

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
        """Clocks counted from the gaps they left (lost on the way)."""
        self.dropped = 0
        """Clocks dropped: a second one in the same tick."""
        self.outliers = 0
        """Clocks left out of the fit: off the line, and the next one back on it."""
        self.steps = 0
        """Phase steps of the clock followed at once (the line moved, tempo kept)."""
        self.retempos = 0
        """Fits started afresh from Clocks off the line (a sudden new tempo)."""
        self._pending_lost = 0
        self._held: list[tuple[int, float, float]] = []
        """Clocks off the line, waiting for the next one to say what they were: (tick, t,
        residual)."""
        self._spread = 0.0
        self._anchor = (0, 0.0)
        """(tick, time) of the fitted line at its last tick."""
        self._tick_s = 60.0 / (120.0 * PPQN)
        self.transport_seen = False
        """A Start, Stop, Continue or Song Position Pointer came (else Clocks are joined)."""
        self._locked = False
        """WARMUP Clocks fitted since the last Start or Continue: ticks are read from time."""
        self._held_tempo = False
        """The line since a step: its phase from the Clocks after it, the tempo from before
        (until WARMUP of them: then a free fit again)."""

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
            return self._clock(t, _skipped(value))
        if status == START:
            self.tick = 0
            self._restart()
            self.running = True
            self.starts += 1
            return None  # (the first Clock anchors beat 0)
        if status == CONTINUE:
            self._restart()
            self.running = True
            return None
        if status == STOP:
            self.running = False
            self._restart()
            beat = self.line.beat_at(t) if self.line is not None else self.tick / PPQN
            self.line = BeatLine(self.bpm, beat, t, running=False)
            return self.line
        if status == SPP and not self.running:
            self.tick = int(value) * (PPQN // 4)
            self.line = BeatLine(self.bpm, self.tick / PPQN, t, running=False)
            return self.line
        return None

    def _restart(self) -> None:
        self._locked = False
        self._held_tempo = False
        self.stamps.clear()
        self._held.clear()
        self._pending_lost = 0

    def _clock(self, t: float, skipped: float) -> BeatLine | None:
        """Place one Clock on the tick its time says (see the class note)."""
        pts = self.stamps
        if not self._locked and len(pts) >= WARMUP:
            self._locked = True
        if not self._locked:
            self._pending_lost = 0
            pts.append((self.tick, t))
            self.tick += 1
            return self._fit()
        p = self._tick_s
        last = self.tick - 1
        if self._held:  # the line is in doubt: count from the last Clock itself
            u = (t - self._held[-1][1]) / p
        else:
            k0, t0 = self._anchor
            u = (t - (t0 + (last - k0) * p)) / p  # ticks since the line's last tick
        n = 1
        if not self._held:
            if self._pending_lost:  # the interval after a counted gap
                took, self._pending_lost = self._pending_lost, 0
                if u >= 1.5:  # long too: a slower tempo, not lost Clocks
                    k, tt = pts[-1]
                    pts[-1] = (k - took, tt)
                    last -= took
                    self.lost -= took
                    self._held.append((k - took, tt, 0.0))  # (the line is in doubt now)
                    pts.pop()
                    u = (t - tt) / p
            elif u < LOST_TOL:  # a second Clock in the same tick
                self.dropped += 1
                return None
            else:
                # the gap in ticks; less the frames the server skipped meanwhile, first (a
                # sender on the same server fell behind by them)
                gaps = [u - skipped / p, u] if 0.0 < skipped <= MAX_LOST * p else [u]
                for gap in gaps:
                    m = round(gap)
                    if 1 <= m <= MAX_LOST + 1 and abs(gap - m) < LOST_TOL:
                        n = m
                        break
                if n > 1:
                    self.lost += n - 1
                    self._pending_lost = n - 1
        k = last + n
        self.tick = k + 1
        k0, t0 = self._anchor
        r = t - (t0 + (k - k0) * p)  # how far off the line
        gate = max(STEP_MIN, 5.0 * self._spread)
        if abs(r) <= gate and not self._held:
            pts.append((k, t))
            return self._fit()
        if abs(r) <= gate:  # back on the line: the held ones were outliers
            self.outliers += sum(1 for h in self._held if h[2] != 0.0)
            self._held.clear()
            pts.append((k, t))
            return self._fit()
        self._held.append((k, t, r))
        held = self._held
        if len(held) >= 2 and held[-2][2] != 0.0 and abs(held[-1][2] - held[-2][2]) <= gate:
            step = (held[-1][2] + held[-2][2]) / 2  # the clock's phase stepped: a new line
            self.steps += 1
            pts.clear()  # from the Clocks at the step's level, at the tempo held until there
            pts.extend((kk, tt) for kk, tt, rr in held if abs(rr - step) <= gate)  # are enough
            held.clear()
            self._held_tempo = True
            return self._fit()
        if len(held) >= RETEMPO:  # off the line and not alike: a new tempo
            self.retempos += 1
            pts.clear()
            pts.extend((kk, tt) for kk, tt, _ in held)
            held.clear()
            self._held_tempo = False
            return self._fit()
        # undecided: most often the clock's phase stepped, so follow this Clock now, tempo
        # kept (the fit is put back if the next Clock is on the old line)
        self.line = BeatLine(self.bpm, k / PPQN, t)
        return self.line

    def _fit(self) -> BeatLine:
        pts = self.stamps
        n_last, t_last = pts[-1]
        if len(pts) < 3:
            # too few stamps for a slope: keep the tempo, anchor on this tick
            self._anchor = (n_last, t_last)
            self.line = BeatLine(self.bpm, n_last / PPQN, t_last)
            return self.line
        n = len(pts)
        mean_k = sum(k for k, _ in pts) / n
        mean_t = sum(tt for _, tt in pts) / n
        if self._held_tempo and n < WARMUP:  # after a step: the phase from these, tempo held
            slope = self._tick_s
            t_fit = mean_t + slope * (n_last - mean_k)
            res = [tt - (mean_t + slope * (k - mean_k)) for k, tt in pts]
            self._spread = math.sqrt(sum(x * x for x in res) / n)
            self._anchor = (n_last, t_fit)
            self.line = BeatLine(self.bpm, n_last / PPQN, t_fit)
            return self.line
        self._held_tempo = False
        sxx = sum((k - mean_k) ** 2 for k, _ in pts)
        sxy = sum((k - mean_k) * (tt - mean_t) for k, tt in pts)
        slope = sxy / sxx if sxx > 0 else 0.0  # seconds a tick
        if slope > 0:
            self.bpm = min(max(60.0 / (slope * PPQN), BPM_MIN), BPM_MAX)
            self._tick_s = 60.0 / (self.bpm * PPQN)
            t_fit = mean_t + slope * (n_last - mean_k)
            res = [tt - (mean_t + slope * (k - mean_k)) for k, tt in pts]
            self._spread = math.sqrt(sum(x * x for x in res) / max(n - 2, 1))
        else:
            t_fit = t_last
        self._anchor = (n_last, t_fit)
        self.line = BeatLine(self.bpm, n_last / PPQN, t_fit)
        return self.line


def _skipped(value: int) -> float:
    """The seconds of frames the server skipped before a Clock (``_jackmidi``: its value's
    bit 16, and the time in 0.1 ms in bits 0-15, signed); 0 when none or unknown."""
    if not value & AFTER_SKIP:
        return 0.0
    v = value & 0xFFFF
    return (v - 0x10000 if v >= 0x8000 else v) * 1e-4


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
