"""The tempo's control slots, written by name in the contract's order.

Writers write ``beat_time`` and ``beat_origin`` first and ``bpm`` last, so a block that
reads a half-written anchor is corrected by the next one. A layout without the slots (a
controls block from before them) is still accepted: the values are then kept here only,
so every writer and test runs the same code either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..controls import CONTROL_INDEX

INTERNAL, MIDI_CLOCK, LINK = 0, 1, 2
SOURCES = ("internal", "midi clock", "link")
"""``tempo_source``'s values, by number."""
SLOT_NAMES = ("beat_time", "beat_origin", "transport", "tempo_source", "bpm")
"""The slots in the order they are written (``bpm`` last)."""
BPM_MIN, BPM_MAX = 20.0, 300.0
DEFAULTS = {"bpm": 120.0, "beat_origin": 0.0, "beat_time": 0.0, "transport": 1.0,
            "tempo_source": 0.0}  # fmt: skip


@dataclass(frozen=True)
class TempoState:
    """One anchor: the beat was ``beat_origin`` at ``beat_time`` (CLOCK_MONOTONIC seconds)
    and moves at ``bpm`` while ``transport`` runs."""

    bpm: float = 120.0
    beat_origin: float = 0.0
    beat_time: float = 0.0
    transport: bool = True
    source: int = INTERNAL

    def beat(self, t: float) -> float:
        """The beat position at time ``t`` (held at ``beat_origin`` while stopped)."""
        if not self.transport:
            return self.beat_origin
        return beat_at(self.beat_origin, self.beat_time, self.bpm, t)

    def moved(self, t: float, bpm: float | None = None) -> TempoState:
        """The same beat, re-anchored at ``t`` (optionally at a new tempo): continuous."""
        return TempoState(
            clamp_bpm(self.bpm if bpm is None else bpm),
            self.beat(t),
            t,
            self.transport,
            self.source,
        )


def beat_at(beat_origin: float, beat_time: float, bpm: float, t: float) -> float:
    """The contract's formula: beat_origin + (t - beat_time) * bpm / 60."""
    return beat_origin + (t - beat_time) * bpm / 60.0


def clamp_bpm(bpm: float) -> float:
    """``bpm`` within the slot's range (20..300)."""
    return min(max(float(bpm), BPM_MIN), BPM_MAX)


class TempoSlots:
    """Read and write the five tempo slots of a controls array, by name.

    ``index`` maps slot names to positions (default: the controls layout); names it lacks
    are kept in this object only.
    """

    def __init__(self, array: NDArray[np.float64], index: Mapping[str, int] | None = None) -> None:
        self.array = array
        idx = CONTROL_INDEX if index is None else index
        self.index = {n: idx[n] for n in SLOT_NAMES if n in idx and idx[n] < len(array)}
        self.shadow: dict[str, float] = {n: DEFAULTS[n] for n in SLOT_NAMES}

    @property
    def shared(self) -> bool:
        """True when all five slots are in the shared array (the engine sees them)."""
        return len(self.index) == len(SLOT_NAMES)

    def _get(self, name: str) -> float:
        i = self.index.get(name)
        return float(self.array[i]) if i is not None else self.shadow[name]

    def _set(self, name: str, value: float) -> None:
        self.shadow[name] = value
        i = self.index.get(name)
        if i is not None:
            self.array[i] = value

    def read(self) -> TempoState:
        """The anchor in the slots now."""
        return TempoState(
            clamp_bpm(self._get("bpm")),
            self._get("beat_origin"),
            self._get("beat_time"),
            self._get("transport") >= 0.5,
            int(round(self._get("tempo_source"))),
        )

    def write(self, state: TempoState) -> None:
        """Write ``state`` in the contract's order (anchor first, ``bpm`` last)."""
        self._set("beat_time", float(state.beat_time))
        self._set("beat_origin", float(state.beat_origin))
        self._set("transport", 1.0 if state.transport else 0.0)
        self._set("tempo_source", float(min(max(state.source, 0), 2)))
        self._set("bpm", clamp_bpm(state.bpm))
