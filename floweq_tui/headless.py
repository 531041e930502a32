"""The front end with no screen: run a started engine until SIGINT, SIGTERM or SIGHUP.

It prints what a person reading a log (or `journalctl`) needs: one line at start, one about
MIDI, a status line every few seconds, a line whenever the engine's supervisor reports
that the engine or MIDI changed state (restarting a child is its job, not this loop's;
"engine: stalled ..." when the engine shows no sign of life), one when the audio moves
between a device and the silent clock (a device lost, or one that came up later), one when
MIDI's own state changes (a JACK server gone and back, a mapping error), and one naming a
child's log when that child wrote something there (libjack, rtmidi, a traceback: a child's
output goes to its log, see ``runtime/child.py``).

SIGUSR1 is a tap of tap tempo (``kill -USR1 PID``, e.g. from a footswitch script); a MIDI
button learned to ``tap`` works the same with or without a screen.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from typing import Any

from .automation import describe_running
from .automation.recorder import MotionRecorder
from .automation.tempo import TapTempo
from .runtime.child import child_logs, log_news
from .runtime.signals import SignalWait

LOGS_EVERY = 1.0
"""Seconds between two looks at the children's output logs."""


def _db(v: float) -> str:
    return f"{20 * math.log10(v):6.1f}" if v > 1e-10 else "  -inf"


def status_line(engine: Any) -> str:
    """One line of meters for the headless mode and logs: levels, the latent point, the
    engine's state, then the tempo, its source and the running modulators."""
    m = engine.meters.snapshot()
    peak = _db(m["peak_out"])
    return (
        f"in {m['lufs_in']:6.1f} LUFS  out {m['lufs_out']:6.1f} LUFS  peak {peak} dBFS"
        f"  auto {m['auto_gain_db']:+5.1f} dB  xruns {int(m['xruns'])}  cpu {100 * m['cpu']:4.1f}%"
        f"  z ({m['zx']:+.2f}, {m['zy']:+.2f}, {m['zz']:+.2f})  {engine.state}"
        f"{automation_text(engine)}"
    )


def automation_text(engine: Any) -> str:
    """'  tempo 120.0 BPM internal; mods: x sine 4bar d0.50' ('' without a controls block)."""
    controls = getattr(engine, "controls", None)
    if controls is None:
        return ""
    try:
        return f"  tempo {describe_running(controls)}"
    except (KeyError, ValueError, IndexError):
        return ""


def midi_summary(engine: Any, timeout: float = 10.0) -> str:
    """One line about MIDI ('' when MIDI is off)."""
    midi = engine.midi
    if midi is None:
        return ""
    try:
        midi.ready(timeout)
        return midi.status().summary()
    except Exception as exc:
        return f"MIDI: {exc}"


def _midi_now(engine: Any) -> str | None:
    """MIDI's one line now, or None if the service cannot answer at once."""
    midi = engine.midi
    if midi is None:
        return None
    try:
        return midi.status().summary() if midi.ready(0.5) else None
    except Exception:
        return None


def start_line(engine: Any) -> str:
    """What runs where, in one line."""
    st = engine.status
    api = f" ({st.hostapi})" if st.hostapi else ""
    return (
        f"floweq-tui: {st.state} on {st.device}{api}, {st.samplerate} Hz, "
        f"{st.blocksize} frames, {st.channels} ch, source {st.source}"
    )


LOOK_S = 0.25
RECORD_LOOK_S = 0.02
"""While a motion take is armed or running: the recorder samples the knob this often."""
"""How often the loop looks at the engine's health (a stall is said within about 0.75 s)."""
_SETTLED = ("running", "no audio device: silent clock")
"""Engine states worth a line when the audio moves between them (others are passing)."""


def audio_line(engine: Any) -> str:
    """The audio moved between a device and the silent clock: where it is now, one line."""
    with contextlib.suppress(Exception):  # a status the engine cannot give now: the last one
        engine.refresh_status()
    st = engine.status
    if str(st.state) == "running" or not st.message:
        return start_line(engine)
    return f"floweq-tui: {st.message}"


