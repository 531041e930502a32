"""The MIDI service's links: the controller and our virtual port, opened by name, hot-plugged.

A :class:`Link` is one input (the controller, or the virtual input ``floweq-tui``) with its
feedback output and its :class:`~.mapping.Mapper`. :class:`Links` owns both: it chooses the
API, opens the virtual ports, and on each :meth:`Links.scan` closes ports that vanished and
opens wanted ones that (re)appeared, matched by controller name. Port state is a
:class:`~.state.LinkState` plus words for people (``detail``); nothing here parses text.

Ports are python-rtmidi objects (never a Python callback: see :mod:`.service`); each port
opened here has rtmidi's own bounded input ring of :data:`RT_QUEUE` messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..runtime import one_line
from . import ports as P
from .mapping import Binding, Mapper
from .state import LinkInfo, LinkState

RT_QUEUE = 4096
"""rtmidi's own input ring per port (messages); a flood beyond it drops the newest."""
API_RETRY = 3.0
"""Seconds between tries to find a MIDI API while none works."""
RETRYING = "error (retrying)"
"""The detail of a port that failed and is retried on the next scan."""


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
        )

    def close_input(self, state: LinkState, detail: str = "") -> None:
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
        close_port(port)
        raise


def new_port(now: list[str], before: set[str], port: str) -> str | None:
    """The port that appeared between two listings, named ``client:port``."""
    fresh = [n for n in now if n not in before]
    for n in fresh:
        if P.controller_name(n).endswith(f":{port}"):
            return n
    return fresh[0] if len(fresh) == 1 else None


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
            link.in_name = new_port(vout.get_ports(), dests, P.VIRTUAL_IN) or (
                f"{P.VIRTUAL_CLIENT}:{P.VIRTUAL_IN}"
            )
            link.out_name = new_port(vin.get_ports(), sources, P.VIRTUAL_OUT) or (
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

    # ------------------------------------------------------------ the controller's ports

    def _open_input(self, link: Link, name: str) -> None:
        import rtmidi

        port = rtmidi.MidiIn(self.rtapi, P.CONTROLLER_CLIENT, queue_size_limit=RT_QUEUE)
        open_by_name(port, name, "controller", is_input=True)
        link.in_port = port
        link.in_name = name
        link.set_input(LinkState.CONNECTED)
        link.error = ""

    def _open_output(self, link: Link, name: str) -> None:
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
        link = self.hw
        try:
            ins = [n for n in self._scan_in.get_ports() if n]
            outs = [n for n in self._scan_out.get_ports() if n]
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
