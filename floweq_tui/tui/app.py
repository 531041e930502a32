"""FloweqApp: the Textual instrument, and ``run_app(args)`` behind the `floweq-tui` command.

The UI never blocks the audio: the engine runs in its own process; the app writes controls
into the shared block and reads the meters on a timer (at most ``FPS`` times a second),
redrawing only the widgets whose inputs changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
from textual.app import App, SystemCommand
from textual.screen import Screen

from .. import presets
from ..controls import MODES
from ..engine import ENGINE, MIDI
from ..midi.state import LearnPhase, LearnState
from ..runtime.child import child_logs, log_news
from ..runtime.supervisor import ChildHealth, ChildState
from .automation_control import AutomationControl
from .automation_panel import AutomationPanel
from .bands import BandsView
from .control_group import ControlGroup
from .controller import Controller
from .curve import spectrum_db
from .driver import driver_class
from .engine_port import EngineLike
from .keys import APP_KEYS, app_bindings, display
from .messages import PointPicked, ValueAdjusted
from .meters import meter_parts, status_parts
from .midi_view import (
    MidiState,
    control_label,
    learn_notice,
    learnable_controls,
    mapping_notice,
    midi_state,
)
from .offthread import Lane, off_thread
from .rows import draw_held, hold_updates
from .screens.automation import AutomationScreen
from .screens.help import HelpScreen
from .screens.learn import LearnScreen
from .screens.main import MainScreen
from .screens.match import MatchScreen

FPS = 30  # looks at the engine a second while something changes (a look draws only news)
IDLE_FPS = 10  # looks a second once nothing changed for HOT_S: a MIDI knob is seen as soon
HOT_S = 1.0
DOZE_FPS = 1  # looks a second once nothing changed for DOZE_S either (the meters line's idle
DOZE_S = 5.0  # rate): a change a look finds, a key or news from the MIDI process (a knob
# moved: its news pipe wakes the loop at once) makes the next looks come at FPS again at once
DOZE_FPS_POLLED = 4  # ... the doze rate for an engine whose MIDI process sends no news
METERS_HZ = 5.0  # the meters text while something changes: enough to read, cheap over SSH
METERS_IDLE_HZ = 1.0  # and when idle (the levels move whenever sound plays)
SPECTRUM_HZ = 10.0  # the live spectrum, only while shown
SILENT_PEAK = 1e-6  # an output block quieter than this (-120 dBFS) is silence
SILENT_S = 0.2  # silent this long (and longer than the spectrum's 4096 samples): kept
AUTO_NUMBERS_HZ = 10.0  # the band values while they move by themselves (modulation): a
# number redrawn 30 times a second cannot be read, and each redraw costs a screen update
FOLLOW_MIN_S = 0.004  # a key's follow-up look: two audio blocks later, at least this
WATCH_S = 0.25  # what does the engine's supervisor say about its children? (one timer:
MIDI_POLL_TICKS = 2  # every other WATCH_S, port state and knob positions (every 4th while no
# MIDI came in), and every 4th, did a child write anything (libjack, rtmidi, a traceback) to
LOGS_TICKS = 4  # its log? One call_later chain instead of three Textual timers)
DOZE_WATCH_S = 1.0  # the housekeeping while dozing, riding on the doze looks, when the
# supervisor says each change of health at once (Supervisor.on_change) and the MIDI process
# sends news: a stall or an exit is then said at once, dozing or not
MIDI_DOZE_POLL_S = 10.0  # the MIDI status while dozing with news: asked on news, and this
# often anyway
HOUSE_LATE_S = 0.1  # a housekeeping tick rides on a look up to this late instead of waking
# the loop on its own (looks and housekeeping are one chain: dozing, both come together)
MATCH_GLIDE_MS = 400.0  # a match is applied with a glide this long, then the glide is restored
GC_YOUNG = 5000  # new objects between the collector's young collections (Python's default: 700)


class FloweqApp(App[int]):
    """The instrument, over a started engine (anything :class:`EngineLike`)."""

    CSS_PATH = "floweq.tcss"
    TITLE = "floweq-tui"
    BINDINGS = app_bindings()
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        engine: EngineLike,
        family: Any = None,
        notice: str = "",
        fps: float = FPS,
        preset: str | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class())
        self.engine = engine
        self.preset_in_use: str | None = preset
        """The preset recalled or saved last (the browser marks it), or None."""
        self._program = engine.controls["program"]
        self.ctrl = Controller(engine, family)
        self.ctrl.notice = lambda text: self.notify(text, timeout=3)
        self.auto = AutomationControl(self.ctrl)
        self.startup_notice = notice
        self.fps = fps
        self.idle_fps = min(IDLE_FPS, fps)
        self.doze_fps = min(DOZE_FPS, self.idle_fps)
        self._changed_at = -HOT_S  # when the frame's inputs last changed
        self._user_at = -HOT_S  # ... and the controls (a key, a knob), not only the decoding
        self._bands_at = -1e9
        self._bands_pending = False
        self._silent_since: float | None = None  # since when the output is silent
        self._meters_at = -1e9
        self._spectrum_at = -1e9
        self._auto_shown: bool | None = None
        self._status_key: tuple = ()
        self._status_st: Any = None
        self._last_inputs: tuple = ()
        self._groups_key: tuple | None = None  # the controls and knobs the groups were fed
        self._look_handle: asyncio.TimerHandle | None = None
        self._look_due = 0.0  # (loop time) the next look
        self._house_due = 0.0  # ... and the next housekeeping tick, in the same chain
        self._follow_handle: asyncio.TimerHandle | None = None
        self._house_ticks = 0
        self._midi_due = 0.0  # (time.monotonic) the next MIDI status tick
        self._midi_doze_due = 0.0  # ... and, dozing with news, the next poll without news
        self._midi_news = False  # news came since the last poll
        self._logs_due = 0.0  # ... and the next look at the children's logs
        self._midi_task: asyncio.Task | None = None
        self._spectrum: Callable[[int], np.ndarray] | None = None
        self.look_period = 1.0 / fps
        """How far ahead the next look was scheduled (a frame, or the idle or doze period)."""
        self.looks = 0
        """Looks at the engine by the frame loop (forced refreshes not counted)."""
        self.frames_drawn = 0
        """Frames whose inputs changed (the other looks draw nothing but the meters)."""
        # MIDI (engine.midi: None for an engine without MIDI)
        self.midi_view: MidiState = midi_state(None, off=engine.midi is None)
        self._midi_busy = False
        self._status_lane = Lane("floweq-ui-status")  # (one kept thread for the poll)
        self._midi_ticks = 0
        self._midi_received = -1  # MIDI messages counted at the last poll
        self._midi_quiet = False  # and none had come in since the poll before it
        self._news_fd: int | None = None  # the MIDI process's news pipe, when it has one
        self._news_of: Any = None  # ... and its owner (kept: its pipe stays open meanwhile)
        self._news_armed = False  # (the loop waits on it: between the looks, not at every one)
        self._told = False  # the supervisor says each change of health at once
        self._mapping_said = ""
        self._server_gone = False
        self.last_learn: LearnState | None = None
        # engine recovery: the engine's supervisor restarts; the app says what it reports
        self.engine_notice = ""
        self.health: dict[str, ChildHealth] = {}
        """The children's health as last said (``engine.health``)."""
        self._restarting = False
        self.audio = str(engine.state)
        """Where the audio last settled: "running" (a device) or the silent clock."""
        self.match_target: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        """The last match's target (freqs, dB), drawn behind the curve until cleared."""
        self.last_match: Any = None
        self._match_reference = ""
        self._match_screen: MatchScreen | None = None

    # ------------------------------------------------------------ lifecycle

    def get_default_screen(self) -> Screen:
        return MainScreen(self.ctrl)

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        if self.startup_notice:
            self.notify(self.startup_notice, timeout=6)
        if self.engine.status.message:
            self.notify(self.engine.status.message, timeout=4)
        self.health = dict(self.engine.health)
        self._house_due = asyncio.get_running_loop().time() + WATCH_S
        now = time.monotonic()
        self._midi_due = now + MIDI_POLL_TICKS * WATCH_S - 0.01
        self._logs_due = now + LOGS_TICKS * WATCH_S - 0.01
        self._listen()
        self._look_soon()
        self.call_later(self.poll_midi)
        self.call_after_refresh(settle_gc)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self.exit)

    def _listen(self) -> None:
        """Wait on news instead of looking for it: the supervisor's changes of health and
        the MIDI process's news pipe (when the engine has them; else the looks and the
        housekeeping keep their polled rates)."""
        loop = asyncio.get_running_loop()
        sup = getattr(self.engine, "supervisor", None)
        if sup is not None and hasattr(sup, "on_change"):

            def told() -> None:  # (on the supervisor's thread)
                with contextlib.suppress(RuntimeError):  # (the loop closed)
                    loop.call_soon_threadsafe(self._health_moved)

            sup.on_change = told
            self._told = True
        self._listen_midi(loop)

    def _listen_midi(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait on the news pipe of the engine's MIDI process (again after the engine made
        a new one); without one, doze at the polled rate."""
        if self._news_armed:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                loop.remove_reader(self._news_fd)  # type: ignore[arg-type]
            self._news_armed = False
        midi = self.engine.midi
        fd = getattr(midi, "news_fd", None)
        self._news_of, self._news_fd = midi, fd if isinstance(fd, int) else None
        self._arm_news(loop)
        polled = not (self._told and self._news_fd is not None)
        self.doze_fps = min(DOZE_FPS_POLLED if polled else DOZE_FPS, self.idle_fps)

    def _arm_news(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait on the news pipe (once: it is let go of when it fires, and taken up again
        once the looks are further than a frame apart; meanwhile each look reads it, so a
        knob turned fast wakes the loop no more often than the looks come)."""
        if self._news_armed or self._news_fd is None or self._closing or self._closed:
            return
        try:
            loop.add_reader(self._news_fd, self._news_came)
        except (OSError, ValueError, RuntimeError):
            self._news_fd = None  # (the pipe is gone: the polled rates)
            self.doze_fps = min(DOZE_FPS_POLLED, self.idle_fps)
            return
        self._news_armed = True

    def _news_came(self) -> None:
        """The MIDI process has news: look at once and ask it for its status."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            loop.remove_reader(self._news_fd)  # type: ignore[arg-type]
        self._news_armed = False
        self._take_news(loop)

    def _take_news(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the news pipe; on news, ask the MIDI process at the next tick and look
        within a frame."""
        take = getattr(self._news_of, "take_news", None)
        if take is None or not take() or self._closing or self._closed:
            return
        self._midi_quiet, self._midi_news = False, True
        if self._watch_s() == DOZE_WATCH_S:  # (else the next regular tick asks)
            self._midi_due = 0.0
            self._house_due = min(self._house_due, loop.time())
        self._changed_at = time.monotonic()  # (a knob, most likely: looks at FPS again)
        self._wake_looks()
        self._arm(loop)

    def _health_moved(self) -> None:
        """The supervisor published a change (on the loop): housekeep at once."""
        if self._closing or self._closed or self._look_handle is None:
            return
        loop = asyncio.get_running_loop()
        self._house_due = loop.time()
        self._arm(loop)

    def _watch_s(self) -> float:
        """The housekeeping's period: WATCH_S, DOZE_WATCH_S while dozing with news."""
        dozing = self.look_period > 1.0 / self.idle_fps + 1e-9
        if dozing and self._told and self._news_fd is not None:
            return DOZE_WATCH_S
        return WATCH_S

    # ------------------------------------------------------------ the frame

    def _look_soon(self) -> None:
        """The next look at the engine, one frame from now (at the idle rate once nothing
        changed for ``HOT_S``), called on the event loop itself: most looks find nothing
        new, and a Textual timer tick costs several times a bare call."""
        if self._closing or self._closed:
            return
        quiet = time.monotonic() - self._changed_at
        rate = self.fps if quiet < HOT_S else self.idle_fps if quiet < DOZE_S else self.doze_fps
        self.look_period = 1.0 / rate
        loop = asyncio.get_running_loop()
        self._look_due = loop.time() + self.look_period
        if rate < self.fps and not self._news_armed:  # idle or dozing: wait on the news
            self._arm_news(loop)
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer for the looks and the housekeeping: at the next look, or at the next
        housekeeping tick if that is due more than ``HOUSE_LATE_S`` before it (a wake-up
        of the loop costs more than what most ticks do, so they share them)."""
        if self._look_handle is not None:
            self._look_handle.cancel()  # (no-op once it ran)
        when = self._look_due
        if self._house_due < when - HOUSE_LATE_S:
            when = self._house_due
        self._look_handle = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        """The chain's timer: the housekeeping if due, then the look if due."""
        if self._closing or self._closed:
            return
        loop = asyncio.get_running_loop()
        if loop.time() + 0.001 >= self._house_due:  # (a timer may fire a hair early)
            self._house_due = loop.time() + self._watch_s()
            if not self._housekeep():
                return
        if loop.time() + 0.001 >= self._look_due:
            self._look()  # (arms the next tick)
        else:
            self._arm(loop)

    def _wake_looks(self) -> None:
        """Something changed: if the next look is further than a frame away (idle or
        dozing), bring it to one frame from now."""
        handle = self._look_handle
        if handle is None or handle.cancelled():
            return
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:  # (called with no loop running: nothing is scheduled then)
            return
        if self._look_due - now > 1.0 / self.fps:
            self._look_soon()

    def _look(self) -> None:
        if self._closing or self._closed:  # quitting: the widgets are going away
            return
        self.looks += 1
        if self.engine.midi is not self._news_of:  # (the engine made a new MIDI process)
            self._listen_midi(asyncio.get_running_loop())
        elif self._news_fd is not None and not self._news_armed:  # (news since it fired)
            self._take_news(asyncio.get_running_loop())
        hold_updates()  # (the rows that change are drawn at once at the end)
        try:
            try:
                if self.auto.tick():  # a motion take: look often while it is armed or runs
                    self._changed_at = time.monotonic()
                self.refresh_from_engine()
            finally:
                draw_held()
        except Exception as exc:  # as a timer's callback would: the app shows it and exits
            self._handle_exception(exc)
            return
        self._look_soon()

    def _follow_up(self) -> None:
        """One more look a couple of audio blocks after a key: the engine has applied the
        change by then, so the decoded curve and bands are drawn with it now instead of at
        the next regular look, up to a frame later."""
        if self._follow_handle is not None or self._closing or self._closed:
            return
        st = self.engine.status
        block = (st.blocksize or 128) / float(st.samplerate or 48000)
        delay = min(max(2 * block, FOLLOW_MIN_S), 1.0 / self.fps)

        def look() -> None:
            self._follow_handle = None
            if self._closing or self._closed:
                return
            try:
                self.refresh_from_engine()
            except Exception as exc:  # as in _look
                self._handle_exception(exc)

        self._follow_handle = asyncio.get_running_loop().call_later(delay, look)

    def _frame_inputs(self) -> tuple:
        """What the curve, map, groups and bands are drawn from, read cheaply: the controls,
        the decoded parameters and point, the sample rate and the polled knob positions, and
        last the point the modulators or a path move (what moves by itself, not a user)."""
        e = self.engine
        m = e.meters
        return (
            e.controls.array.tobytes(),
            m.params.tobytes(),
            (m["zx"], m["zy"], m["zz"]),
            e.status.samplerate,
            self.ctrl.knobs,
            self.ctrl.spectrum,
            self.match_target is not None and len(self.match_target[0]),
            self.auto.moving_point(),
        )

    def refresh_from_engine(self, force: bool = False) -> None:
        """Look at the engine once; redraw only what changed.

        Each look compares the frame's inputs with the ones last drawn: a control changed
        by a key, a MIDI knob or another writer is drawn at the first look that sees it,
        and a look that finds nothing new draws nothing. Looks come ``fps`` times a second
        while something changes, ``IDLE_FPS`` once nothing did for ``HOT_S`` (``DOZE_FPS``
        after ``DOZE_S``; a change found or a key brings the full rate back at once). The
        spectrum (only while shown) and the meters line (audio levels: they move whenever
        sound plays) have rates of their own, the meters' lower unless a key or a knob
        moved within ``HOT_S``; the band values follow at most ``AUTO_NUMBERS_HZ`` while
        only the decoding moves (a modulator; the curve keeps the full rate). The status
        line is laid out again only when something it shows changed. ``force``: draw the
        frame now (a key was handled, a notice changed).
        """
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is None or not main.ready:
            return
        now = time.monotonic()
        inputs = self._frame_inputs()
        last = self._last_inputs
        changed = force or inputs != last
        # a key or a knob (the controls, knobs, rate, spectrum switch or match target), not only
        # the decoded parameters or the moving point moving by themselves (a modulator, a path)
        user = force or (
            changed and (not last or inputs[0] != last[0] or inputs[3:-1] != last[3:-1])
        )
        if changed:
            self._changed_at = now
            self._wake_looks()
        if user:
            self._user_at = now
        if force:
            self._follow_up()
        hot = now - self._changed_at < HOT_S
        slack = min(0.5 / (self.fps if hot else self.idle_fps), 0.05)  # looks may come early
        spectrum_due = self.ctrl.spectrum and now - self._spectrum_at >= 1 / SPECTRUM_HZ - slack
        if spectrum_due and self._silent_output(now):
            spectrum_due = False  # silent: the spectrum drawn last is the floor already
        meters_hz = METERS_HZ if now - self._user_at < HOT_S else METERS_IDLE_HZ
        meters_due = now - self._meters_at >= 1.0 / meters_hz - slack
        bands_due = user or now - self._bands_at >= 1.0 / AUTO_NUMBERS_HZ - slack
        state = self.engine_notice or self.engine.state
        status_key = (state, self.midi_view, self.ctrl.mode_label, self.ctrl.model_name)
        status_due = status_key != self._status_key or self.engine.status != self._status_st
        if not (changed or spectrum_due or meters_due or status_due):
            if not (self._bands_pending and bands_due):
                return
        if changed or spectrum_due:
            self._last_inputs = inputs
            if force or spectrum_due:
                self._spectrum_at = now
            self._draw_curve(main, force or spectrum_due)
        if changed:
            self.frames_drawn += 1
            self._draw_controls(main, force)
        if changed or self._bands_pending:
            self._bands_pending = not bands_due  # (drawn at the next look that is due)
            if bands_due:
                self._bands_at = now
                main.bands.update_values()
        auto_on = self.engine.controls["auto_gain"] >= 0.5
        if meters_due or auto_on != self._auto_shown:
            self._meters_at, self._auto_shown = now, auto_on
            m = self.engine.meters.snapshot()
            # both lines lay out for the width they have when drawn (see LineView)
            tempo = self.ctrl.tempo_tag(m.get("bpm_now", 0.0))
            main.meters_line.feed(partial(meter_parts, m, auto_on, tempo=tempo))
        if status_due:  # (laid out again only when something it shows changed)
            self._status_key, self._status_st = status_key, self.engine.status
            main.status_line.feed(
                partial(
                    status_parts,
                    self.ctrl.mode_label,
                    state,
                    self.engine.status,
                    self.ctrl.model_name,
                    self.midi_view,
                )
            )

    def _silent_output(self, now: float) -> bool:
        """True once the output has been silent (every look saw a silent block) for longer
        than the spectrum's ring and a spectrum was computed since: no need for another."""
        if self.engine.meters["peak_out"] >= SILENT_PEAK:
            self._silent_since = None
            return False
        if self._silent_since is None:
            self._silent_since = now
        ring_s = 4096 / float(self.engine.status.samplerate or 48000)
        return self._spectrum_at - self._silent_since >= max(SILENT_S, ring_s + 0.05)

    def _draw_curve(self, main: MainScreen, new_spectrum: bool) -> None:
        """Feed the curve its inputs (it redraws only if they differ from the drawn ones)."""
        ctrl = self.ctrl
        c = self.engine.controls
        params = tuple(np.round(ctrl.shown_params(), 4))
        active = tuple(c[f"active{b}"] >= 0.5 for b in range(5))
        fs = float(self.engine.status.samplerate or 48000)
        bypass = c["bypass"] >= 0.5
        tag = "MUTED" if c["mute"] >= 0.5 else ("BYPASS" if bypass else "")
        if not ctrl.spectrum:
            self._spectrum = None
        elif new_spectrum or self._spectrum is None:
            # a new ring; the curve computes its spectrum for the width it is drawn at
            self._spectrum = partial(spectrum_db, self.engine.meters.ring("out", 4096), fs)
        inputs = (params, active, fs, round(c["strength"], 4), bypass, tag, self.match_target)
        main.curve.feed(inputs, self._spectrum)

    def _draw_controls(self, main: MainScreen, force: bool = False) -> None:
        """Feed the map and the groups (each redraws only on change; the bands are fed
        beside, at most AUTO_NUMBERS_HZ while only the decoding moves); fed while hidden too
        (narrow terminals): shown again after a resize, they are current. The groups show
        the controls and the knobs only: they are fed when those changed (or ``force``), not
        while only the decoding or the moving point moves."""
        ctrl = self.ctrl
        c = self.engine.controls
        point, encoded = ctrl.point()
        rng = 4.0 if (c["extend"] >= 0.5 and ctrl.mode == 0) else 2.0
        if encoded or ctrl.mode == 1:
            rng = max(rng, min(4.0, max((abs(v) for v in point), default=0) * 1.1))
            rng = 2.0 if rng <= 2.0 else 4.0
        anchors = tuple(ctrl.anchors())
        ab = (int(c["anchor_a"]), int(c["anchor_b"])) if ctrl.mode == 1 else None
        main.lmap.feed(ctrl.dims, rng, point, anchors, ab, encoded)
        main.lmap.feed_motion(self.auto.moving_point(), tuple(self.auto.path_line()))
        groups_key = (c.array.tobytes(), ctrl.knobs)
        if force or groups_key != self._groups_key:
            self._groups_key = groups_key
            for g in main.groups:
                g.update_values()

    def on_value_adjusted(self, message: ValueAdjusted) -> None:
        self.refresh_from_engine(force=True)

    def on_point_picked(self, message: PointPicked) -> None:
        self.ctrl.set_point(message.x, message.y)
        self.refresh_from_engine(force=True)

    # ------------------------------------------------------------ actions

    def _changed(self) -> None:
        self.refresh_from_engine(force=True)

    def action_nudge(self, name: str, direction: int, coarse: bool = False) -> None:
        """Step a control by its fine (or coarse) step."""
        self.ctrl.nudge(name, direction, coarse)
        self._changed()

    def action_toggle(self, name: str) -> None:
        """Toggle an on/off control."""
        self.ctrl.toggle(name)
        self._changed()

    def action_cycle_mode(self) -> None:
        """Cycle Traverse > Semantic > Manual."""
        self.ctrl.cycle_mode(1)
        self._changed()

    def action_set_mode(self, mode: int) -> None:
        """Switch to a mode (Manual starts from the decoded parameters)."""
        self.ctrl.set_mode(mode)
        self._changed()

    def action_dims(self, dims: int) -> None:
        """Choose a model with 1, 2 or 3 latent dimensions."""
        self.ctrl.select_dims(dims)
        self._changed()

    def action_beta(self, direction: int) -> None:
        """Choose the next/previous beta for the current latent size."""
        self.ctrl.cycle_beta(direction)
        self._changed()

    def action_anchor(self, which: str, direction: int) -> None:
        """Step anchor A or B through the anchor labels."""
        self.ctrl.step_anchor(which, direction)
        self._changed()

    def action_tap(self) -> None:
        """Tap tempo: taps set the internal tempo and the beat (the first is a downbeat)."""
        self.ctrl.tap()
        self._changed()

    def action_spectrum(self) -> None:
        """Show or hide the live output spectrum behind the curve."""
        self.ctrl.spectrum = not self.ctrl.spectrum
        self._changed()

    def action_ab_toggle(self) -> None:
        """A/B: hear the other slot (the engine crossfades)."""
        heard = self.ctrl.ab_toggle()
        match = ", loudness matched" if self.engine.controls["ab_match"] >= 0.5 else ""
        self.notify(f"A/B: hearing {heard}{match}", timeout=2)
        self._changed()

    def action_ab_copy(self) -> None:
        """A/B: copy the slot heard into the other."""
        to = self.ctrl.ab_copy()
        self.notify(f"A/B: copied {'A' if to == 'B' else 'B'} to {to}", timeout=2)
        self._changed()

    def action_export(self) -> None:
        """Write the EQ in effect for other programs (all formats) and say where."""
        try:
            files = self.ctrl.export()
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error", timeout=6)
            return
        self.notify(f"exported {len(files)} files to {files[0].parent}", timeout=6)

    def action_match(self) -> None:
        """Match to a reference file (the input: a file or the last seconds of live input)."""
        if any(isinstance(s, MatchScreen) for s in self.screen_stack):
            return
        fs = float(self.engine.status.samplerate or 48000)
        screen = MatchScreen(self.engine.history, fs, self.ctrl.model, self._match_reference)
        self._match_screen = screen
        self.push_screen(screen, self._match_done)

    def _match_done(self, result: Any) -> None:
        if result is None:
            return
        from ..match import session_controls

        self.last_match = result
        if self._match_screen is not None:
            self._match_reference = self._match_screen.reference_used
        c = self.engine.controls
        values = session_controls(result, self.ctrl.model_index)
        glide = c["glide_ms"]
        self.ctrl.set("glide_ms", max(glide, MATCH_GLIDE_MS))
        for name, value in values.items():
            self.ctrl.set(name, value)
        fit = result.latent or result.params
        freqs, db = result.shown_target(fit)
        self.match_target = (tuple(np.round(freqs, 2)), tuple(np.round(db, 2)))

        def restore() -> None:  # after the glide, unless someone changed the glide meanwhile
            if self.engine.controls["glide_ms"] == max(glide, MATCH_GLIDE_MS):
                self.ctrl.set("glide_ms", glide)

        self.set_timer(MATCH_GLIDE_MS / 1000.0 + 0.2, restore)
        parts = []
        if result.latent is not None:
            z = ", ".join(f"{v:+.2f}" for v in result.latent.z)
            parts.append(f"map ({z}) {result.latent.error_db:.1f} dB")
        if result.params is not None:
            parts.append(f"params {result.params.error_db:.1f} dB")
        note = self._match_screen.note if self._match_screen is not None else ""
        self.notify(
            f"matched: {'; '.join(parts)} off (flat {result.flat_error_db:.1f} dB); "
            "C hides the target" + (f"; {note}" if note else ""),
            timeout=6,
        )
        self._changed()

    def action_clear_match(self) -> None:
        """Hide the last match's target curve."""
        self.match_target = None
        self._changed()

    def action_automation(self) -> None:
        """Show the automation screen (modulators, figure, path, motion recording)."""
        if not isinstance(self.screen, AutomationScreen):
            self.push_screen(AutomationScreen(self.auto))

    def action_presets(self) -> None:
        """The preset browser."""
        from .screens.presets import PresetsScreen

        if not isinstance(self.screen, PresetsScreen):
            self.push_screen(PresetsScreen())

    def recall_preset(self, name: str) -> str:
        """Recall a preset (the engine morphs there); one line saying what happened."""
        try:
            p = presets.load(name)
        except presets.PresetError as exc:
            return f"not recalled: {exc}"
        values, notice = p.to_controls(self.ctrl.names, self.ctrl.anchor_labels)
        number = presets.load_bank().number_of(name)
        presets.recall(self.engine.controls, values)
        self.engine.controls["program"] = -1 if number is None else number  # fed back by MIDI
        self._program = self.engine.controls["program"]
        self.preset_in_use = name
        self._changed()
        return f"recalled {name!r}" + (f"; {notice}" if notice else "")

    def save_preset(self, name: str) -> str:
        """Save the sound now as ``name`` (replacing a preset of that name); one line."""
        controls = self.engine.controls.as_dict()
        try:
            p = presets.Preset.from_controls(
                name, controls, self.ctrl.names, self.ctrl.anchor_labels,
                self.engine.meters.params,  # the 13 parameters in effect, for the miniature
            )  # fmt: skip
            presets.save(p)
        except (presets.PresetError, OSError) as exc:
            return f"not saved: {exc}"
        self.preset_in_use = name
        return f"saved {name!r}"

    def watch_program(self) -> None:
        """A preset recalled by MIDI (Program Change, the preset buttons): say which."""
        program = self.engine.controls["program"]
        if program == self._program:
            return
        self._program = program
        if program < 0:
            return
        bank = presets.load_bank()
        name = bank.programs.get(int(program))
        where = presets.describe_program(int(program))
        if name is not None:
            self.preset_in_use = name
        said = f"{where}: " + (f"preset {name!r}" if name else "no preset there")
        if bank.notice:
            self.notify(f"{said} ({bank.notice})", severity="warning", timeout=8)
        else:
            self.notify(said, timeout=3)

    def action_help(self) -> None:
        """Show every key binding."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # ------------------------------------------------------------ MIDI

    def _housekeep(self) -> bool:
        """Watch the engine's children every tick (about every ``WATCH_S``, riding on the
        looks: a stall is said within a second), the MIDI ports and knobs every
        MIDI_POLL_TICKS (in a task of its own: a slow answer never holds the watch up), the
        children's logs every LOGS_TICKS. False if it failed (the app then shows it and
        exits)."""
        self._house_ticks += 1
        now = time.monotonic()
        try:
            self.watch_engine()
            if now >= self._midi_due:
                self._poll_midi_tick(now)
            if now >= self._logs_due:
                self._logs_due = now + LOGS_TICKS * WATCH_S - 0.01
                self.watch_logs()
        except Exception as exc:  # as a timer's callback would: the app shows it and exits
            self._handle_exception(exc)
            return False
        return True

    def _poll_midi_tick(self, now: float) -> None:
        """The timer's poll: twice a second, once a second while no MIDI message came in
        since the poll before (a knob's first move is seen within a second, then sooner).
        With the MIDI process's news: at once on news, else every MIDI_DOZE_POLL_S while
        dozing."""
        self._midi_ticks += 1
        self._midi_due = now + MIDI_POLL_TICKS * WATCH_S - 0.01
        if not self._midi_news:
            if self._watch_s() == DOZE_WATCH_S:
                if now < self._midi_doze_due:
                    return
            elif self._midi_ticks % 2 == 0 and self._midi_quiet:
                return
        self._midi_news = False
        self._midi_doze_due = now + MIDI_DOZE_POLL_S
        if self._midi_task is not None and not self._midi_task.done():
            return
        self._midi_task = asyncio.get_running_loop().create_task(self.poll_midi())
        self._midi_task.add_done_callback(self._midi_polled)

    def _midi_polled(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._handle_exception(task.exception())  # type: ignore[arg-type]

    async def poll_midi(self) -> None:
        """Port state and knob positions, asked off the UI thread."""
        if self._midi_busy:
            return
        midi = self.engine.midi
        if midi is None:
            self.midi_view = midi_state(None, off=True)
            self.ctrl.knobs = {}
            return
        self._midi_busy = True
        try:
            st = await self._status_lane.call(midi.status)
        except Exception as exc:
            self.midi_view = midi_state(None, error=str(exc) or "no answer")
            self.ctrl.knobs = {}
        else:
            self.midi_view = midi_state(st)
            self._midi_quiet = st.received == self._midi_received and (
                st.learn.phase is LearnPhase.IDLE
            )
            self._midi_received = st.received
            self.ctrl.knobs = dict(st.knobs)
            if st.server_gone != self._server_gone:  # the JACK server left or came back
                self._server_gone = st.server_gone
                if st.server_gone:
                    self.notify("MIDI: JACK server gone; waiting for it", severity="warning")
                else:
                    self.notify("MIDI: JACK server back, ports open again", timeout=4)
            notice = mapping_notice(st)
            if notice != self._mapping_said:  # said once per new error, at any size
                self._mapping_said = notice
                if notice:
                    self.notify(notice, severity="warning", timeout=15)
        finally:
            self._midi_busy = False

    def focused_control(self) -> str | None:
        """The control behind the focused group's selected value (for MIDI learn)."""
        focused = self.focused
        if isinstance(focused, (ControlGroup, BandsView)):
            return self.ctrl.control_of(focused.current)
        if isinstance(focused, AutomationPanel):
            return focused.control()
        return None

    async def action_midi_learn(self, control: str = "") -> None:
        """MIDI learn: the given control, or the focused group's selected value."""
        control = control or (self.focused_control() or "")
        if not control:
            self.notify(
                "MIDI learn: select a value first (tab, n/p), or ctrl+p 'MIDI learn'",
                severity="warning",
                timeout=4,
            )
            return
        midi = self.engine.midi
        if midi is None:
            self.notify("MIDI is off (started with --no-midi)", severity="warning", timeout=4)
            return
        if isinstance(self.screen, LearnScreen):
            return
        try:
            await off_thread(midi.learn_start, control)
        except Exception as exc:
            self.notify(f"MIDI learn failed: {exc}", severity="error", timeout=5)
            return
        self.last_learn = None
        self.push_screen(LearnScreen(midi, control), self._learn_finished)

    def _learn_finished(self, result: LearnState | None) -> None:
        result = result or LearnState(LearnPhase.CANCELLED)
        self.last_learn = result
        text, severity = learn_notice(result)
        self.notify(text, severity=severity, timeout=5)  # type: ignore[arg-type]

    # ------------------------------------------------------------ engine recovery

    def watch_engine(self) -> None:
        """Say what the engine's supervisor reports about its children (it restarts them)."""
        self.watch_program()
        health = dict(self.engine.health)
        for name, new in health.items():
            old = self.health.get(name)
            if old is not None and new != old:
                for text, severity in health_notices(old, new):
                    self.notify(text, severity=severity, timeout=6)  # type: ignore[arg-type]
        self.health = health
        notice = engine_notice(health.get(ENGINE))
        if notice != self.engine_notice:
            self.engine_notice = notice
            self.refresh_from_engine(force=True)
        state = str(self.engine.state)
        if state in _SETTLED and state != self.audio:
            self.audio = state
            self.run_worker(self._audio_moved(), group="audio")

    async def _audio_moved(self) -> None:
        """The audio moved between a device and the silent clock: say where it is now."""
        refresh = getattr(self.engine, "refresh_status", None)
        if refresh is not None:
            with contextlib.suppress(Exception):  # the last status then
                await off_thread(refresh)
        text, severity = audio_notice(self.engine.status)
        self.notify(text, severity=severity, timeout=6)  # type: ignore[arg-type]
        self.refresh_from_engine(force=True)

    def watch_logs(self) -> None:
        """Say in one line what a child wrote to its log (its output never reaches the
        screen); at most one notice per log every few seconds, however much it writes."""
        for news in log_news(child_logs(self.engine)):
            self.notify(news.summary(), severity="warning", timeout=8)

    async def action_restart_engine(self) -> None:
        """Restart the engine process now (the controls are kept)."""
        if self._restarting:
            self.notify("the engine is already restarting", timeout=3)
            return
        self._restarting = True
        self.engine_notice = "engine stopped: restarting…"
        self.refresh_from_engine(force=True)
        try:
            with contextlib.suppress(Exception):  # the supervisor's health says why
                await off_thread(self.engine.restart)
        finally:
            self._restarting = False
            self.watch_engine()
            self.refresh_from_engine(force=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette lists every instrument action, plus Textual's own."""
        yield from super().get_system_commands(screen)
        seen = set()
        for keys, action, desc, _ in APP_KEYS:
            if action in seen or action == "quit":
                continue
            seen.add(action)
            yield SystemCommand(
                desc,
                f"key: {display(keys)}",
                lambda a=action: self.call_later(self.run_action, a),
            )
        for i, label in enumerate(self.ctrl.anchor_labels):
            yield SystemCommand(
                f"Anchor A: {label}", "set semantic anchor A", lambda i=i: self._set("anchor_a", i)
            )
            yield SystemCommand(
                f"Anchor B: {label}", "set semantic anchor B", lambda i=i: self._set("anchor_b", i)
            )
        for i, name in enumerate(self.ctrl.names):
            yield SystemCommand(
                f"Model: {name}", "use this model", lambda i=i: self._set("model", i)
            )
        for name in learnable_controls():
            yield SystemCommand(
                f"MIDI learn: {control_label(name)}",
                f"bind a knob or button to {name}",
                lambda n=name: self.call_later(self.run_action, f"midi_learn({n!r})"),
            )

    def _set(self, name: str, value: float) -> None:
        self.ctrl.set(name, value)
        self._changed()


def settle_gc() -> None:
    """Once the app is up: what start-up made (Textual's DOM and styles, NumPy, the models)
    is frozen, never scanned by the cyclic collector again, and young collections come
    every ``GC_YOUNG`` new objects. A frame makes a few hundred objects: with Python's
    defaults the collector ran several times a second and now and then over everything
    (tens of ms each time), about a tenth of the UI's time while the curve moves."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG, gc.get_threshold()[0]), older, oldest)


# ===================================================================== engine health

_WHO = {ENGINE: "engine", MIDI: "MIDI"}
_SETTLED = ("running", "no audio device: silent clock")
"""Engine states worth a notice when the audio moves between them (others are passing)."""


def health_notices(old: ChildHealth, new: ChildHealth) -> list[tuple[str, str]]:
    """What to tell the user about a child whose health changed: [(text, severity)].

    Counters, not states, so that nothing is missed between two looks.
    """
    who = _WHO.get(new.name, new.name)
    bad = "error" if new.name == ENGINE else "warning"
    out: list[tuple[str, str]] = []
    if new.crashes > old.crashes:
        hint = " (ctrl+r restarts by hand)" if new.name == ENGINE else ""
        out.append((f"{new.reason}: restarting it{hint}", bad))
    if new.stalls > old.stalls:
        if new.state is ChildState.STALLED:
            out.append(
                (f"{who} stalled: {new.reason} (replaced after {new.retry_in:.0f} s)", "warning")
            )
        else:
            out.append((f"{who} stalled for a moment ({new.reason})", "warning"))
    elif old.state is ChildState.STALLED and new.up and new.pid == old.pid:
        out.append((f"{who} resumed after {new.stalled_for:.1f} s", "information"))
    if new.failures > old.failures:
        out.append(
            (
                f"{who} restart {new.failures} failed: {new.error}; next try in {new.retry_in:g} s",
                bad,
            )
        )
    if new.restarts > old.restarts and not new.handover:
        kept = " (controls kept)" if new.name == ENGINE else ""
        out.append((f"{who} restarted{kept}", "information"))
    return out


def engine_notice(h: ChildHealth | None) -> str:
    """The status line's engine part while the engine is down ("" when it runs)."""
    if h is None or h.handover:
        return ""
    if h.state is ChildState.RESTARTING:
        return "engine stopped: restarting…"
    if h.state is ChildState.FAILED:
        return f"engine stopped: retry in {h.retry_in:g} s (ctrl+r now)"
    if h.state is ChildState.STALLED:
        return "engine stalled"
    return ""


def audio_notice(st: Any) -> tuple[str, str]:
    """(text, severity) when the audio moved between a device and the silent clock."""
    if str(st.state) == "running":
        api = f" ({st.hostapi})" if st.hostapi else ""
        return f"audio on {st.device}{api}", "information"
    return st.message or str(st.state), "warning"


__all__ = ["FloweqApp", "MODES"]
