"""The MIDI service: its own process, attached to the controls block by name.

Why a process: Python work competing for the GIL with the audio callback causes dropouts,
so MIDI is handled here, never in the engine process.

Why no rtmidi callback (and no mido input port, which always installs one): on JACK,
rtmidi calls the callback from its client's JACK process thread, so a Python callback
(waiting for this process's GIL) would stall the whole JACK graph and cause xruns (measured:
2 xruns in a 3 s flood). Instead rtmidi queues incoming messages in C++ (a bounded ring,
``RT_QUEUE`` messages) and the main loop polls every millisecond, draining each port in a
batch and writing only the last value per control per batch into the shared block; the
audio thread applies it at its next block. A flood therefore collapses to the latest value
per control, and nothing grows.

The main loop also, about every 20 ms, compares the mapped controls with what it last saw
per controller and sends feedback for changes made elsewhere (UI, presets, automation),
never for what just came in; and about every second rescans the ports (hot-plug: a
controller that disappears is closed and picked up again by name when it comes back),
retries ports that errored, and reloads the mapping file if it was edited.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..controls import CONTROL_INDEX, N_CONTROLS, SharedBlock
from ..runtime import one_line
from . import ports as P
from .mapping import (
    Binding,
    Event,
    Learner,
    Mapper,
    MappingError,
    conflicts,
    default_bindings,
    default_mapping_table,
    event_from_bytes,
    event_from_mido,
    with_binding,
)
from .store import MidiMap, default_path, load, save

QUEUE_MAX = 4096
"""Messages taken in one batch at most (also the bound of the injection queue)."""
RT_QUEUE = 4096
"""rtmidi's own input ring per port (messages); a flood beyond it drops the newest."""
POLL_PERIOD = 0.001
"""How often the input ports are drained (rtmidi offers no wake-up without a callback)."""
COMMAND_PERIOD = 0.005
"""How often the command pipe, feedback, learn and hot-plug timers are looked at."""
FEEDBACK_PERIOD = 0.02
SCAN_PERIOD = 1.0
LEARN_TIMEOUT = 60.0


class Link:
    """One input (the controller, or our virtual port) with its output and its mapper."""

    def __init__(self, role: str, controller: str, mapper: Mapper) -> None:
        self.role = role  # "controller" or "virtual"
        self.controller = controller
        self.mapper = mapper
        self.in_port: Any = None
        self.out_port: Any = None
        self.in_name: str | None = None
        self.out_name: str | None = None
        self.state = "none"
        self.out_state = "none"
        self.error = ""
        self.last_seen: dict[str, float] = {}
        self.messages = 0

    def info(self) -> dict[str, Any]:
        return {
            "controller": self.controller,
            "port": self.in_name,
            "state": self.state,
            "output": self.out_name,
            "output_state": self.out_state,
            "error": self.error,
            "messages": self.messages,
        }