def run(engine: Any, status_every: float = 5.0, notice: str = "", preset: str | None = None) -> int:
    """Serve until a stop signal; the caller stops the engine and saves the session."""
    # before the first line (whoever reads it may stop us); kept to the end, so that a
    # second signal cannot cut the caller's shutdown short. The handlers take no lock
    # (runtime/signals.py says why).
    signals = SignalWait((signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1))
    tapper = TapTempo()
    say = _printer()
    say(start_line(engine))
    if engine.status.message:
        say(f"floweq-tui: {engine.status.message}")
    if notice:
        say(f"floweq-tui: {notice}")
    if preset:
        say(f"floweq-tui: preset {preset!r} recalled")
    if auto := automation_text(engine):
        say(f"floweq-tui:{auto}")
    midi_line = midi_summary(engine)
    if midi_line:
        say(f"floweq-tui: {midi_line}")
    last = next_logs = time.monotonic()
    program = _program(engine)
    said = {name: _health_key(h) for name, h in engine.health.items()}
    audio = str(engine.state)
    recorder = MotionRecorder(engine.controls) if hasattr(engine, "controls") else None
    while True:
        signals.wait(RECORD_LOOK_S if recorder is not None and recorder.busy else LOOK_S)
        came = signals.drain()
        if any(sig != signal.SIGUSR1 for sig, _ in came):
            break
        for _, t in came:  # taps, stamped when they came
            say(f"floweq-tui: {tap(engine, tapper, t)}")
        if recorder is not None:  # a MIDI button on rec_arm records a knob's motion
            with contextlib.suppress(KeyError, ValueError, IndexError):
                recorder.tick(engine.meters["beat"])
        state = str(engine.state)
        if state in _SETTLED and state != audio:
            audio = state
            say(audio_line(engine))
        # the engine's supervisor restarts its children; say what it reports
        for name, h in engine.health.items():
            key = _health_key(h)
            if (before := said.get(name)) != key:
                said[name] = key
                if h.news:  # (a device hand-over shows in the engine state)
                    say(f"floweq-tui: {_health_line(before, h)}")
        if time.monotonic() >= next_logs:
            next_logs = time.monotonic() + LOGS_EVERY
            for news in log_news(child_logs(engine)):
                say(f"floweq-tui: {news.summary()}")
            now = _midi_now(engine)  # None while it cannot answer (restarting)
            if midi_line and now is not None and now != midi_line:
                midi_line = now
                say(f"floweq-tui: {now}")
        if (now_program := _program(engine)) != program:  # recalled by MIDI
            program = now_program
            if now_program is not None and now_program >= 0:
                say(f"floweq-tui: {program_line(now_program)}")
        if status_every > 0 and time.monotonic() - last >= status_every:
            last = time.monotonic()
            say(status_line(engine))
    say("floweq-tui: stopped")
    return 0


def _program(engine: Any) -> int | None:
    """The program recalled last (Program Change, the preset buttons), or None."""
    controls = getattr(engine, "controls", None)
    try:
        return int(controls["program"]) if controls is not None else None
    except (KeyError, ValueError, TypeError):
        return None


def program_line(number: int) -> str:
    """'program 3: preset 'warm'' (or that the bank has none there)."""
    from . import presets

    bank = presets.load_bank()
    name = bank.programs.get(number)
    where = presets.describe_program(number)
    line = f"{where}: preset {name!r}" if name else f"{where}: no preset there"
    return f"{line} ({bank.notice})" if bank.notice else line


def tap(engine: Any, tapper: TapTempo, t: float) -> str:
    """One tap of tap tempo (SIGUSR1 in headless): the internal tempo and the beat anchor."""
    controls = engine.controls
    line = tapper.tap(t, float(controls["bpm"]))
    for name, value in line.as_controls(0).items():
        controls[name] = value
    return f"tap {tapper.count}: {line.bpm:.1f} BPM internal"


def _health_line(before: tuple[Any, ...] | None, h: Any) -> str:
    """A child's health in one line. A crash and its restart seen in one look (the MIDI
    process is back within a supervisor tick) say both: why it went, and that it is back."""
    if h.up and before is not None and h.crashes > before[2] and h.reason:
        n = h.restarts
        return f"{h.name}: {h.reason}; restarted (pid {h.pid}, {n} restart{'s' * (n != 1)})"
    return h.summary()


def _health_key(h: Any) -> tuple[Any, ...]:
    """What makes a child's health worth a line: its state and counters."""
    return (h.state, h.restarts, h.crashes, h.failures, h.stalls)


def _printer() -> Any:
    def say(line: str) -> None:
        try:
            print(line, flush=True)
        except (BrokenPipeError, OSError):  # the terminal or log went away (SIGHUP)
            pass

    return say
