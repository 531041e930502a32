"""The tempo sources the MIDI process runs: MIDI clock in and out, tap tempo, Ableton Link.

The MIDI process is the one that writes the controls block's tempo slots (``bpm``,
``beat_origin``, ``beat_time``, ``transport``, ``tempo_source``; docs/automation.md) for
the sources that come from outside; the engine's C code derives the beat per block from
them. Which source is followed is the ``tempo_source`` slot (set by ``--tempo-source``, the
UI or a scene): 0 internal (``bpm``, tap tempo), 1 MIDI clock, 2 Link.

- MIDI clock in: clock messages from any input arrive stamped where they arrived (on the
  JACK thread, :mod:`._jackmidi`; rtmidi's delta times on ALSA) and go through a
  :class:`~floweq_tui.automation.tempo.ClockFollower`; followed while the source is MIDI.
- Tap tempo: the learnable ``tap`` control (a button) or the UI's key; the tap makes the
  source internal.
- MIDI clock out (``--clock-out``): the beat line in effect is handed to our JACK client,
  whose process callback writes the clock at its exact frames on the virtual output port
  (on ALSA, rtmidi's output from this loop: accurate to the loop's wake-ups only).
- Link (``aalink``, an optional extra): joined while the source is Link; its tempo and
  beat are read every :data:`LINK_PERIOD` and written as the beat line; a tempo set here
  (the ``bpm`` slot changed by someone else) is proposed to the session.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..automation.tempo import PPQN, BeatLine, ClockFollower, TapTempo
from ..controls import CONTROL_INDEX

INTERNAL, MIDI_CLOCK, LINK = 0, 1, 2
LINK_PERIOD = 0.02
"""Seconds between two reads of the Link session's beat line."""
CLOCK_OUT_PERIOD = 0.02
"""Seconds between two looks at the beat line while clock out runs (a change is handed to
the JACK thread within this)."""
CLOCK_OUT_REFRESH = 1.0
"""Seconds between re-anchorings of the internal beat line while clock out runs (the same
line, a fresh anchor: the engine then follows CLOCK_MONOTONIC, as the clock out does)."""
SLOTS = ("bpm", "beat_origin", "beat_time", "transport", "tempo_source")
_I = {name: CONTROL_INDEX[name] for name in (*SLOTS, "tap")}


def link_available() -> str:
    """'' when the ``aalink`` package imports, else why not (one line)."""
    try:
        import aalink  # noqa: F401
    except Exception as exc:
        return f"Ableton Link needs the 'link' extra (pip install 'floweq-tui[link]'): {exc}"
    return ""


class LinkPeer:
    """One Ableton Link peer (``aalink``), joined on :meth:`enable`."""

    def __init__(self, bpm: float) -> None:
        import asyncio

        import aalink

        self._loop = asyncio.new_event_loop()  # aalink wants one; nothing here awaits it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.link = aalink.Link(bpm, self._loop)
        self.link.quantum = 4
        self.link.enabled = True

    @property
    def peers(self) -> int:
        return int(self.link.num_peers)

    def line(self) -> BeatLine:
        """The session's beat line now, anchored on CLOCK_MONOTONIC (Link's own clock is
        another one): the beat read between two monotonic reads, the closer pair of three."""
        best: tuple[float, float, float] | None = None
        for _ in range(3):
            a = time.monotonic()
            beat = float(self.link.beat)
            b = time.monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, beat, (a + b) / 2)
            if b - a < 50e-6:
                break
        assert best is not None
        return BeatLine(float(self.link.tempo), best[1], best[2])

    def propose(self, bpm: float) -> None:
        """Ask the session for a new tempo."""
        self.link.tempo = float(bpm)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.link.enabled = False
        with contextlib.suppress(Exception):
            self._loop.close()


