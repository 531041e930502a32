"""Motion recording: arm, move a control for a number of bars, and it loops.

The recorder samples its target control (whoever moves it: a key, the mouse, a MIDI knob)
against the engine's beat and writes the loop into the controls block's recording table
(``rec_v0`` .. , ``rec_n``, ``rec_start``, ``rec_beats``), which the engine plays
block-accurately (``path_kernel.c``). It runs in the front end (the UI's timer, the headless
loop), never on the audio thread, and allocates nothing the engine sees.

States (``rec_state``): off -> armed (``rec_arm`` set) -> recording from the next bar line
for ``rec_bars`` bars -> playing (``rec_play``). While playing with ``rec_overdub`` on, the
points where the control moves are replaced. Undo restores the loop before the last take or
overdub; clear removes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

from ..controls import CONTROL_SPEC, MOD_TARGETS, REC_POINTS, REC_STATES

BEATS_PER_BAR = 4
OFF, ARMED, RECORDING, PLAYING = range(4)
assert REC_STATES[PLAYING] == "playing"
MOVE_EPS = 1e-9
UNDO_DEPTH = 8


class ControlBlock(Protocol):
    """Read and write control values by name (a :class:`~floweq_tui.controls.Controls`)."""

    def __getitem__(self, name: str) -> float: ...

    def __setitem__(self, name: str, value: float) -> None: ...


def to_fraction(name: str, value: float) -> float:
    """A control's value as a fraction of its range (octaves for log controls), as the engine
    reads the recording."""
    s = CONTROL_SPEC[name]
    v = min(max(value, s.min), s.max)
    if s.log:
        return math.log(v / s.min) / math.log(s.max / s.min)
    return (v - s.min) / (s.max - s.min)


def from_fraction(name: str, u: float) -> float:
    s = CONTROL_SPEC[name]
    u = min(max(u, 0.0), 1.0)
    if s.log:
        return s.min * math.exp(u * math.log(s.max / s.min))
    return s.min + u * (s.max - s.min)


def loop_points(c: Mapping[str, float] | ControlBlock) -> list[float]:
    """The recorded loop's points as the controls hold them (fractions of the range)."""
    n = int(min(max(c["rec_n"], 0), REC_POINTS))
    return [c[f"rec_v{k}"] for k in range(n)]


def recording_controls(points: list[float], target: int, beats: float, start: float = 0.0,
                       play: bool = True) -> dict[str, float]:  # fmt: skip
    """The recording table's slots for a loop of ``points`` over ``beats`` from ``start``."""
    out = {
        "rec_n": float(len(points)),
        "rec_target": float(target),
        "rec_beats": float(beats),
        "rec_start": float(start),
        "rec_play": float(play and len(points) >= 2),
    }
    for k in range(REC_POINTS):
        out[f"rec_v{k}"] = float(points[k]) if k < len(points) else 0.0
    return out