class MidiService:
    """Everything but the process entry point; testable with a plain numpy array and no ports.

    ``options``: midi_in (substring, None = first hardware port, "none" = no controller),
    midi_out (substring, None = the controller's own output, "none"), midi_api (alsa, jack,
    None = auto), midi_config (mapping file, None = the user's), midi_virtual (bool),
    model_count, audio_hostapi.
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
        """Messages injected by tests or other code (bounded); ports are polled directly."""
        self.rtapi: int = 0
        self.received = 0
        self.ignored = 0
        self.batches = 0
        self.writes = 0
        self.last_message = ""
        self.model_count = int(self.opts.get("model_count") or 64)
        cfg = self.opts.get("midi_config")
        self.map_path = Path(cfg) if cfg else default_path()
        self.map = MidiMap()
        self.map_error = ""
        self.map_mtime: float | None = None
        self.reload()
        self.api: str | None = None
        self.api_reason = "not started"
        self._scan_in: Any = None
        self._scan_out: Any = None
        self.hw = Link("controller", "", Mapper((), self.model_count))
        self.virt = Link("virtual", P.VIRTUAL_CLIENT, self._mapper(P.VIRTUAL_CLIENT))
        self.links = [self.hw, self.virt]
        self.learner: Learner | None = None
        self.learn_link: Link | None = None
        self.learn_deadline = 0.0
        self.learn_pending: tuple[Link, Binding] | None = None
        self.learn_state: dict[str, Any] = {"state": "idle"}
        self._next_api_try = 0.0
        self._own_scan = False

    # ------------------------------------------------------------ mapping file

    def _mapper(self, controller: str) -> Mapper:
        return Mapper(self.map.bindings_for(controller), self.model_count)

    def reload(self) -> str:
        """(Re)read the mapping file; on error keep the mapping in use and say why."""
        try:
            self.map_mtime = self.map_path.stat().st_mtime
        except OSError:
            self.map_mtime = None
        try:
            new = load(self.map_path)
        except MappingError as exc:
            self.map_error = str(exc)
            return self.map_error
        self.map = new
        self.map_error = ""
        for link in getattr(self, "links", []):
            self._rebind(link)
        return ""

    def _rebind(self, link: Link) -> None:
        link.mapper.set_bindings(self.map.bindings_for(link.controller))
        link.last_seen = {}

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

    # ------------------------------------------------------------ ports

    def choose_api(self) -> None:
        choice = P.choose_api(self.opts.get("midi_api"), self.opts.get("audio_hostapi", ""))
        self.api, self.api_reason = choice.api, choice.reason
        if self.api is None:
            return
        try:
            import rtmidi

            self.rtapi = rtmidi.API_LINUX_ALSA if self.api == "alsa" else rtmidi.API_UNIX_JACK
            self.open_virtual()  # first: on ALSA the first client names all of ours
            # persistent clients for listing (no client churn every scan): the virtual
            # ports' own when open (each JACK client is one more thread woken every period)
            self._own_scan = self.virt.in_port is None or self.virt.out_port is None
            if self._own_scan:
                self._scan_in = rtmidi.MidiIn(self.rtapi, P.SCAN_CLIENT)
                self._scan_out = rtmidi.MidiOut(self.rtapi, P.SCAN_CLIENT)
            else:
                self._scan_in, self._scan_out = self.virt.in_port, self.virt.out_port
        except Exception as exc:
            self.api, self.api_reason = None, f"{self.api}: {one_line(exc)}"

    def _open_input(self, link: Link, name: str) -> None:
        import rtmidi

        port = rtmidi.MidiIn(self.rtapi, P.CONTROLLER_CLIENT, queue_size_limit=RT_QUEUE)
        self._open_by_name(port, name, "controller", is_input=True)
        link.in_port = port
        link.in_name = name
        link.state = "connected"
        link.error = ""

    def _open_output(self, link: Link, name: str) -> None:
        import rtmidi

        port = rtmidi.MidiOut(self.rtapi, P.CONTROLLER_CLIENT)
        self._open_by_name(port, name, "feedback", is_input=False)
        link.out_port = port
        link.out_name = name
        link.out_state = "connected"
        link.last_seen = {}  # send the current values once (LED rings, motor faders)
        for s in link.mapper.state:
            s.sent = None

    @classmethod
    def _open_by_name(cls, port: Any, name: str, label: str, is_input: bool) -> None:
        """Open the rtmidi ``port`` on the port called ``name`` (an input also drops sysex,
        clock and active sensing); on any failure the port is deleted and the error raised."""
        try:
            names = port.get_ports()
            if name not in names:
                raise P.MidiPortError(f"{name} is gone")
            port.open_port(names.index(name), label)
            if is_input:
                port.ignore_types(sysex=True, timing=True, active_sense=True)
        except BaseException:
            cls._close_port(port)
            raise

    @staticmethod
    def _close_port(port: Any) -> None:
        with contextlib.suppress(Exception):
            port.close_port()
        with contextlib.suppress(Exception):
            port.delete()

    def _close_input(self, link: Link, state: str) -> None:
        port, link.in_port = link.in_port, None
        if port is not None:
            self._close_port(port)
        link.state = state

    def _close_output(self, link: Link, state: str) -> None:
        port, link.out_port = link.out_port, None
        if port is not None:
            self._close_port(port)
        link.out_name = None
        link.out_state = state

    def open_virtual(self) -> None:
        """Open the virtual input "floweq-tui" and output "feedback", and learn their real
        names (JACK renames a second "floweq-tui" client "floweq-tui-01"; ALSA adds numbers)
        by listing the ports before and after."""
        if not self.opts.get("midi_virtual", True) or self.api is None:
            return
        import rtmidi

        link = self.virt
        vin = vout = None
        try:
            vin = rtmidi.MidiIn(self.rtapi, P.VIRTUAL_CLIENT, queue_size_limit=RT_QUEUE)
            vout = rtmidi.MidiOut(self.rtapi, P.VIRTUAL_OUT_CLIENT)
            dests, sources = set(vout.get_ports()), set(vin.get_ports())
            vin.open_virtual_port(P.VIRTUAL_IN)
            vin.ignore_types(sysex=True, timing=True, active_sense=True)
            vout.open_virtual_port(P.VIRTUAL_OUT)
            link.in_name = _new_port(vout.get_ports(), dests, P.VIRTUAL_IN) or (
                f"{P.VIRTUAL_CLIENT}:{P.VIRTUAL_IN}"
            )
            link.out_name = _new_port(vin.get_ports(), sources, P.VIRTUAL_OUT) or (
                f"{P.VIRTUAL_OUT_CLIENT}:{P.VIRTUAL_OUT}"
            )
        except Exception as exc:
            for port in (vin, vout):
                if port is not None:
                    self._close_port(port)
            link.state = link.out_state = "error"
            link.error = one_line(exc)
            return
        link.in_port, link.out_port = vin, vout
        link.state = link.out_state = "open"
        link.error = ""

    def scan(self) -> None:
        """Hot-plug: close vanished ports, open wanted ones that (re)appeared."""
        now = self.clock()
        if self.api is None:
            if now >= self._next_api_try:
                self._next_api_try = now + 3.0
                self.choose_api()
            if self.api is None:
                return
        try:
            ins = [n for n in self._scan_in.get_ports() if n]
            outs = [n for n in self._scan_out.get_ports() if n]
        except Exception as exc:
            self.hw.state, self.hw.error = "error", one_line(exc)
            return
        link = self.hw
        spec = self.opts.get("midi_in")
        if spec is not None and str(spec).lower() == "none":
            link.state = "off"
            return
        if link.in_port is not None and link.in_name not in ins:
            self._close_input(link, f"disconnected: waiting for {link.controller}")
            self._close_output(link, "disconnected")
        if link.in_port is None:
            want = link.controller if link.controller and spec is None else spec
            name = P.find_port(ins, want, self.api)
            if name is None:
                if not link.state.startswith("disconnected"):
                    link.state = f"waiting for {spec}" if spec else "no controller found"
            else:
                controller = P.controller_name(name)
                if controller != link.controller:
                    link.controller = controller
                    self._rebind(link)
                try:
                    self._open_input(link, name)
                except Exception as exc:
                    link.state, link.error = "error (retrying)", one_line(exc)
                    return
        out_spec = self.opts.get("midi_out")
        if out_spec is not None and str(out_spec).lower() == "none":
            return
        if link.out_port is not None and link.out_name not in outs:
            self._close_output(link, "disconnected")
        if link.out_port is None:
            if out_spec:
                name = P.find_port(outs, out_spec, self.api)
            elif link.in_name:
                name = P.matching_output(link.in_name, outs)
            else:
                name = None
            if name is not None:
                try:
                    self._open_output(link, name)
                except Exception as exc:
                    link.out_state, link.error = "error (retrying)", one_line(exc)
            elif link.out_state == "none" or link.out_state.startswith("waiting"):
                link.out_state = f"waiting for {out_spec}" if out_spec else "none"

    def close(self) -> None:
        for link in self.links:
            self._close_input(link, "closed")
            self._close_output(link, "closed")
        if self._own_scan:
            for rt in (self._scan_in, self._scan_out):
                if rt is not None:
                    self._close_port(rt)
        self._scan_in = self._scan_out = None

    # ------------------------------------------------------------ input

    def _pending_messages(self) -> list[tuple[Link, Any]]:
        """One batch: what rtmidi queued on each input port, plus the injection queue."""
        batch: list[tuple[Link, Any]] = []
        for link in self.links:
            port = link.in_port
            if port is None:
                continue
            try:
                for _ in range(QUEUE_MAX):
                    got = port.get_message()
                    if got is None:
                        break
                    batch.append((link, got[0]))
            except Exception as exc:  # a port that errors is closed and retried
                link.error = one_line(exc)
                if link is self.hw:  # (the virtual port also lists ports: kept)
                    self._close_input(link, "error (retrying)")
        queue = self.queue
        while queue and len(batch) < 2 * QUEUE_MAX:
            batch.append(queue.popleft())
        return batch

    def drain(self) -> int:
        """Apply one batch: the last value per control. Returns how many messages."""
        batch = self._pending_messages()
        if not batch:
            return 0
        pending: dict[str, float] = {}
        writers: dict[str, Link] = {}
        ctl = self.ctl

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
                if self.learner is not None or self.learn_pending is not None:
                    self._learn_feed(link, ev)
                    continue
                for name, value in link.mapper.feed(ev, get):
                    pending[name] = value
                    writers[name] = link
            except Exception:  # garbage must never stop the service
                self.ignored += 1
        self.batches += 1
        for name, value in pending.items():
            ctl[CONTROL_INDEX[name]] = value
            writers[name].last_seen[name] = value
            self.writes += 1
        if pending:
            name = next(reversed(pending))
            self.last_message = f"{name} = {pending[name]:.4g}"
        return count

    # ------------------------------------------------------------ feedback

    def feedback(self) -> int:
        """Send mapped controls that changed elsewhere; re-arm their soft takeover."""
        values = self.ctl.copy()
        sent = 0
        for link in self.links:
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
                        link.error = one_line(exc)
                        self._close_output(link, "error (retrying)")
                        break
        return sent

    # ------------------------------------------------------------ learn

    def learn_start(self, control: str, timeout: float | None = None) -> dict[str, Any]:
        if control not in CONTROL_INDEX:
            raise MappingError(f"no control named {control!r}")
        now = self.clock()
        self.learner = Learner(control, now)
        self.learn_link = None
        self.learn_pending = None
        self.learn_deadline = now + (LEARN_TIMEOUT if timeout is None else float(timeout))
        self.learn_state = {"state": "waiting", "control": control}
        return dict(self.learn_state)

    def learn_cancel(self) -> dict[str, Any]:
        was = self.learn_state.get("state")
        self.learner = None
        self.learn_pending = None
        if was in ("waiting", "conflict"):
            self.learn_state = {**self.learn_state, "state": "cancelled"}
        return dict(self.learn_state)

    def _learn_feed(self, link: Link, ev: Event) -> None:
        if self.learner is None:
            return  # a conflict awaits the user's answer: ignore input meanwhile
        if self.learn_link is not None and link is not self.learn_link:
            return
        self.learn_link = link
        result = self.learner.feed(ev, self.clock())
        if result is not None:
            self._learned(link, result)
        else:
            self._learn_hint()

    def _learn_hint(self) -> None:
        """Mirror the learner's hint (e.g. 'turn it the other way') into the learn state."""
        hint = self.learner.hint if self.learner is not None else None
        if hint:
            self.learn_state = {**self.learn_state, "hint": hint}
        elif "hint" in self.learn_state:
            self.learn_state = {k: v for k, v in self.learn_state.items() if k != "hint"}

    def learn_poll(self) -> None:
        if self.learner is None:
            return
        now = self.clock()
        result = self.learner.poll(now)
        if result is not None and self.learn_link is not None:
            self._learned(self.learn_link, result)
        elif now >= self.learn_deadline:
            self.learner = None
            self._learn_hint()
            self.learn_state = {**self.learn_state, "state": "timeout"}
        else:
            self._learn_hint()

    def _learned(self, link: Link, binding: Binding) -> None:
        self.learner = None
        clash = conflicts(self.map.bindings_for(link.controller), binding)
        base = {
            "control": binding.control,
            "controller": link.controller,
            "binding": binding.to_dict(),
            "source": binding.source(),
        }
        if clash:
            self.learn_pending = (link, binding)
            self.learn_state = {
                **base,
                "state": "conflict",
                "conflicts": [{"control": c.control, "source": c.source()} for c in clash],
            }
            return
        self.learn_state = {**base, "state": "done", **self._commit(link, binding)}

    def learn_commit(self, replace: bool = False) -> dict[str, Any]:
        if self.learn_pending is None:
            return dict(self.learn_state)
        if not replace:
            return self.learn_cancel()
        link, binding = self.learn_pending
        self.learn_pending = None
        self.learn_state = {
            **self.learn_state,
            "state": "done",
            "replaced": self.learn_state.get("conflicts", []),
            **self._commit(link, binding),
        }
        return dict(self.learn_state)

    def _commit(self, link: Link, binding: Binding) -> dict[str, Any]:
        new = with_binding(self.map.bindings_for(link.controller), binding)
        self.map.set(link.controller, new)
        self._rebind(link)
        error = self._save()
        return {"saved": not error, "error": error}

    # ------------------------------------------------------------ status and commands

    def knobs(self) -> dict[str, dict[str, Any]]:
        ctl = self.ctl

        def get(name: str) -> float:
            return float(ctl[CONTROL_INDEX[name]])

        out: dict[str, dict[str, Any]] = {}
        for link in (self.virt, self.hw):  # the controller wins where both map a control
            for name, k in link.mapper.knobs(get).items():
                out[name] = {**k, "controller": link.controller}
        return out

    def status(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "api_reason": self.api_reason,
            "controller": self.hw.info(),
            "virtual": self.virt.info(),
            "mapping_file": str(self.map_path),
            "mapping_error": self.map_error,
            "received": self.received,
            "ignored": self.ignored,
            "batches": self.batches,
            "writes": self.writes,
            "last": self.last_message,
            "learn": dict(self.learn_state),
            "pid": os.getpid(),
        }

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg.get("cmd")
        if cmd == "status":
            return {"ok": True, "status": self.status(), "knobs": self.knobs()}
        if cmd == "knobs":
            return {"ok": True, "knobs": self.knobs()}
        if cmd == "ports":
            if self._scan_in is None:
                return {"ok": True, "api": self.api, "inputs": [], "outputs": []}
            return {
                "ok": True,
                "api": self.api,
                "inputs": list(self._scan_in.get_ports()),
                "outputs": list(self._scan_out.get_ports()),
            }
        if cmd == "learn":
            learn = self.learn_start(msg["control"], msg.get("learn_timeout"))
            return {"ok": True, "learn": learn}
        if cmd == "learn_status":
            return {"ok": True, "learn": dict(self.learn_state)}
        if cmd == "learn_cancel":
            return {"ok": True, "learn": self.learn_cancel()}
        if cmd == "learn_commit":
            return {"ok": True, "learn": self.learn_commit(bool(msg.get("replace", False)))}
        if cmd == "bindings":
            name = msg.get("controller") or self._active_controller()
            return {
                "ok": True,
                "controller": name,
                "custom": self.map.has(name),
                "bindings": [b.to_dict() for b in self.map.bindings_for(name)],
            }
        if cmd == "set_bindings":
            name = msg.get("controller") or self._active_controller()
            new = [Binding.from_dict(d) for d in msg["bindings"]]
            self.map.set(name, new)
            self._rebind_name(name)
            error = self._save()
            return {"ok": True, "saved": not error, "error": error}
        if cmd == "reset_bindings":
            name = msg.get("controller") or self._active_controller()
            self.map.controllers.pop(name, None)
            self._rebind_name(name)
            error = self._save()
            return {"ok": True, "saved": not error, "error": error}
        if cmd == "defaults":
            return {
                "ok": True,
                "bindings": [b.to_dict() for b in default_bindings()],
                "table": default_mapping_table(),
            }
        if cmd == "export":
            path = save(self.map, msg["path"])
            return {"ok": True, "path": str(path)}
        if cmd == "import":
            if not Path(msg["path"]).is_file():
                raise MappingError(f"{msg['path']}: no such file")
            new = load(msg["path"])  # a MappingError leaves everything as it was
            for name, bindings in new.controllers.items():
                self.map.set(name, bindings)
            for link in self.links:
                self._rebind(link)
            error = self._save()
            return {"ok": True, "controllers": list(new.controllers), "error": error}
        if cmd == "reload":
            error = self.reload()
            return {"ok": not error, "error": error} if error else {"ok": True}
        return {"ok": False, "error": f"unknown MIDI command {cmd!r}"}

    def _active_controller(self) -> str:
        return self.hw.controller or self.virt.controller

    def _rebind_name(self, name: str) -> None:
        for link in self.links:
            if link.controller == name:
                self._rebind(link)

    # ------------------------------------------------------------ loop

    def run(self, conn: Any, stop: threading.Event | None = None) -> None:
        """Serve until told to stop or the parent goes away."""
        stop = stop or threading.Event()
        next_fb = next_scan = next_cmd = self.clock()
        parent = os.getppid()
        sleep, clock, drain = time.sleep, self.clock, self.drain
        while not stop.is_set():
            sleep(POLL_PERIOD)
            drain()
            now = clock()
            if now < next_cmd:
                continue
            next_cmd = now + COMMAND_PERIOD
            try:
                while conn.poll():
                    msg = conn.recv()
                    if msg.get("cmd") == "stop":
                        return
                    try:
                        reply = self.handle(msg)
                    except Exception as exc:
                        reply = {"ok": False, "error": one_line(exc)}
                    conn.send(reply)
            except (EOFError, OSError):
                return
            now = self.clock()
            if now >= next_fb:
                next_fb = now + FEEDBACK_PERIOD
                self.learn_poll()
                try:
                    self.feedback()
                except Exception as exc:
                    self.hw.error = one_line(exc)
            if now >= next_scan:
                next_scan = now + SCAN_PERIOD
                if os.getppid() != parent:
                    return
                try:
                    self.scan()
                except Exception as exc:
                    self.hw.error = one_line(exc)
                self._check_file()


def _new_port(now: list[str], before: set[str], port: str) -> str | None:
    """The port that appeared between two listings, named ``client:port``."""
    fresh = [n for n in now if n not in before]
    for n in fresh:
        if P.controller_name(n).endswith(f":{port}"):
            return n
    return fresh[0] if len(fresh) == 1 else None


def midi_main(ctl_name: str, conn: Any, options: dict[str, Any]) -> None:
    """Entry point of the MIDI process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    block: SharedBlock | None = None
    service: MidiService | None = None
    try:
        block = SharedBlock(N_CONTROLS, name=ctl_name)
        service = MidiService(block.array, options)
        service.choose_api()
        service.scan()
        conn.send({"ok": True, "status": service.status()})
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send({"ok": False, "error": one_line(exc)})
        if service is not None:
            service.close()
        if block is not None:
            block.close()
        return
    try:
        service.run(conn)
    finally:
        service.close()
        block.close()
