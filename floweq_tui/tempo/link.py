"""Following an Ableton Link session (the optional ``aalink`` package).

Link's clock is not ``time.monotonic()`` (on Linux it is CLOCK_MONOTONIC_RAW: 0.24 s
apart on this machine, and drifting by the clock's slew), so an anchor is a pair read side
by side: the session's beat now and our monotonic time now. :meth:`LinkFollower.poll` reads
one every :data:`POLL` seconds; between polls the engine's own extrapolation at the
session's tempo is exact to the clock's slew (parts per million).

The beat's phase within the quantum (4: a bar of 4/4) is what Link shares between peers;
the beat count itself is each peer's own.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from typing import Any

from .slots import LINK, TempoState, clamp_bpm

POLL = 0.05
"""Seconds between looks at the session (tempo changes reach the slots within this)."""
QUANTUM = 4.0
MISSING = (
    "Ableton Link needs the aalink package: pip install 'floweq-tui[link]' (or pip install aalink)"
)


class LinkUnavailable(RuntimeError):
    """aalink is not installed (the message says how to get it)."""


class LinkFollower:
    """A Link peer that follows (and may set) the session's tempo and beat phase."""

    def __init__(
        self,
        bpm: float = 120.0,
        quantum: float = QUANTUM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            import aalink
        except ImportError as exc:
            raise LinkUnavailable(MISSING) from exc
        self.clock = clock
        # aalink wants an event loop for its callbacks; we use none (only polled
        # properties), so a loop that never runs is enough
        self._loop = asyncio.new_event_loop()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # ("loop" is deprecated)
            self.link: Any = aalink.Link(clamp_bpm(bpm), self._loop)
        self.link.quantum = quantum
        self.link.enabled = True

    @property
    def peers(self) -> int:
        """Other peers in the session."""
        return int(self.link.num_peers)

    def poll(self) -> TempoState:
        """The session's anchor now: (beat, our time) read side by side, and its tempo."""
        before = self.clock()
        beat = float(self.link.beat)
        after = self.clock()
        return TempoState(clamp_bpm(self.link.tempo), beat, (before + after) / 2, True, LINK)

    def set_tempo(self, bpm: float) -> None:
        """Propose a tempo to the session (every peer follows)."""
        self.link.tempo = clamp_bpm(bpm)

    def close(self) -> None:
        """Leave the session."""
        self.link.enabled = False
        self._loop.close()
