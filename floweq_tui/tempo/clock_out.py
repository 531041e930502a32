"""MIDI clock out: 24 ticks a quarter note from the tempo slots, Start and Stop.

:class:`ClockOut` is pure: asked at time ``now`` with the anchor in effect, it gives the
messages due before ``now + horizon``, each with the time it belongs on the wire (our JACK
client writes it at that time's frame offset). Ticks fall exactly where the beat crosses a
multiple of 1/24; a tempo change moves the ticks not yet given; a jump of the beat never
sends a burst (ticks the beat jumped over are skipped, and ticks are never sent before
their time). While the transport is stopped the ticks go on at the tempo (receivers keep
their tempo locked), and a start sends Start (at beat 0) or Song Position + Continue.
"""

from __future__ import annotations

import math

from .clock_in import CLOCK, CONTINUE, PPQN, SONG_POSITION, START, STOP
from .slots import TempoState

HORIZON = 0.03
"""Seconds of ticks given ahead (the service looks every 10 ms)."""


class ClockOut:
    """The clock a leader sends, derived from the tempo anchor."""

    def __init__(self) -> None:
        self.next_tick: int | None = None
        """The next tick, in ticks from the song's start (while running)."""
        self.free_at: float | None = None
        """While stopped: the time of the next free-running tick."""
        self.running: bool | None = None
        self.prev: TempoState | None = None

    def due(
        self, state: TempoState, now: float, horizon: float = HORIZON
    ) -> list[tuple[float, list[int]]]:
        """The messages to send, with their times (ascending), up to ``now + horizon``."""
        out: list[tuple[float, list[int]]] = []
        period = 60.0 / (state.bpm * PPQN)
        until = now + horizon
        prev, self.prev = self.prev, state
        restart = bool(  # the beat went back (a restart, a song position): start again
            state.transport
            and self.running
            and prev is not None
            and prev.transport
            and state.beat(now) < prev.beat(now) - 1.0 / PPQN
        )
        if state.transport != self.running or restart:
            was = self.running
            self.running = state.transport
            if not state.transport:
                if was is not None:
                    out.append((now, [STOP]))
                self.free_at = now + period
                self.next_tick = None
            else:
                beat = state.beat(now)
                self.next_tick = max(0, math.ceil(beat * PPQN - 1e-9))
                if beat * PPQN < 1.0:  # (within the first tick of beat 0: a start)
                    out.append((now, [START]))
                    self.next_tick = 0
                else:
                    # the next sixteenth: its first tick is still ahead (no tick in the past)
                    sixteenths = min(math.ceil(beat * 4 - 1e-9), 16383)
                    out.append((now, [SONG_POSITION, sixteenths & 0x7F, sixteenths >> 7]))
                    out.append((now, [CONTINUE]))
                    self.next_tick = sixteenths * 6
        if not state.transport:
            at = self.free_at if self.free_at is not None else now
            at = max(at, now - period)  # never a burst after a pause of the service
            while at < until:
                out.append((max(at, now), [CLOCK]))
                at += period
            self.free_at = at
            return out
        assert self.next_tick is not None
        beat_now = state.beat(now)
        if self.next_tick < beat_now * PPQN - 1:  # the beat jumped ahead: skip, no burst
            self.next_tick = math.ceil(beat_now * PPQN - 1e-9)
        while True:
            k = self.next_tick
            at = state.beat_time + (k / PPQN - state.beat_origin) * 60.0 / state.bpm
            if at >= until:
                break
            out.append((max(at, now), [CLOCK]))
            self.next_tick = k + 1
        return out
