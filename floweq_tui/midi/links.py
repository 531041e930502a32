"""The MIDI service's links: the controller and our virtual port, opened by name, hot-plugged.

A :class:`Link` is one input (the controller, or the virtual input ``floweq-tui``) with its
feedback output and its :class:`~.mapping.Mapper`. :class:`Links` owns both: it chooses the
API, opens the virtual ports, and on each :meth:`Links.scan` closes ports that vanished and
opens wanted ones that (re)appeared, matched by controller name. Port state is a
:class:`~.state.LinkState` plus words for people (``detail``); nothing here parses text.

Inputs never run Python on the JACK process thread (see :mod:`.service`). On JACK they are
ports of our own client (:mod:`._jackmidi`: C rings filled on the JACK thread, an eventfd
that wakes the service); on ALSA, rtmidi's input thread (an ordinary thread, not part of
any audio graph) hands each message to :attr:`Links.inbox` and wakes the service through a
pipe. Feedback outputs are our JACK client's ports on JACK (one client for every port:
each JACK client is one more thread woken every cycle), python-rtmidi ports on ALSA.

The JACK server going away (it stopped, crashed or is being restarted) is noticed at once
(the client's shutdown callback wakes the service): every port is dropped, both links say
:data:`SERVER_GONE`, and the server's socket is looked at every :data:`SERVER_CHECK`
seconds (a ``stat``, no subprocess); when a new server is there, the ports are opened again
and the controller is reconnected by name on the same scan.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..automation.tempo import DeltaStamps
from ..runtime import one_line
from . import ports as P
from .mapping import Binding, Mapper
from .state import LinkInfo, LinkState

RT_QUEUE = 4096
"""rtmidi's own input ring per ALSA port (unused while a callback takes every message)."""
INBOX_MAX = 4096
"""Messages waiting for the service (ALSA input and injected ones); a flood beyond it
drops the oldest, so the latest value always gets through."""
SERVER_GONE = "JACK server gone"
"""The detail of both links while their JACK server is away."""
SERVER_CHECK = 0.2
STUCK_S = 1.0
"""Our JACK client not run for this long, its server up: it is opened again."""
CLIENT_STUCK = "JACK stopped running our client: opened again"
"""Seconds between looks at the JACK server's socket while it is away."""
HW_PORT = "controller"
"""Our JACK input port that the controller's port is connected to."""
HW_OUT = "controller-feedback"
"""Our JACK output port connected to the controller's input (feedback)."""
API_RETRY = 3.0
"""Seconds between tries to find a MIDI API while none works."""
RETRYING = "error (retrying)"
"""The detail of a port that failed and is retried on the next scan."""
CLOCK_STATUSES = frozenset((0xF8, 0xFA, 0xFB, 0xFC, 0xF2))
"""MIDI clock, Start, Continue, Stop, Song Position Pointer: the tempo source's messages."""


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
        self.state = LinkState.NONE
        self.detail = ""
        self.out_state = LinkState.NONE
        self.out_detail = ""
        self.error = ""
        self.last_seen: dict[str, float] = {}
        """Per mapped control, the value last written or fed back (feedback sends changes)."""
        self.messages = 0
        self._lost = (0, 0)
        """(dropped, collapsed) of the input ports closed before."""

    def losses(self) -> tuple[int, int]:
        """(dropped, collapsed) messages of this link's input, in all (see JackInput)."""
        dropped, collapsed = self._lost
        get = getattr(self.in_port, "losses", None)
        if get is not None:
            with contextlib.suppress(Exception):
                d, c = get()
                dropped, collapsed = dropped + d, collapsed + c
        return dropped, collapsed

    def set_input(self, state: LinkState, detail: str = "") -> None:
        self.state, self.detail = state, detail

    def set_output(self, state: LinkState, detail: str = "") -> None:
        self.out_state, self.out_detail = state, detail

    def info(self) -> LinkInfo:
        return LinkInfo(
            controller=self.controller,
            port=self.in_name,
            state=self.state,
            detail=self.detail,
            output=self.out_name,
            output_state=self.out_state,
            output_detail=self.out_detail,
            error=self.error,
            messages=self.messages,
            dropped=(lost := self.losses())[0],
            collapsed=lost[1],
        )

    def close_input(self, state: LinkState, detail: str = "") -> None:
        self._lost = self.losses()
        port, self.in_port = self.in_port, None
        if port is not None:
            close_port(port)
        self.set_input(state, detail)

    def close_output(self, state: LinkState, detail: str = "") -> None:
        port, self.out_port = self.out_port, None
        if port is not None:
            close_port(port)
        self.out_name = None
        self.set_output(state, detail)

    def fail_input(self, exc: BaseException) -> None:
        """The input port raised: close it; the next scan reopens it."""
        self.error = one_line(exc)
        self.close_input(LinkState.ERROR, RETRYING)

    def fail_output(self, exc: BaseException) -> None:
        """The output port raised: close it; the next scan reopens it."""
        self.error = one_line(exc)
        self.close_output(LinkState.ERROR, RETRYING)


