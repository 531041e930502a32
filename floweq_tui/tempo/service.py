"""The tempo part of the MIDI process: one source at a time into the tempo slots.

Runs on the MIDI service's thread (never on the JACK thread, never in the engine
process): the service feeds it realtime messages with their times on the wire and calls
:meth:`TempoService.poll` when it is due (Link every 50 ms, clock out every 10 ms, the
MIDI clock's loss). Sources (option ``tempo_source``):

* ``auto`` (the default): a MIDI clock while one arrives, else the internal tempo;
* ``internal``: the internal tempo only (tap tempo, ``set_bpm``), MIDI clock ignored;
* ``midi``: the MIDI clock only (the last tempo holds while none arrives);
* ``link``: an Ableton Link session (needs aalink).

Every change of source or tempo re-anchors at the same beat, so the beat never jumps
except on purpose (Start, a Song Position, a tap).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .clock_in import LOST, MidiClockFollower
from .clock_out import ClockOut
from .link import POLL, LinkFollower, LinkUnavailable
from .slots import (
    BPM_MIN,
    DEFAULTS,
    INTERNAL,
    LINK,
    MIDI_CLOCK,
    SOURCES,
    TempoSlots,
    TempoState,
    clamp_bpm,
)
from .tap import TapTempo

MODES = ("auto", "internal", "midi", "link")
CLOCK_OUT_PERIOD = 0.01
"""Seconds between looks at the clock out while it runs (it is given 30 ms ahead)."""


class TempoError(ValueError):
    """A bad tempo request (one line)."""


class TempoService:
    """The tempo sources, the tap, and the clock out, writing :class:`TempoSlots`."""

    def __init__(
        self,
        controls: NDArray[np.float64],
        options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        index: Mapping[str, int] | None = None,
    ) -> None:
        opts = dict(options or {})
        self.clock = clock
        self.slots = TempoSlots(controls, index)
        self.mode = str(opts.get("tempo_source") or "auto").lower()
        if self.mode not in MODES:
            raise TempoError(f"tempo source must be one of {', '.join(MODES)}, not {self.mode!r}")
        start = self.slots.read()
        if start.beat_time == 0.0:  # never anchored: beat 0 now, at the default tempo
            raw = self.slots._get("bpm")  # (a block of zeros: not laid out with defaults)
            bpm = float(opts.get("bpm") or (raw if raw >= BPM_MIN else DEFAULTS["bpm"]))
            self.slots.write(TempoState(clamp_bpm(bpm), 0.0, clock(), True, INTERNAL))
        self.clock_in = MidiClockFollower(self.slots.read().bpm)
        self.tapper = TapTempo()
        self.clock_out = ClockOut() if opts.get("midi_clock_out") else None
        self.send: Callable[[list[int], float], Any] | None = None
        """Where clock out goes: send(message, at) (our JACK client's clock port)."""
        self.link: LinkFollower | None = None
        self.link_error = ""
        self.realtime = 0
        """Realtime messages taken (clock, start, stop, continue, song position)."""
        self._next_link = 0.0
        if self.mode == "link":
            self.join_link()

    # ------------------------------------------------------------ sources

    @property
    def source(self) -> int:
        """The source in effect (``tempo_source``: 0 internal, 1 MIDI clock, 2 Link)."""
        return self.slots.read().source

    def join_link(self) -> None:
        """Join (or stay in) a Link session; without aalink say why in ``link_error``."""
        if self.link is not None:
            return
        try:
            self.link = LinkFollower(self.slots.read().bpm, clock=self.clock)
            self.link_error = ""
        except LinkUnavailable as exc:
            self.link_error = str(exc)

    def set_source(self, mode: str) -> dict[str, Any]:
        """The ``tempo_source`` request: auto, internal, midi or link."""
        mode = str(mode).lower()
        if mode not in MODES:
            raise TempoError(f"tempo source must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        if mode == "link":
            self.join_link()
            if self.link is None:
                raise TempoError(self.link_error)
        elif self.link is not None:
            self.link.close()
            self.link = None
        now = self.clock()
        if mode == "internal" or (mode == "auto" and not self.clock_in.alive(now)):
            self._to_internal(now)
        return self.status()

    def _to_internal(self, now: float) -> None:
        st = self.slots.read()
        if st.source != INTERNAL:
            moved = st.moved(now)
            self.slots.write(TempoState(moved.bpm, moved.beat_origin, now, st.transport, INTERNAL))

    def feed(self, t: float, status: int, d1: int = 0, d2: int = 0) -> None:
        """One realtime message (its time on the wire, CLOCK_MONOTONIC seconds)."""
        self.realtime += 1
        state = self.clock_in.feed(t, status, d1, d2)
        if state is not None and self.mode in ("auto", "midi"):
            self.slots.write(state)

    def poll(self, now: float) -> float:
        """Timers: the MIDI clock's loss, Link, the clock out. Returns when to call again."""
        due = math.inf
        st = self.slots.read()
        if st.source == MIDI_CLOCK and self.mode == "auto":
            if not self.clock_in.alive(now):
                self._to_internal(now)  # the clock went away: the tempo and beat carry on
            else:
                due = self.clock_in.last_message + LOST + 0.01
        if self.link is not None and self.mode == "link":
            if now >= self._next_link:
                self._next_link = now + POLL
                self.slots.write(self.link.poll())
            due = min(due, self._next_link)
        out, send = self.clock_out, self.send
        if out is not None and send is not None and self.slots.read().source != MIDI_CLOCK:
            for at, message in out.due(self.slots.read(), now):
                send(message, at)
            due = min(due, now + CLOCK_OUT_PERIOD)
        return due

    # ------------------------------------------------------------ requests

    def tap(self, t: float | None = None) -> dict[str, Any]:
        """A tap at ``t`` (the tapper's CLOCK_MONOTONIC time; now when None). From the
        second tap on the tempo follows the taps and the last tap falls on a beat."""
        t = self.clock() if t is None else float(t)
        bpm = self.tapper.tap(t)
        if bpm is not None:
            self._set_tempo(bpm, t, on_beat=True)
        return self.status()

    def set_bpm(self, bpm: float, t: float | None = None) -> dict[str, Any]:
        """Set the tempo, the beat continuous (the ``set_bpm`` request)."""
        if not math.isfinite(float(bpm)):
            raise TempoError(f"bpm must be a number, not {bpm!r}")
        self._set_tempo(float(bpm), self.clock() if t is None else float(t), on_beat=False)
        return self.status()

    def _set_tempo(self, bpm: float, t: float, on_beat: bool) -> None:
        st = self.slots.read()
        if st.source == MIDI_CLOCK:
            return  # the clock leads; a tap would be undone by its next tick
        if st.source == LINK and self.link is not None:
            self.link.set_tempo(bpm)  # the session follows; the next poll writes it
            self._next_link = 0.0
            return
        moved = st.moved(t, bpm)
        origin = float(round(moved.beat_origin)) if on_beat else moved.beat_origin
        self.slots.write(TempoState(moved.bpm, origin, t, st.transport, INTERNAL))

    def transport(self, run: bool, restart: bool = False) -> dict[str, Any]:
        """Start (from beat 0 with ``restart``) or stop the internal transport."""
        st = self.slots.read()
        now = self.clock()
        if st.source == INTERNAL:
            origin = 0.0 if restart else st.beat(now)
            self.slots.write(TempoState(st.bpm, origin, now, bool(run), INTERNAL))
        return self.status()

    def status(self) -> dict[str, Any]:
        """Source, tempo, beat now, transport, and what each source is doing."""
        now = self.clock()
        st = self.slots.read()
        return {
            "mode": self.mode,
            "source": SOURCES[min(max(st.source, 0), 2)],
            "bpm": st.bpm,
            "beat": st.beat(now),
            "beat_origin": st.beat_origin,
            "beat_time": st.beat_time,
            "transport": st.transport,
            "shared": self.slots.shared,
            "realtime": self.realtime,
            "clock_ticks": self.clock_in.count,
            "clock_alive": self.clock_in.alive(now),
            "link_peers": self.link.peers if self.link is not None else 0,
            "link_error": self.link_error,
            "clock_out": self.clock_out is not None and self.send is not None,
        }

    def close(self) -> None:
        """Leave a Link session."""
        if self.link is not None:
            self.link.close()
            self.link = None