class TempoSync:
    """The MIDI process's tempo sources over the controls block ``ctl``.

    ``clock_out``: a callable taking (bpm, beat_origin, beat_time, running), or None: where
    the beat line in effect goes when MIDI clock out is on (our JACK client's output).
    """

    def __init__(
        self,
        ctl: np.ndarray,
        clock: Callable[[], float] = time.monotonic,
        link_factory: Callable[[float], Any] | None = None,
    ) -> None:
        self.ctl = ctl
        self.clock = clock
        self.follower = ClockFollower(join=self._beat_now)
        self.tapper = TapTempo()
        self.clock_in = 0
        """Clock messages received (all kinds)."""
        self.taps = 0
        self.link: Any = None
        self.link_error = ""
        self._link_factory = link_factory
        self._link_next = 0.0
        self._link_bpm: float | None = None
        self.clock_out: Callable[[float, float, float, bool], None] | None = None
        self._out_sent: tuple[float, ...] = ()
        self._out_anchor = 0.0
        self._out_next = 0.0

    def source(self) -> int:
        return int(round(float(self.ctl[_I["tempo_source"]])))

    def _beat_now(self, t: float) -> float:
        """The beat of the line in the controls block at ``t`` (0 if never anchored)."""
        c = self.ctl
        if c[_I["beat_time"]] == 0.0:
            return 0.0
        line = BeatLine(
            float(c[_I["bpm"]]),
            float(c[_I["beat_origin"]]),
            float(c[_I["beat_time"]]),
            bool(c[_I["transport"]] >= 0.5),
        )
        return line.beat_at(t)

    def _write(self, line: BeatLine, source: int) -> None:
        for name, value in line.as_controls(source).items():
            self.ctl[_I[name]] = value

    # ------------------------------------------------------------ input

    def clock_messages(self, records: list[tuple[float, int, int]]) -> None:
        """Clock messages (monotonic stamp, status, value): followed while the source is
        MIDI clock (the follower keeps count either way, so switching to it mid-song works
        from the next Clock)."""
        line: BeatLine | None = None
        for t, status, value in records:
            self.clock_in += 1
            got = self.follower.feed(t, status, value)
            if got is not None:
                line = got
        if line is not None and self.source() == MIDI_CLOCK:
            self._write(line, MIDI_CLOCK)

    def tap(self, t: float | None = None) -> BeatLine:
        """A tap (the ``tap`` control pressed): the tempo and the beat anchor, internal."""
        self.taps += 1
        line = self.tapper.tap(self.clock() if t is None else t, float(self.ctl[_I["bpm"]]))
        self._write(line, INTERNAL)
        return line

    # ------------------------------------------------------------ timers

    def due(self) -> float | None:
        """When :meth:`step` wants to run next (None: only on input)."""
        due = [self._link_next] if self.source() == LINK or self.link is not None else []
        if self.clock_out is not None:
            due.append(self._out_next)
        return min(due) if due else None

    def step(self, now: float) -> None:
        """Link and clock out: call when :meth:`due` (cheap otherwise)."""
        self._step_link(now)
        self._step_clock_out(now)

    def _step_link(self, now: float) -> None:
        want = self.source() == LINK
        if not want:
            if self.link is not None:
                self.link.close()
                self.link = None
            return
        if now < self._link_next:
            return
        self._link_next = now + LINK_PERIOD
        if self.link is None:
            try:
                factory = self._link_factory or LinkPeer
                self.link = factory(float(self.ctl[_I["bpm"]]))
                self.link_error = ""
                self._link_bpm = None
            except Exception as exc:  # no aalink: say why, keep the beat where it is
                self.link_error = link_available() or str(exc).splitlines()[0]
                self._link_next = now + 5.0
                return
        bpm_slot = float(self.ctl[_I["bpm"]])
        if self._link_bpm is not None and abs(bpm_slot - self._link_bpm) > 1e-6:
            self.link.propose(bpm_slot)  # someone here set a tempo: offer it to the session
        line = self.link.line()
        self._write(line, LINK)
        self._link_bpm = float(self.ctl[_I["bpm"]])

    def _step_clock_out(self, now: float) -> None:
        send = self.clock_out
        if send is None or now < self._out_next:
            return
        self._out_next = now + CLOCK_OUT_PERIOD
        c = self.ctl
        if self.source() == INTERNAL and (
            c[_I["beat_time"]] == 0.0 or now - self._out_anchor >= CLOCK_OUT_REFRESH
        ):
            # anchor the internal line on CLOCK_MONOTONIC (never written: the song starts now)
            line = BeatLine(
                float(c[_I["bpm"]]),
                float(c[_I["beat_origin"]]),
                float(c[_I["beat_time"]]),
                bool(c[_I["transport"]] >= 0.5),
            )
            if line.time == 0.0:
                line = BeatLine(line.bpm, 0.0, now, line.running)
            elif line.running:
                line = BeatLine(line.bpm, line.beat_at(now), now)
            self._write(line, INTERNAL)
            self._out_anchor = now
        key = tuple(float(c[_I[n]]) for n in SLOTS[:4])
        if key != self._out_sent:
            self._out_sent = key
            send(key[0], key[1], key[2], key[3] >= 0.5)

    def status(self) -> dict[str, Any]:
        """For the MIDI status: the follower's tempo, counts, Link's peers or error."""
        return {
            "clock_in": self.clock_in,
            "clock_bpm": self.follower.bpm if self.follower.stamps else None,
            "clock_running": self.follower.running,
            "clock_lost": self.follower.lost,
            "clock_steps": self.follower.steps,
            "clock_dropped": self.follower.dropped,
            "clock_outliers": self.follower.outliers,
            "taps": self.taps,
            "link_peers": self.link.peers if self.link is not None else None,
            "link_error": self.link_error,
            "ppqn": PPQN,
        }

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
