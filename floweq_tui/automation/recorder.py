"""Motion recording: arm, move a control (or two) for a number of bars, and it loops.

The recorder samples its target control (whoever moves it: a key, the mouse, a MIDI knob),
and its second target too when ``rec_target2`` names one (a drag on the latent map moves x
and y together; two knobs moved at once), against the engine's beat, and writes the loop into
the controls block's recording table (``rec_v0`` .. and, for the second lane, ``rec_w0`` ..,
``rec_n``, ``rec_lanes``, ``rec_start``, ``rec_beats``), which the engine plays
block-accurately (``path_kernel.c``). It runs in the front end (the UI's timer, the headless
loop), never on the audio thread, and allocates nothing the engine sees.

States (``rec_state``): off -> armed (``rec_arm`` set) -> recording from the next bar line
for ``rec_bars`` bars -> playing (``rec_play``). While playing with ``rec_overdub`` on, the
points where a recorded control moves are replaced (each lane on its own). Undo restores the
loop before the last take or overdub (both lanes); clear removes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from ..controls import CONTROL_SPEC, MOD_TARGETS, REC_POINTS, REC_STATES, REC_TARGETS2

BEATS_PER_BAR = 4
OFF, ARMED, RECORDING, PLAYING = range(4)
assert REC_STATES[PLAYING] == "playing"
MOVE_EPS = 1e-9
UNDO_DEPTH = 8
LANE_PREFIX = ("rec_v", "rec_w")
"""The point slots of each lane: the first target's, the second target's."""


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


def _index(v: float, n: int) -> int:
    return int(min(max(v, 0), n - 1))


def take_targets(c: Mapping[str, float] | ControlBlock) -> tuple[int, ...]:
    """The targets (MOD_TARGETS indices) the next take records: ``rec_target``, and
    ``rec_target2`` when it names another one."""
    t1 = _index(c["rec_target"], len(MOD_TARGETS))
    t2 = _index(c["rec_target2"], len(REC_TARGETS2)) - 1
    return (t1,) if t2 < 0 or t2 == t1 else (t1, t2)


def loop_targets(c: Mapping[str, float] | ControlBlock) -> tuple[int, ...]:
    """The targets the loop plays, one per lane (as the engine reads them)."""
    t = take_targets(c)
    return t if c["rec_lanes"] >= 1.5 else t[:1]


def targets_text(targets: Sequence[int]) -> str:
    """The targets as one word: "x", "x+y"."""
    return "+".join(MOD_TARGETS[t] for t in targets)


def loop_points(c: Mapping[str, float] | ControlBlock, lane: int = 0) -> list[float]:
    """The recorded loop's points of one lane as the controls hold them (fractions of the
    range); the second lane's ([] when the loop holds one)."""
    if lane and c["rec_lanes"] < 1.5:
        return []
    n = int(min(max(c["rec_n"], 0), REC_POINTS))
    return [c[f"{LANE_PREFIX[lane]}{k}"] for k in range(n)]


def recording_controls(points: Sequence[float], target: int, beats: float, start: float = 0.0,
                       play: bool = True, points2: Sequence[float] | None = None,
                       target2: int | None = None) -> dict[str, float]:  # fmt: skip
    """The recording table's slots for a loop of ``points`` over ``beats`` from ``start``,
    with a second lane of ``points2`` (as many) for ``target2`` when both are given (else one
    lane, and ``rec_target2``, the next take's choice, is left as it is)."""
    two = points2 is not None and target2 is not None and target2 != target
    if two and len(points2 or ()) != len(points):
        raise ValueError("the two lanes of a recording hold as many points")
    out = {
        "rec_n": float(len(points)),
        "rec_target": float(target),
        "rec_lanes": 2.0 if two else 1.0,
        "rec_beats": float(beats),
        "rec_start": float(start),
        "rec_play": float(play and len(points) >= 2),
    }
    lanes = (points, points2 if two and points2 is not None else ())
    for prefix, pts in zip(LANE_PREFIX, lanes, strict=True):
        for k in range(REC_POINTS):
            out[f"{prefix}{k}"] = float(pts[k]) if k < len(pts) else 0.0
    if two and target2 is not None:
        out["rec_target2"] = float(target2 + 1)
    return out