def close_port(port: Any) -> None:
    """Close and delete an rtmidi port, whatever state it is in."""
    with contextlib.suppress(Exception):
        port.close_port()
    with contextlib.suppress(Exception):
        port.delete()


def open_by_name(port: Any, name: str, label: str, is_input: bool) -> None:
    """Open the rtmidi ``port`` on the port called ``name`` (an input also drops sysex and
    active sensing; clock goes to the tempo source); on any failure the port is deleted and
    the error raised."""
    try:
        names = port.get_ports()
        if name not in names:
            raise P.MidiPortError(f"{name} is gone")
        port.open_port(names.index(name), label)
        if is_input:
            port.ignore_types(sysex=True, timing=False, active_sense=True)
    except BaseException:
        close_port(port)
        raise


def new_port(now: list[str], before: set[str], port: str) -> str | None:
    """The port that appeared between two listings, named ``client:port``."""
    fresh = [n for n in now if n not in before]
    for n in fresh:
        if P.controller_name(n).endswith(f":{port}"):
            return n
    return fresh[0] if len(fresh) == 1 else None


class JackInput:
    """One input port of our JACK client (:mod:`._jackmidi`), read without a Python callback.

    For the controller, ``source`` is the controller's port, connected to ours; closing
    disconnects it (the client and its ports stay).
    """

    def __init__(self, client: Any, index: int, source: str | None = None) -> None:
        self.client = client
        self.index = index
        self.source = source
        self.name: str = client.port_name(index)
        self._base = client.counts(index)[1:]  # (the port outlives a controller's link)

    def take(self) -> list[list[int]]:
        """Everything waiting (a flood collapsed to the last message per control)."""
        data = self.client.read(self.index)
        return [list(data[i + 1 : i + 1 + data[i]]) for i in range(0, len(data), 4)]

    def losses(self) -> tuple[int, int]:
        """(dropped: the ring was full, the service did not run for a while; collapsed: a
        flood's messages merged into the last one per control)."""
        _, dropped, collapsed = self.client.counts(self.index)
        return int(dropped - self._base[0]), int(collapsed - self._base[1])

    def close_port(self) -> None:
        if self.source and not (self.client.closed or self.client.gone):
            with contextlib.suppress(OSError):  # the controller's port may be gone already
                self.client.disconnect(self.source, self.name)

    def delete(self) -> None:
        pass


class JackOutput:
    """One output port of our JACK client: feedback goes through its ring to the JACK thread.

    For the controller, ``dest`` is the controller's input, connected from ours.
    """

    def __init__(self, client: Any, index: int, dest: str | None = None) -> None:
        self.client = client
        self.index = index
        self.dest = dest
        self.name: str = client.port_name(index)

    def send_message(self, data: list[int]) -> None:
        """Queue one message (a full ring, i.e. a JACK thread that does not run, drops it)."""
        self.client.send(self.index, bytes(data))

    def heard(self) -> bool:
        """True while the port is connected to something (or libjack cannot say)."""
        return bool(self.client.connected(self.index))

    def close_port(self) -> None:
        if self.dest and not (self.client.closed or self.client.gone):
            with contextlib.suppress(OSError):  # the controller's port may be gone already
                self.client.disconnect(self.name, self.dest)

    def delete(self) -> None:
        pass


