"""Tempo: where the beat comes from (internal with tap tempo, MIDI clock in, Ableton Link),
and MIDI clock out.

Every source ends in the same five control slots (see docs/midi.md, "Tempo"): ``bpm``,
``beat_origin``, ``beat_time``, ``transport``, ``tempo_source``. The engine computes the
beat at each block start from them, in C: beat(t) = beat_origin + (t - beat_time) * bpm / 60.
The pieces here are pure (fed with times and messages, tested without ports), except
:mod:`.link` (aalink) and :mod:`.service` (what the MIDI process runs).
"""

from __future__ import annotations

from .slots import SOURCES, TempoSlots, TempoState, beat_at

__all__ = ["SOURCES", "TempoSlots", "TempoState", "beat_at"]
