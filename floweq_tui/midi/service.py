"""The MIDI service: its own process, attached to the controls block by name.

Why a process: Python work competing for the GIL with the audio callback causes dropouts,
so MIDI is handled here, never in the engine process.

Why no Python on the JACK thread: rtmidi calls its input callback from its client's JACK
process thread, which the whole graph waits for, so a Python callback (waiting for this
process's GIL) stalls the graph; and rtmidi's own queue writes a line to stderr per message
that finds it full (639 xruns in a 5 s flood, measured). So JACK input comes through
:mod:`._jackmidi` (C rings filled on the JACK thread, an eventfd wake-up, a flood collapsed
to the last message per control), ALSA input from rtmidi's ordinary input thread into the
inbox (:attr:`MidiService.queue`). The loop (:meth:`MidiService.run`) sleeps until input,
a request or a timer, drains every port in one batch and writes only the last value per
control into the shared block; the audio thread applies it at its next block.

The main loop also, every 20 ms while controls change (100 ms when quiet, 1 s when no
output is heard: none open, or on JACK none connected; and always before applying input),
compares the mapped controls with what it last saw per controller and sends feedback for
changes made elsewhere (UI, presets, automation), never for what just came in; rescans the
ports (hot-plug: a controller that disappears is closed and picked up again by name when it
comes back) when our JACK client says a port came, went or was connected (every second on
ALSA, and every SCAN_SLOW seconds anyway), retries ports that errored, reopens everything
after a JACK server restart, and every second reloads the mapping file if it was edited.

Requests from the parent (:class:`~.client.MidiProcess`) are answered between batches by
:meth:`floweq_tui.runtime.Channel.serve` from :attr:`MidiService.handlers`, a table of
command name -> method; replies are the typed objects of :mod:`.state` (status, knobs,
learn) or plain values.

The pieces: :mod:`.links` (ports and hot-plug), :mod:`.learn` (the learn state machine),
this module (the mapping file, drain, feedback, the dispatch table, the loop).
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import ab
from ..controls import CONTROL_INDEX, N_CONTROLS, Controls, SharedBlock
from ..runtime import Channel, Handler, one_line
from .learn import Learn
from .links import SERVER_CHECK, Link, Links
from .mapping import (
    Binding,
    Event,
    MappingError,
    default_bindings,
    default_mapping_table,
    event_from_bytes,
    event_from_mido,
    with_binding,
)
from .programs import ACTIONS, Programs, model_curve
from .state import KnobInfo, LearnState, MidiStatus
from .store import MidiMap, default_path, load, load_parsed, save
from .tempo import TempoSync

QUEUE_MAX = 4096
"""Messages taken from one port in one batch at most (also the bound of the injection queue)."""
COMMAND_PERIOD = 0.005
"""How often requests are looked at when the loop has no pipe to wait on (tests)."""
FEEDBACK_PERIOD = 0.02
"""How often feedback and learn are looked at while something changes (or learn waits)."""
FEEDBACK_IDLE = 0.1
"""... and after FEEDBACK_BUSY seconds without a change (the first change after a quiet
spell reaches LED rings within this; the ones after it within FEEDBACK_PERIOD)."""
FEEDBACK_BUSY = 1.0
FEEDBACK_QUIET = 1.0
"""... and when no output is heard (no link has an output, or on JACK none of our output
ports is connected to anything: no LED ring to update): changes made elsewhere are taken
into account before the next input is applied anyway (soft takeover, see drain)."""
SCAN_PERIOD = 1.0
SCAN_SLOW = 5.0
"""With our JACK client, the port list is read when the server says something changed (and
this often anyway, in case); the mapping file is still looked at every SCAN_PERIOD."""


class MidiService:
    """Everything but the process entry point; testable with a plain numpy array and no ports.

    ``options``: midi_in, midi_out, midi_api, midi_virtual, audio_hostapi (see
    :class:`~.links.Links`), midi_config (mapping file, None = the user's), model_count.
    """

    def __init__(
        self,
        controls: np.ndarray,
        options: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctl = controls
        self.opts = dict(options or {})
        self.clock = clock
        self.queue: deque[tuple[Link, Any]] = deque(maxlen=QUEUE_MAX)
        """The inbox: ALSA input and messages injected by tests or other code (bounded: a
        flood drops the oldest); our JACK ports are read directly."""
        self.received = 0
        self.ignored = 0
        self.batches = 0
        self.writes = 0
        self.last_message = ""
        cfg = self.opts.get("midi_config")
        self.map_path = Path(cfg) if cfg else default_path()
        self.map = MidiMap()
        self.map_error = ""
        """The first mapping file error, one line ('' when the file loaded whole)."""
        self.map_errors: tuple[str, ...] = ()
        self.map_line = 0
        self.map_mtime: float | None = None
        self._load_map()
        model_count = int(self.opts.get("model_count") or 64)
        self.links = Links(self.opts, clock, self._bindings_for, model_count, self.queue)
        self.learn = Learn(self._bindings_for, self._commit, clock)
        self.programs = Programs(
            controls, self.opts.get("model_names"), self.opts.get("anchor_labels"), model_curve()
        )
        """Program Change, the preset buttons and the program fed back (docs/presets.md)."""
        self.tempo = TempoSync(controls, clock)
        """The tempo sources: MIDI clock in and out, tap tempo, Link (see :mod:`.tempo`)."""
        self.clock_out_error = ""
        if self.opts.get("clock_out"):
            self.tempo.clock_out = self._send_clock
        self._fb_key: tuple[Any, ...] = ()
        self._fb_changed = 0.0
        self._rescan = True
        self._scanned_at = -1e9
        self.handlers: dict[str, Handler] = {
            "status": self.status,
            "knobs": self.knobs,
            "ports": self.ports,
            "learn": self.learn_start,
            "learn_status": lambda: self.learn.state,
            "learn_cancel": self.learn.cancel,
            "learn_commit": self.learn.commit,
            "bindings": self.bindings,
            "set_bindings": self.set_bindings,
            "reset_bindings": self.reset_bindings,
            "defaults": self.defaults,
            "export": self.export,
            "import": self.import_,
            "reload": self.reload_or_raise,
            "tempo": self.tempo_status,
            "tap": self.tempo.tap,
        }
        """The requests the service answers: command -> method (keyword arguments)."""

    @property
    def hw(self) -> Link:
        """The controller link."""
        return self.links.hw

    @property
    def virt(self) -> Link:
        """The virtual port's link."""
        return self.links.virt

    # ------------------------------------------------------------ mapping file

    def _load_map(self) -> str:
        """(Re)read the mapping file, keeping every valid binding; say what was not taken.

        A bad binding is dropped (its controller keeps the others); a controller with
        nothing valid, or a file that does not parse at all, keeps the mapping in use (the
        defaults at start). Any error leaves the file untouched: saving is refused.
        """
        try:
            self.map_mtime = self.map_path.stat().st_mtime
        except OSError:
            self.map_mtime = None
        try:
            parsed = load_parsed(self.map_path)
        except MappingError as exc:
            self.map_errors = (str(exc),)
            self.map_error = str(exc)
            self.map_line = _line_of(str(exc))
            return self.map_error
        new = parsed.map
        for name in parsed.broken:  # nothing usable: keep what it had
            if self.map.has(name):
                new.set(name, self.map.bindings_for(name))
        self.map = new
        self.map_errors = tuple(parsed.errors)
        self.map_line = parsed.first_line
        self.map_error = ""
        if parsed.errors:
            more = len(parsed.errors) - 1
            self.map_error = parsed.errors[0] + (f" (and {more} more)" if more else "")
            self.map_error += "; kept the valid bindings" if len(new.controllers) else ""
        return self.map_error

    def _bindings_for(self, controller: str) -> list[Binding]:
        return self.map.bindings_for(controller)  # (the map object changes on reload)

    def reload(self) -> str:
        """Re-read the mapping file and rebind the links; '' or why (part of) the file was
        not taken."""
        before = self.map
        error = self._load_map()
        if self.map is not before:
            self.links.rebind_all()
        return error

    def _save(self) -> str:
        """Save the mapping file; never over a file that failed to load (it would be lost)."""
        if self.map_error:
            return f"not saved: {self.map_path} is malformed ({self.map_error}); fix or remove it"
        try:
            save(self.map, self.map_path)
            self.map_mtime = self.map_path.stat().st_mtime
        except OSError as exc:
            return f"not saved: {one_line(exc)}"
        return ""

    def _check_file(self) -> None:
        try:
            mtime: float | None = self.map_path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime != self.map_mtime and mtime is not None:
            self.reload()

    def _commit(self, link: Link, binding: Binding) -> str:
        """Store a learned binding for the link's controller; '' or why it was not saved."""
        new = with_binding(self.map.bindings_for(link.controller), binding)
        self.map.set(link.controller, new)
        self.links.rebind(link)
        return self._save()

    def close(self) -> None:
        """Close every port (the service is stopping)."""
        self.tempo.close()
        self.links.close()

    # ------------------------------------------------------------ tempo

    def _send_clock(self, bpm: float, origin: float, btime: float, running: bool) -> None:
        self.clock_out_error = self.links.clock_out(bpm, origin, btime, running)

    def tempo_status(self) -> dict[str, Any]:
        """The tempo sources: the clock follower, taps, Link, clock out."""
        sent, dropped = self.links.clock_counts()
        return {
            **self.tempo.status(),
            "clock_out": self.tempo.clock_out is not None,
            "clock_out_error": self.clock_out_error,
            "clock_ticks_sent": sent,
            "clock_dropped": dropped,
        }

    # ------------------------------------------------------------ input

    def _pending_messages(self) -> list[tuple[Link, Any]]:
        """One batch: what waits on each input (our JACK ports, or an rtmidi queue), plus
        the inbox (ALSA input and injected messages)."""
        batch: list[tuple[Link, Any]] = []
        for link in self.links:
            port = link.in_port
            if port is None:
                continue
            try:
                take = getattr(port, "take", None)
                if take is not None:
                    batch.extend((link, m) for m in take())
                    continue
                for _ in range(QUEUE_MAX):
                    got = port.get_message()
                    if got is None:
                        break
                    batch.append((link, got[0]))
            except Exception as exc:  # a port that errors is closed and retried
                if link is self.hw:  # (the virtual port also lists ports: kept)
                    link.fail_input(exc)
                else:
                    link.error = one_line(exc)
        queue = self.queue
        while queue and len(batch) < 2 * QUEUE_MAX:
            batch.append(queue.popleft())
        return batch

    def drain(self) -> int:
        """Apply one batch: the last value per control. Returns how many messages."""
        clock = self.links.take_clock()
        if clock:
            self.tempo.clock_messages(clock)
        batch = self._pending_messages()
        if not batch:
            return 0
        self._look_at_controls(self.clock())  # changes made elsewhere first (soft takeover)
        pending: dict[str, float] = {}
        writers: dict[str, Link] = {}
        actions: list[tuple[str, float, int, dict[str, float]]] = []
        ctl = self.ctl
        learn = self.learn

        def get(name: str) -> float:
            v = pending.get(name)
            return float(ctl[CONTROL_INDEX[name]]) if v is None else v

        count = len(batch)
        for link, msg in batch:
            try:
                if isinstance(msg, Event):
                    ev: Event | None = msg
                elif isinstance(msg, list):
                    ev = event_from_bytes(msg)
                else:
                    ev = event_from_mido(msg)
                if ev is None:
                    self.ignored += 1
                    continue
                link.messages += 1
                self.received += 1
                if learn.active:
                    learn.feed(link, ev)
                    continue
                for name, value in link.mapper.feed(ev, get):
                    if name == "tap":  # a press is a tap (the slot itself stays 0)
                        if value > 0.5:
                            self.tempo.tap()
                        continue
                    if name in ACTIONS:  # in order, after the writes before it
                        actions.append((name, value, ev.channel, dict(pending)))
                        pending.clear()
                        continue
                    pending[name] = value
                    writers[name] = link
            except Exception:  # garbage must never stop the service
                self.ignored += 1
        self.batches += 1
        for name, value, channel, before in actions:
            self._write(before, writers)
            if name == "program":
                self.programs.channel = channel
            said = self.programs.act(name, value)
            if said:
                self.last_message = said
        self._write(pending, writers)
        return count

    def _write(self, pending: dict[str, float], writers: dict[str, Link]) -> None:
        """The last value per control into the block."""
        ctl = self.ctl
        for name, value in pending.items():
            if name in ab.ACTIONS:  # an A/B button: a toggle (or copy) of the slots
                ab.apply_action(Controls(ctl), name, value)
            else:
                ctl[CONTROL_INDEX[name]] = value
            writers[name].last_seen[name] = value
            self.writes += 1
        if pending:
            name = next(reversed(pending))
            self.last_message = f"{name} = {pending[name]:.4g}"
            self._fb_changed = self.clock()  # (what came in is never fed back: last_seen)

    # ------------------------------------------------------------ feedback

    def _feedback_key(self) -> tuple[Any, ...]:
        """What feedback depends on: the block, and each link's memory and output (a rebind
        or a newly opened output starts a new, empty ``last_seen``)."""
        return (
            self.ctl.tobytes(),
            *((id(k.last_seen), len(k.last_seen), k.out_port is not None) for k in self.links),
        )

    def feedback(self) -> int:
        """Send mapped controls that changed elsewhere; re-arm their soft takeover."""
        values = self.ctl.copy()
        sent = 0
        program = self.programs.feedback()  # the program recalled (by anyone), once
        for link in self.links:
            if program and link.out_port is not None:
                try:
                    for data in program:
                        link.out_port.send_message(data)
                        sent += 1
                except Exception as exc:
                    link.fail_output(exc)
            mapper = link.mapper
            for name in mapper.controls:
                v = float(values[CONTROL_INDEX[name]])
                if link.last_seen.get(name) == v:
                    continue
                had = name in link.last_seen
                link.last_seen[name] = v
                if had:
                    mapper.external_change(name)
                if link.out_port is None:
                    continue
                for data in mapper.feedback(name, v):
                    try:
                        link.out_port.send_message(data)
                        sent += 1
                    except Exception as exc:
                        link.fail_output(exc)
                        break
        return sent

    # ------------------------------------------------------------ requests (the handlers)

    def status(self) -> MidiStatus:
        """API, both links, the mapping file, counters, the learn, and the knobs."""
        return MidiStatus(
            api=self.links.api,
            api_reason=self.links.api_reason,
            hw=(hw := self.hw.info()),
            virtual=(virt := self.virt.info()),
            server_gone=self.links.server_down,
            jack_cycles=int(self.links.jack.cycles) if self.links.jack is not None else 0,
            client_restarts=self.links.client_restarts,
            mapping_file=str(self.map_path),
            mapping_error=self.map_error,
            mapping_errors=self.map_errors,
            mapping_line=self.map_line,
            received=self.received + hw.collapsed + virt.collapsed,
            ignored=self.ignored,
            batches=self.batches,
            writes=self.writes,
            last=self.last_message,
            learn=self.learn.state,
            knobs=self.knobs(),
            pid=os.getpid(),
        )

    def knobs(self) -> dict[str, KnobInfo]:
        """Every absolute knob by control; the controller's wins where both links map one."""
        ctl = self.ctl

        def get(name: str) -> float:
            return float(ctl[CONTROL_INDEX[name]])

        out: dict[str, KnobInfo] = {}
        for link in (self.virt, self.hw):
            out.update(link.mapper.knobs(get, link.controller))
        return out

    def ports(self) -> dict[str, Any]:
        inputs, outputs = self.links.port_lists()
        return {"api": self.links.api, "inputs": inputs, "outputs": outputs}

    def learn_start(self, control: str, learn_timeout: float | None = None) -> LearnState:
        return self.learn.start(control, learn_timeout)

    def bindings(self, controller: str | None = None) -> dict[str, Any]:
        name = controller or self.links.active_controller()
        return {
            "controller": name,
            "custom": self.map.has(name),
            "bindings": [b.to_dict() for b in self.map.bindings_for(name)],
        }

    def set_bindings(
        self, bindings: list[dict[str, Any]], controller: str | None = None
    ) -> dict[str, Any]:
        name = controller or self.links.active_controller()
        self.map.set(name, [Binding.from_dict(d) for d in bindings])
        self.links.rebind_all(name)
        error = self._save()
        return {"saved": not error, "error": error}

    def reset_bindings(self, controller: str | None = None) -> dict[str, Any]:
        name = controller or self.links.active_controller()
        self.map.controllers.pop(name, None)
        self.links.rebind_all(name)
        error = self._save()
        return {"saved": not error, "error": error}

    def defaults(self) -> dict[str, Any]:
        return {
            "bindings": [b.to_dict() for b in default_bindings()],
            "table": default_mapping_table(),
        }

    def export(self, path: str) -> str:
        return str(save(self.map, path))

    def import_(self, path: str) -> dict[str, Any]:
        if not Path(path).is_file():
            raise MappingError(f"{path}: no such file")
        new = load(path)  # a MappingError leaves everything as it was
        for name, bindings in new.controllers.items():
            self.map.set(name, bindings)
        self.links.rebind_all()
        error = self._save()
        return {"controllers": list(new.controllers), "error": error}

    def reload_or_raise(self) -> None:
        """The ``reload`` request: a file that does not load is an error reply."""
        error = self.reload()
        if error:
            raise MappingError(error)

    # ------------------------------------------------------------ loop

    def housekeeping(self, now: float, next_fb: float, next_scan: float) -> tuple[float, float]:
        """The timers: learn and feedback, then hot-plug and the mapping file. Returns the
        next due times (feedback, scan)."""
        if now >= next_fb:
            self.learn.poll()
            self._look_at_controls(now)
            busy = now - self._fb_changed < FEEDBACK_BUSY or self.learn.active
            if busy:
                next_fb = now + FEEDBACK_PERIOD
            elif self.links.feedback_heard():
                next_fb = now + FEEDBACK_IDLE
            else:
                next_fb = now + FEEDBACK_QUIET
        if now >= next_scan:
            links = self.links
            next_scan = now + (SERVER_CHECK if links.server_down else SCAN_PERIOD)
            if links.client_stuck(now):
                links.restart_client()
                self._rescan = True  # (reconnect the controller at once)
            events = links.change_events and not links.server_down
            if not events or self._rescan or now - self._scanned_at >= SCAN_SLOW:
                self._rescan, self._scanned_at = False, now
                try:
                    links.scan()
                except Exception as exc:
                    self.hw.error = one_line(exc)
            self._check_file()
        return next_fb, next_scan

    def _look_at_controls(self, now: float) -> None:
        """Feedback for the mapped controls changed elsewhere since the last look (if any)."""
        key = self._feedback_key()
        if key != self._fb_key:  # nothing changed since the last look: nothing to send
            try:
                self.feedback()
            except Exception as exc:
                self.hw.error = one_line(exc)
            self._fb_key = self._feedback_key()
            self._fb_changed = now

    def note_port_change(self) -> bool:
        """Our JACK client said the graph changed: rescan at the next look. True if so."""
        if self.links.ports_changed():
            self._rescan = True
            return True
        return False

    def news_key(self) -> tuple:
        """What the parent shows of the links and the mapping file, apart from the knobs
        (a MIDI message is news of its own): a change of it is news for the parent."""
        return (
            self.hw.info(),
            self.virt.info(),
            self.links.server_down,
            self.links.client_restarts,
            self.map_error,
            self.map_line,
            self.learn.state.phase,
        )

    def run(self, chan: Channel, request_fd: int | None = None, news_fd: int | None = None) -> None:
        """Serve until told to stop or the parent goes away.

        The loop sleeps in one place, until input arrives (our JACK client's eventfd, or
        the ALSA inbox's pipe), a request arrives (``request_fd``, the pipe from the
        parent), or the next timer is due (feedback and learn every
        :data:`FEEDBACK_PERIOD`, hot-plug and the mapping file every :data:`SCAN_PERIOD`,
        the JACK server's socket every :data:`~.links.SERVER_CHECK` while it is away).
        Idle, it wakes only for those timers; a CC is applied as soon as it arrives.

        ``news_fd`` (non-blocking; the parent waits on its other end): a byte is written
        to it when MIDI messages were applied, the JACK graph or server moved, or after a
        scan :meth:`news_key` changed, so the parent asks for the status only then (a
        full pipe drops the byte: the parent has news to read already).
        """
        clock, drain, links = self.clock, self.drain, self.links
        next_fb = next_scan = clock()
        parent = os.getppid()
        handlers = self.handlers
        poller = select.poll()
        watched: tuple[int, ...] = ()
        asked = True  # (serve once at the start)
        said: tuple | None = None  # the news_key the parent was last told about
        while True:
            news = False
            if links.server_gone():  # the shutdown callback woke us
                links.server_lost()
                next_scan = min(next_scan, clock() + SERVER_CHECK)
                news = True
            if self.note_port_change():  # a port came, went or was connected: look now
                next_scan = min(next_scan, clock())
                next_fb = min(next_fb, clock())  # (an output now heard: feedback's pace)
                news = True
            if drain():
                news = True
            if (asked or request_fd is None) and not chan.serve(handlers):
                return
            now = clock()
            if now >= next_scan and os.getppid() != parent:
                return  # orphaned (the parent was killed): nobody will stop us
            scan_due = next_scan
            next_fb, next_scan = self.housekeeping(now, next_fb, next_scan)
            if news_fd is not None:
                if next_scan != scan_due or said is None:  # (a scan ran: ports, the file)
                    key = self.news_key()
                    news, said = news or key != said, key
                if news:
                    _tell(news_fd)
            tempo_due = self.tempo.due()
            if tempo_due is not None and now >= tempo_due:
                try:
                    self.tempo.step(now)
                except Exception as exc:  # (Link or the clock out failing must not stop MIDI)
                    self.tempo.link_error = one_line(exc)
                tempo_due = self.tempo.due()
            fds = tuple(links.wake_fds()) + ((request_fd,) if request_fd is not None else ())
            if fds != watched:  # (our JACK client was opened again: a new eventfd)
                for fd in watched:
                    poller.unregister(fd)
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                watched = fds
            ready: list[tuple[int, int]] = []
            if links.arm():
                due = math.inf if tempo_due is None else tempo_due
                wait = min(next_fb, next_scan, due) - clock()
                if request_fd is None:
                    wait = min(wait, COMMAND_PERIOD)  # (nothing tells us about requests)
                ready = poller.poll(max(0, math.ceil(wait * 1000)))
            links.woke(ready)
            asked = any(fd == request_fd for fd, _ in ready)


def _tell(fd: int) -> None:
    """One byte of news for the parent (dropped if its pipe is full or gone)."""
    with contextlib.suppress(OSError):
        os.write(fd, b"n")


def _line_of(error: str) -> int:
    """The line number in a ``file:line: why`` error (0 when it has none)."""
    head = error.split(": ", 1)[0]
    tail = head.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def midi_main(conn: Any, ctl_name: str, options: dict[str, Any], news: Any = None) -> None:
    """Entry point of the MIDI process: attach, open the ports, say ready, serve (``news``:
    the write end of the parent's news pipe, a multiprocessing Connection, or None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    chan = Channel(conn)
    block: SharedBlock | None = None
    service: MidiService | None = None
    try:
        block = SharedBlock(N_CONTROLS, name=ctl_name)
        service = MidiService(block.array, options)
        service.links.choose_api()
        service.links.scan()
        first = service.status()
    except Exception as exc:
        chan.failed(exc)
        if service is not None:
            service.close()
        if block is not None:
            block.close()
        return
    chan.ready(first)
    try:
        news_fd = None
        if news is not None:
            news_fd = news.fileno()
            os.set_blocking(news_fd, False)
        service.run(chan, conn.fileno(), news_fd)
    finally:
        service.close()
        block.close()