class AlsaInput:
    """An rtmidi ALSA input whose messages go to the inbox from rtmidi's own input thread.

    That thread is an ordinary one (no audio graph waits for it), so a Python callback there
    is harmless; it wakes the service through a pipe only when the service sleeps.
    """

    def __init__(self, port: Any, link: Link, links: Links) -> None:
        self.port = port
        inbox, wake, clock = links.inbox, links.wake_alsa, links.clock_inbox
        stamps = DeltaStamps()
        now = time.monotonic

        def on_message(event: Any, data: Any = None) -> None:  # noqa: ARG001
            msg, delta = event
            if msg and msg[0] in CLOCK_STATUSES:  # stamped by rtmidi's delta times
                value = (msg[2] << 7 | msg[1]) if msg[0] == 0xF2 and len(msg) >= 3 else 0
                clock.append((stamps.stamp(float(delta), now()), msg[0], value))
            else:
                inbox.append((link, msg))
            wake()

        port.set_callback(on_message)

    def take(self) -> list[list[int]]:
        return []  # (everything arrives through the inbox)

    def close_port(self) -> None:
        with contextlib.suppress(Exception):
            self.port.cancel_callback()
        close_port(self.port)

    def delete(self) -> None:
        pass


def jack_socket() -> Path:
    """The JACK server's socket (jack2: ``/dev/shm/jack_NAME_UID_0``; NAME from
    ``JACK_DEFAULT_SERVER``, else "default"). A new server makes a new file."""
    name = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    return Path(f"/dev/shm/jack_{name}_{os.getuid()}_0")