class MotionRecorder:
    """Drives arm -> record -> play on a controls block; call :meth:`tick` often (each UI
    frame, at least a few times a beat) with the engine's beat (the ``beat`` meter)."""

    def __init__(self, controls: ControlBlock) -> None:
        self.c = controls
        self.undo_stack: list[dict[str, float]] = []
        self._take: list[float | None] = []
        self._start = 0.0
        self._beats = 4.0
        self._last_value: float | None = None
        self._last_index = -1
        self._overdub_pushed = False

    # ------------------------------------------------------------ state

    @property
    def state(self) -> int:
        return int(self.c["rec_state"])

    @property
    def has_loop(self) -> bool:
        """A loop is there and set to play."""
        return self.c["rec_play"] >= 0.5 and self.c["rec_n"] >= 2

    @property
    def busy(self) -> bool:
        """A take is armed or running (or asked for, or overdubbing): tick often."""
        return (
            self.c["rec_arm"] >= 0.5
            or self.state in (ARMED, RECORDING)
            or (self.c["rec_overdub"] >= 0.5 and self.c["rec_play"] >= 0.5)
        )

    @property
    def target(self) -> str:
        return MOD_TARGETS[int(min(max(self.c["rec_target"], 0), len(MOD_TARGETS) - 1))]

    def _snapshot(self) -> dict[str, float]:
        names = ("rec_n", "rec_target", "rec_beats", "rec_start", "rec_play")
        snap = {n: self.c[n] for n in names}
        snap.update({f"rec_v{k}": self.c[f"rec_v{k}"] for k in range(REC_POINTS)})
        return snap

    def _push_undo(self) -> None:
        self.undo_stack.append(self._snapshot())
        del self.undo_stack[:-UNDO_DEPTH]

    def _write(self, values: Mapping[str, float]) -> None:
        for k, v in values.items():
            self.c[k] = v

    # ------------------------------------------------------------ commands

    def arm(self) -> None:
        """Record from the next bar line (the same as setting ``rec_arm``)."""
        self.c["rec_arm"] = 1

    def cancel(self) -> None:
        """Drop an armed or running take (the loop before it stays)."""
        self.c["rec_arm"] = 0
        if self.state == RECORDING:
            self._write(self.undo_stack.pop())  # as before the take
        if self.state in (ARMED, RECORDING):
            self.c["rec_state"] = PLAYING if self.has_loop else OFF

    def undo(self) -> bool:
        """The loop before the last take or overdub; False when there is nothing to undo."""
        if not self.undo_stack:
            return False
        self.cancel()
        self._write(self.undo_stack.pop())
        self.c["rec_state"] = PLAYING if self.has_loop else OFF
        return True

    def clear(self) -> None:
        """Remove the loop (undoable)."""
        self.cancel()
        if self.c["rec_n"] > 0:
            self._push_undo()
        self.c["rec_play"] = 0
        self.c["rec_n"] = 0
        self.c["rec_state"] = OFF

    # ------------------------------------------------------------ the clock

    def tick(self, beat: float) -> None:
        """Advance the state machine at engine beat ``beat`` and sample the target."""
        if not math.isfinite(beat):
            return
        state = self.state
        if self.c["rec_arm"] >= 0.5 and state not in (ARMED, RECORDING):
            bars = int(min(max(self.c["rec_bars"], 1), 8))
            self._beats = float(bars * BEATS_PER_BAR)
            # the next bar line; a bar just begun (within an eighth) counts as now
            bar = math.floor(beat / BEATS_PER_BAR + 1e-9)
            start = bar * BEATS_PER_BAR
            self._start = start if beat - start < 0.5 else start + BEATS_PER_BAR
            self._take = [None] * REC_POINTS
            self._last_index = -1
            self.c["rec_state"] = state = ARMED
        elif self.c["rec_arm"] < 0.5 and state in (ARMED, RECORDING):
            self.cancel()
            return
        if state == ARMED and beat >= self._start:
            # the hand is heard while it records: the old loop (kept for undo) pauses
            self._push_undo()
            self.c["rec_play"] = 0
            self.c["rec_state"] = state = RECORDING
        if state == RECORDING:
            self._record(beat)
        elif state == PLAYING or (state == OFF and self.has_loop):
            if state == OFF:
                self.c["rec_state"] = PLAYING
            if self.c["rec_overdub"] >= 0.5:
                self._overdub(beat)
            else:
                self._last_value = None
        if not self.has_loop and self.state == PLAYING:
            self.c["rec_state"] = OFF

    def _index(self, beat: float, start: float, beats: float) -> int:
        phase = ((beat - start) / beats) % 1.0
        return min(int(phase * REC_POINTS), REC_POINTS - 1)

    def _record(self, beat: float) -> None:
        name = self.target
        u = to_fraction(name, self.c[name])
        end = self._start + self._beats
        if beat >= end:  # the take is over: fill the gaps and play it
            self._fill_to(REC_POINTS, u)
            self._finish()
            return
        k = min(int((beat - self._start) / self._beats * REC_POINTS), REC_POINTS - 1)
        self._fill_to(k + 1, u)

    def _fill_to(self, stop: int, u: float) -> None:
        """Points up to ``stop`` (exclusive): straight from the last sampled one to ``u``."""
        first = self._last_index + 1
        if stop <= first:
            if 0 <= self._last_index < REC_POINTS:
                self._take[self._last_index] = u
            return
        prev = self._take[self._last_index] if self._last_index >= 0 else None
        prev = u if prev is None else prev
        span = stop - self._last_index
        for k in range(first, stop):
            t = (k - self._last_index) / span
            self._take[k] = prev + t * (u - prev)
        self._last_index = stop - 1

    def _finish(self) -> None:
        pts = [0.0 if v is None else v for v in self._take]
        target = int(self.c["rec_target"])
        self._write(recording_controls(pts, target, self._beats, self._start))
        self.c["rec_arm"] = 0
        self.c["rec_state"] = PLAYING

    def _overdub(self, beat: float) -> None:
        """Replace the points where the control moves (it is not heard while the loop plays,
        so a hand on it writes over the loop)."""
        name = self.target
        v = self.c[name]
        n = int(self.c["rec_n"])
        if n < 2:
            return
        if self._last_value is None:
            self._last_value = v
            self._overdub_pushed = False
            return
        if abs(v - self._last_value) <= MOVE_EPS:
            return
        if not self._overdub_pushed:
            self._push_undo()
            self._overdub_pushed = True
        self._last_value = v
        beats = max(self.c["rec_beats"], 1.0)
        phase = ((beat - self.c["rec_start"]) / beats) % 1.0
        k = min(int(phase * n), n - 1)
        self.c[f"rec_v{k}"] = to_fraction(name, v)