class MotionRecorder:
    """Drives arm -> record -> play on a controls block; call :meth:`tick` often (each UI
    frame, at least a few times a beat) with the engine's beat (the ``beat`` meter)."""

    def __init__(self, controls: ControlBlock) -> None:
        self.c = controls
        self.undo_stack: list[dict[str, float]] = []
        self._take: list[list[float | None]] = []
        """One list of REC_POINTS points per lane of the take (None: not sampled yet)."""
        self._targets: tuple[int, ...] = ()
        """The take's targets, chosen when it was armed."""
        self._start = 0.0
        self._beats = 4.0
        self._last_values: list[float | None] = [None, None]
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
        """The first target's name."""
        return MOD_TARGETS[_index(self.c["rec_target"], len(MOD_TARGETS))]

    @property
    def targets(self) -> str:
        """What the next take records: "x", "x+y"."""
        return targets_text(take_targets(self.c))

    def _snapshot(self) -> dict[str, float]:
        names = ("rec_n", "rec_target", "rec_target2", "rec_lanes", "rec_beats", "rec_start",
                 "rec_play")  # fmt: skip
        snap = {n: self.c[n] for n in names}
        for prefix in LANE_PREFIX:
            snap.update({f"{prefix}{k}": self.c[f"{prefix}{k}"] for k in range(REC_POINTS)})
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
        """Advance the state machine at engine beat ``beat`` and sample the targets."""
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
            self._targets = take_targets(self.c)
            self._take = [[None] * REC_POINTS for _ in self._targets]
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
                self._last_values = [None, None]
        if not self.has_loop and self.state == PLAYING:
            self.c["rec_state"] = OFF

    def _record(self, beat: float) -> None:
        us = [self._fraction(t) for t in self._targets]
        end = self._start + self._beats
        if beat >= end:  # the take is over: fill the gaps and play it
            self._fill_to(REC_POINTS, us)
            self._finish()
            return
        k = min(int((beat - self._start) / self._beats * REC_POINTS), REC_POINTS - 1)
        self._fill_to(k + 1, us)

    def _fraction(self, target: int) -> float:
        name = MOD_TARGETS[target]
        return to_fraction(name, self.c[name])

    def _fill_to(self, stop: int, us: Sequence[float]) -> None:
        """Points up to ``stop`` (exclusive), in each lane: straight from the last sampled
        one to that lane's ``u``."""
        first = self._last_index + 1
        last = self._last_index
        for take, u in zip(self._take, us, strict=True):
            if stop <= first:
                if 0 <= last < REC_POINTS:
                    take[last] = u
                continue
            prev = take[last] if last >= 0 else None
            prev = u if prev is None else prev
            span = stop - last
            for k in range(first, stop):
                t = (k - last) / span
                take[k] = prev + t * (u - prev)
        if stop > first:
            self._last_index = stop - 1

    def _finish(self) -> None:
        lanes = [[0.0 if v is None else v for v in take] for take in self._take]
        t = self._targets
        self._write(
            recording_controls(lanes[0], t[0], self._beats, self._start, True,
                               lanes[1] if len(t) > 1 else None, t[1] if len(t) > 1 else None)
        )  # fmt: skip
        self.c["rec_arm"] = 0
        self.c["rec_state"] = PLAYING

    def _overdub(self, beat: float) -> None:
        """Replace the points where a recorded control moves, each lane on its own (a
        control is not heard while the loop plays it, so a hand on it writes over the loop)."""
        n = int(self.c["rec_n"])
        if n < 2:
            return
        beats = max(self.c["rec_beats"], 1.0)
        phase = ((beat - self.c["rec_start"]) / beats) % 1.0
        k = min(int(phase * n), n - 1)
        targets = loop_targets(self.c)
        for lane, target in enumerate(targets):
            name = MOD_TARGETS[target]
            v = self.c[name]
            last = self._last_values[lane]
            self._last_values[lane] = v
            if last is None:
                if lane == 0:
                    self._overdub_pushed = False
                continue
            if abs(v - last) <= MOVE_EPS:
                continue
            if not self._overdub_pushed:
                self._push_undo()
                self._overdub_pushed = True
            self.c[f"{LANE_PREFIX[lane]}{k}"] = to_fraction(name, v)