def socket_id(path: Path) -> tuple[int, int] | None:
    """(inode, change time) of the socket, or None when it is not there."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_ctime_ns


class Links:
    """The controller link and the virtual link, and the API they use.

    ``options``: midi_in (substring, None = first hardware port, "none" = no controller),
    midi_out (substring, None = the controller's own output, "none"), midi_api (alsa, jack,
    None = auto), midi_virtual (bool), audio_hostapi. ``bindings_for(controller)`` gives a
    controller's bindings (the service's mapping file); a link is rebound whenever the
    controller behind it changes.
    """

    def __init__(
        self,
        options: dict[str, Any],
        clock: Callable[[], float],
        bindings_for: Callable[[str], list[Binding]],
        model_count: int = 64,
        inbox: deque[tuple[Link, Any]] | None = None,
    ) -> None:
        self.opts = options
        self.clock = clock
        self.bindings_for = bindings_for
        self.api: str | None = None
        self.api_reason = "not started"
        self.rtapi: int = 0
        self.hw = Link("controller", "", Mapper((), model_count))
        self.virt = Link(
            "virtual", P.VIRTUAL_CLIENT, Mapper(bindings_for(P.VIRTUAL_CLIENT), model_count)
        )
        self._scan_in: Any = None
        self._scan_out: Any = None
        self._own_scan = False
        self._next_api_try = 0.0
        self.inbox: deque[tuple[Link, Any]] = deque(maxlen=INBOX_MAX) if inbox is None else inbox
        """Messages from ALSA inputs (and injected ones), oldest first."""
        self.clock_inbox: deque[tuple[float, int, int]] = deque(maxlen=INBOX_MAX)
        """Clock messages from ALSA inputs (and injected ones): (monotonic stamp, status,
        value), oldest first."""
        self._clock_out: tuple[float, float, float, bool] | None = None
        self.jack: Any = None
        """Our JACK client (:class:`._jackmidi.Client`) while the API is JACK and it is open."""
        self._jack_ports: tuple[int | None, int, int | None, int] = (None, 0, None, 1)
        """Our JACK client's ports: virtual in, controller in, virtual out, controller out."""
        self.server_down = False
        """The JACK server went away; waiting for a new one (see :meth:`server_lost`)."""
        self.server_losses = 0
        self.client_restarts = 0
        """Times our JACK client was opened again because JACK had stopped running it."""
        self._cycles_seen = -1
        self._cycles_at = 0.0
        self._socket: Path | None = None
        self._socket_seen: tuple[int, int] | None = None
        self._next_server_try = 0.0
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sleeping = False

    def __iter__(self) -> Iterator[Link]:
        yield self.hw
        yield self.virt

    # ------------------------------------------------------------ mapping

    def rebind(self, link: Link) -> None:
        """Give ``link`` its controller's current bindings (knob state starts over)."""
        link.mapper.set_bindings(self.bindings_for(link.controller))
        link.last_seen = {}

    def rebind_all(self, controller: str | None = None) -> None:
        """Rebind every link (or only those of ``controller``)."""
        for link in self:
            if controller is None or link.controller == controller:
                self.rebind(link)

    def active_controller(self) -> str:
        """The controller a request without one means: the hardware one, else the virtual."""
        return self.hw.controller or self.virt.controller

    # ------------------------------------------------------------ API and virtual ports

    def choose_api(self) -> None:
        """Pick ALSA or JACK (see :func:`.ports.choose_api`), open the virtual ports and the
        listing clients; without a working API say why in ``api_reason``."""
        choice = P.choose_api(self.opts.get("midi_api"), self.opts.get("audio_hostapi", ""))
        self.api, self.api_reason = choice.api, choice.reason
        if self.api is None:
            return
        try:
            if self.api == "jack":
                # our own client on the system's libjack; rtmidi is never loaded on JACK: its
                # wheels bundle another libjack (1.9.22), and two libjacks in one process
                # beside a 1.9.21 server wedged our client (JACK stopped running it)
                self.open_jack()
            else:
                import rtmidi

                self.rtapi = rtmidi.API_LINUX_ALSA
            self.open_virtual()  # first: on ALSA the first client names all of ours
            # persistent clients for listing (no client churn every scan): the virtual
            # ports' own when open (each JACK client is one more thread woken every period)
            self._own_scan = self.jack is None and (
                self.virt.in_port is None or self.virt.out_port is None
            )
            if self.jack is not None:
                pass  # our JACK client lists the ports
            elif self._own_scan:
                self._scan_in = rtmidi.MidiIn(self.rtapi, P.SCAN_CLIENT)
                self._scan_out = rtmidi.MidiOut(self.rtapi, P.SCAN_CLIENT)
            else:
                vin = self.virt.in_port
                self._scan_in, self._scan_out = getattr(vin, "port", vin), self.virt.out_port
        except Exception as exc:
            self.api, self.api_reason = None, f"{self.api}: {one_line(exc)}"

    def open_virtual(self) -> None:
        """Open the virtual input "floweq-tui" and output "feedback", and learn their real
        names (JACK renames a second "floweq-tui" client "floweq-tui-01"; ALSA adds numbers)
        by listing the ports before and after."""
        if not self.opts.get("midi_virtual", True) or self.api is None:
            return
        link = self.virt
        vin: Any = None
        vout: Any = None
        try:
            if self.jack is not None:  # our client's ports (one client, one thread)
                virt_in, virt_out = self._jack_ports[0], self._jack_ports[2]
                assert virt_in is not None and virt_out is not None
                vin, vout = JackInput(self.jack, virt_in), JackOutput(self.jack, virt_out)
                link.in_name, link.out_name = vin.name, vout.name
            else:
                import rtmidi

                vout = rtmidi.MidiOut(self.rtapi, P.VIRTUAL_OUT_CLIENT)
                rt_in = rtmidi.MidiIn(self.rtapi, P.VIRTUAL_CLIENT, queue_size_limit=RT_QUEUE)
                dests, sources = set(vout.get_ports()), set(rt_in.get_ports())
                rt_in.open_virtual_port(P.VIRTUAL_IN)
                rt_in.ignore_types(sysex=True, timing=False, active_sense=True)
                vin = AlsaInput(rt_in, link, self)
                vout.open_virtual_port(P.VIRTUAL_OUT)
                link.in_name = new_port(vout.get_ports(), dests, P.VIRTUAL_IN) or (
                    f"{P.VIRTUAL_CLIENT}:{P.VIRTUAL_IN}"
                )
                link.out_name = new_port(rt_in.get_ports(), sources, P.VIRTUAL_OUT) or (
                    f"{P.VIRTUAL_OUT_CLIENT}:{P.VIRTUAL_OUT}"
                )
        except Exception as exc:
            for port in (vin, vout):
                if port is not None:
                    close_port(port)
            link.set_input(LinkState.ERROR)
            link.set_output(LinkState.ERROR)
            link.error = one_line(exc)
            return
        link.in_port, link.out_port = vin, vout
        link.set_input(LinkState.OPEN)
        link.set_output(LinkState.OPEN)
        link.error = ""

    # ------------------------------------------------------------ JACK: our client, the server

    def open_jack(self) -> None:
        """Open our JACK client with its input ports (the virtual one, the controller's)."""
        from . import _jackmidi

        client = _jackmidi.Client(P.VIRTUAL_CLIENT)
        virtual = self.opts.get("midi_virtual", True)
        try:
            virt = client.add_input(P.VIRTUAL_IN) if virtual else None
            hw = client.add_input(HW_PORT)
            virt_out = client.add_output(P.VIRTUAL_OUT) if virtual else None
            hw_out = client.add_output(HW_OUT)
            client.activate()
        except BaseException:
            client.close()
            raise
        self.jack, self._jack_ports = client, (virt, hw, virt_out, hw_out)
        if self._clock_out is not None:  # (a new client after a server restart)
            self.clock_out(*self._clock_out)
        self._socket = jack_socket()
        seen = socket_id(self._socket)
        if seen is None:
            self._socket = None  # not where jack2 puts it: retry by trying
        self.server_down = False

    def client_stuck(self, now: float) -> bool:
        """True when JACK has not run our client for :data:`STUCK_S` although it is open
        and its server is up (seen here: jackd 1.9.21 now and then leaves a client
        "Triggered" for good after an xrun; no MIDI moves either way until it is reopened)."""
        if self.jack is None or self.server_down or self.jack.gone:
            self._cycles_seen = -1
            return False
        cycles = int(self.jack.cycles)
        if cycles != self._cycles_seen:
            self._cycles_seen, self._cycles_at = cycles, now
            return False
        return now - self._cycles_at >= STUCK_S

    def restart_client(self) -> None:
        """Open our JACK client again (its ports too); the next scan reconnects the
        controller. For a client JACK stopped running (:meth:`client_stuck`)."""
        self.client_restarts += 1
        for link in self:
            link.close_input(LinkState.DISCONNECTED, CLIENT_STUCK)
            link.close_output(LinkState.DISCONNECTED, CLIENT_STUCK)
        client, self.jack = self.jack, None
        self._cycles_seen = -1
        if client is not None:
            client.close()
        try:
            self.open_jack()
        except Exception as exc:  # (the server went meanwhile: its loss is noticed next)
            self.hw.error = self.virt.error = f"{CLIENT_STUCK}: {one_line(exc)}"
            self.server_lost()
            return
        self.open_virtual()
        hw = self.hw
        if hw.controller:
            hw.set_input(LinkState.DISCONNECTED, f"disconnected: waiting for {hw.controller}")
        hw.set_output(LinkState.NONE)
        hw.error = ""

    def server_gone(self) -> bool:
        """True when our JACK client was shut down by its server (cheap: a flag)."""
        return self.jack is not None and bool(self.jack.gone)

    def server_lost(self) -> None:
        """The JACK server went away: drop every port and our client (libjack returns at
        once for a dead server), say so, and wait for a new server."""
        self.server_down = True
        self.server_losses += 1
        self._socket_seen = socket_id(self._socket) if self._socket else None  # stale or None
        self._next_server_try = self.clock() + (SERVER_CHECK if self._socket else API_RETRY)
        for link in self:
            link.close_input(LinkState.DISCONNECTED, SERVER_GONE)
            link.close_output(LinkState.DISCONNECTED, SERVER_GONE)
        spec = self.opts.get("midi_in")
        if spec is not None and str(spec).lower() == "none":
            self.hw.set_input(LinkState.OFF)
        if not self.opts.get("midi_virtual", True):
            self.virt.set_input(LinkState.NONE)
            self.virt.set_output(LinkState.NONE)
        client, self.jack = self.jack, None
        if client is not None:
            client.close()
        self.hw.error = self.virt.error = SERVER_GONE

    def _server_back(self) -> bool:
        """While the server is away: is a new one there? Opens everything again if so."""
        now = self.clock()
        if now < self._next_server_try:
            return False
        if self._socket is not None:
            self._next_server_try = now + SERVER_CHECK
            seen = socket_id(self._socket)
            if seen is None or seen == self._socket_seen:
                return False  # not there yet, or still the dead server's file
        else:
            self._next_server_try = now + API_RETRY
        try:
            self.open_jack()
        except Exception as exc:  # (a server still starting up): the next look retries
            self.hw.error = self.virt.error = f"{SERVER_GONE}: {one_line(exc)}"
            if self._socket is not None:
                self._socket_seen = None  # keep trying this new server
            return False
        self.open_virtual()
        hw = self.hw
        if hw.state is LinkState.DISCONNECTED:  # the scan that follows reconnects it
            if hw.controller:
                hw.set_input(LinkState.DISCONNECTED, f"disconnected: waiting for {hw.controller}")
            else:
                hw.set_input(LinkState.NONE)
        hw.set_output(LinkState.NONE)
        hw.error = ""
        return True

    @property
    def change_events(self) -> bool:
        """True while our JACK client tells us when ports come, go or are connected (then
        the port list is read after a change, not polled)."""
        return self.jack is not None and hasattr(self.jack, "take_changed")

    def ports_changed(self) -> bool:
        """True once after the JACK server said a port came, went or was (dis)connected."""
        take = getattr(self.jack, "take_changed", None)
        return bool(take()) if take is not None else False

    def feedback_heard(self) -> bool:
        """True when some link's feedback output would reach someone: an open rtmidi output,
        or one of our JACK output ports connected to a port (one nobody listens to is not
        worth looking at often; its port-connect event makes the service look again)."""
        for link in self:
            port = link.out_port
            if port is None:
                continue
            heard = getattr(port, "heard", None)
            try:
                if heard is None or heard():
                    return True
            except Exception:  # (the client closed under us: the next scan says so)
                return True
        return False

    # ------------------------------------------------------------ MIDI clock

    def take_clock(self) -> list[tuple[float, int, int]]:
        """The clock messages received since the last call, from every input: (monotonic
        stamp where it arrived, status, value (Song Position Pointer: 16ths))."""
        out: list[tuple[float, int, int]] = []
        if self.jack is not None:
            with contextlib.suppress(Exception):
                out.extend(self.jack.read_clock())
        q = self.clock_inbox
        while q:
            out.append(q.popleft())
        if len(out) > 1:
            out.sort(key=lambda r: r[0])
        return out

    def clock_out(self, bpm: float, origin: float, btime: float, running: bool) -> str:
        """Send MIDI clock for this beat line on the virtual output port (JACK: from the
        JACK thread at exact frames); '' or why not."""
        self._clock_out = (bpm, origin, btime, running)
        port = self._jack_ports[2]
        if self.jack is None or port is None:
            return "MIDI clock out needs the JACK MIDI API and the virtual port"
        try:
            self.jack.clock_out(port, bpm, origin, btime, running)
        except Exception as exc:
            return one_line(exc)
        return ""

    def clock_counts(self) -> tuple[int, int]:
        """(clock ticks sent, clock messages dropped) of our JACK client ((0, 0) without)."""
        if self.jack is None:
            return 0, 0
        sent, dropped = self.jack.clock_counts()
        return int(sent), int(dropped)

    def scan_due(self) -> float | None:
        """While the server is away: when the next look at its socket is due (else None)."""
        return self._next_server_try if self.server_down else None

    # ------------------------------------------------------------ waking the service

    def wake_alsa(self) -> None:
        """From rtmidi's ALSA thread: wake the service if it sleeps (one pipe write)."""
        if self._sleeping:
            self._sleeping = False
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"!")

    def wake_fds(self) -> list[int]:
        """The descriptors that input makes readable (our JACK client's, the ALSA pipe)."""
        fds = [self._wake_r]
        if self.jack is not None:
            fds.append(self.jack.fileno())
        return fds

    def arm(self) -> bool:
        """The service is about to sleep: True if nothing is waiting (else do not sleep)."""
        self._sleeping = True
        if self.inbox or self.clock_inbox:
            self._sleeping = False
            return False
        return self.jack is None or bool(self.jack.arm())

    def woke(self, ready: list[tuple[int, int]]) -> None:
        """The service woke (``ready``: what poll returned): empty the ALSA pipe."""
        self._sleeping = False
        if any(fd == self._wake_r for fd, _ in ready):
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 4096)

    # ------------------------------------------------------------ the controller's ports

    def _open_input(self, link: Link, name: str) -> None:
        if self.jack is not None:  # connect the controller's port to ours
            port: Any = JackInput(self.jack, self._jack_ports[1], source=name)
            self.jack.connect(name, port.name)
        else:
            import rtmidi

            rt_in = rtmidi.MidiIn(self.rtapi, P.CONTROLLER_CLIENT, queue_size_limit=RT_QUEUE)
            open_by_name(rt_in, name, "controller", is_input=True)
            port = AlsaInput(rt_in, link, self)
        link.in_port = port
        link.in_name = name
        link.set_input(LinkState.CONNECTED)
        link.error = ""

    def _open_output(self, link: Link, name: str) -> None:
        port: Any
        if self.jack is not None:  # connect our feedback port to the controller's
            port = JackOutput(self.jack, self._jack_ports[3], dest=name)
            self.jack.connect(port.name, name)
        else:
            import rtmidi

            port = rtmidi.MidiOut(self.rtapi, P.CONTROLLER_CLIENT)
            open_by_name(port, name, "feedback", is_input=False)
        link.out_port = port
        link.out_name = name
        link.set_output(LinkState.CONNECTED)
        link.last_seen = {}  # send the current values once (LED rings, motor faders)
        for s in link.mapper.state:
            s.sent = None

    def port_lists(self) -> tuple[list[str], list[str]]:
        """(inputs, outputs) as the API lists them now (empty without an API)."""
        if self.jack is not None:
            return list(self.jack.ports(True)), list(self.jack.ports(False))
        if self._scan_in is None:
            return [], []
        return list(self._scan_in.get_ports()), list(self._scan_out.get_ports())

    def scan(self) -> None:
        """Hot-plug: close vanished ports, open wanted ones that (re)appeared."""
        now = self.clock()
        if self.api is None:
            if now >= self._next_api_try:
                self._next_api_try = now + API_RETRY
                self.choose_api()
            if self.api is None:
                return
        if self.server_down and not self._server_back():
            return
        if self.server_gone():
            self.server_lost()
            return
        link = self.hw
        try:
            ins_all, outs_all = self.port_lists()
            ins = [n for n in ins_all if n]
            outs = [n for n in outs_all if n]
            if self.jack is not None and self.virt.in_port is not None:
                if self.virt.in_name not in outs:  # our own port is not listed: no server
                    self.server_lost()
                    return
        except Exception as exc:
            link.set_input(LinkState.ERROR)
            link.error = one_line(exc)
            return
        spec = self.opts.get("midi_in")
        if spec is not None and str(spec).lower() == "none":
            link.set_input(LinkState.OFF)
            return
        if link.in_port is not None and link.in_name not in ins:
            link.close_input(LinkState.DISCONNECTED, f"disconnected: waiting for {link.controller}")
            link.close_output(LinkState.DISCONNECTED)
        if link.in_port is None:
            want = link.controller if link.controller and spec is None else spec
            name = P.find_port(ins, want, self.api)
            if name is None:
                if link.state is not LinkState.DISCONNECTED:
                    if spec:
                        link.set_input(LinkState.WAITING, f"waiting for {spec}")
                    else:
                        link.set_input(LinkState.NOT_FOUND)
            else:
                controller = P.controller_name(name)
                if controller != link.controller:
                    link.controller = controller
                    self.rebind(link)
                try:
                    self._open_input(link, name)
                except Exception as exc:
                    link.set_input(LinkState.ERROR, RETRYING)
                    link.error = one_line(exc)
                    return
        out_spec = self.opts.get("midi_out")
        if out_spec is not None and str(out_spec).lower() == "none":
            return
        if link.out_port is not None and link.out_name not in outs:
            link.close_output(LinkState.DISCONNECTED)
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
                    link.set_output(LinkState.ERROR, RETRYING)
                    link.error = one_line(exc)
            elif link.out_state in (LinkState.NONE, LinkState.WAITING):
                if out_spec:
                    link.set_output(LinkState.WAITING, f"waiting for {out_spec}")
                else:
                    link.set_output(LinkState.NONE)

    def close(self) -> None:
        """Close every port (the service is stopping)."""
        for link in self:
            link.close_input(LinkState.CLOSED)
            link.close_output(LinkState.CLOSED)
        if self._own_scan:
            for rt in (self._scan_in, self._scan_out):
                if rt is not None:
                    close_port(rt)
        self._scan_in = self._scan_out = None
        client, self.jack = self.jack, None
        if client is not None:
            client.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1
