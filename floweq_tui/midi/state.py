"""What the MIDI service tells its parent, typed: link state, knobs, learn, status.

One module both sides import (the service builds these objects, the UI, headless and the
engine read them), so the state crosses the process boundary as enums and frozen
dataclasses, never as prose to be parsed: code tests ``state is LinkState.DISCONNECTED``;
words for people are in ``detail`` (and :meth:`LinkInfo.text`). Pure: no ports, no numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mapping import Binding


class LinkState(Enum):
    """Where one side of a link (an input or an output port) stands."""

    NONE = "none"
    """Nothing to open (yet): the start, or an output with no port to feed back to."""
    OFF = "off"
    """Switched off (``--midi-in none``)."""
    NOT_FOUND = "no controller found"
    """No ``--midi-in`` given and no hardware port in the list."""
    WAITING = "waiting"
    """The port asked for (``--midi-in``/``--midi-out``) is not there (yet)."""
    CONNECTED = "connected"
    """A controller's port is open."""
    OPEN = "open"
    """Our virtual port is open."""
    DISCONNECTED = "disconnected"
    """The open port vanished (unplugged); reopened by name when it comes back."""
    ERROR = "error"
    """The port failed (``detail`` says whether it is retried; ``LinkInfo.error`` why)."""
    CLOSED = "closed"
    """The service closed it (stopping)."""

    @property
    def waiting(self) -> bool:
        """Not there, but expected back (the UI says "waiting")."""
        return self in (LinkState.WAITING, LinkState.DISCONNECTED)


@dataclass(frozen=True)
class LinkInfo:
    """One link (the controller, or the virtual port) as the status reports it.

    ``detail``/``output_detail``: the state in words when there is more to say than the
    state's name ("disconnected: waiting for nanoKONTROL2", "error (retrying)").
    """

    controller: str = ""
    """The controller name its mapping is stored under ('' until a port was found)."""
    port: str | None = None
    state: LinkState = LinkState.NONE
    detail: str = ""
    output: str | None = None
    output_state: LinkState = LinkState.NONE
    output_detail: str = ""
    error: str = ""
    """The last port error, one line ('' when none)."""
    messages: int = 0
    dropped: int = 0
    """Messages lost: they found the input's ring full (the service had not run for a
    while under a flood)."""
    collapsed: int = 0
    """A flood's messages merged into the last one per control (never reached a mapper)."""

    @property
    def text(self) -> str:
        """The input's state in words ("connected", "disconnected: waiting for K")."""
        return self.detail or self.state.value

    @property
    def output_text(self) -> str:
        return self.output_detail or self.output_state.value


@dataclass(frozen=True)
class KnobInfo:
    """An absolute knob bound to a control: where it is, and whether it holds the value.

    ``knob`` is None until the knob has moved (its position is unknown before); the UI
    shows it beside the value while ``picked_up`` is False (soft takeover).
    """

    knob: float | None = None
    value: float = 0.0
    picked_up: bool = True
    source: str = ""
    """The binding in words ("cc 16 ch1")."""
    controller: str = ""


class LearnPhase(Enum):
    """Where a MIDI learn is. The service uses the first six; the UI ends a learn also in
    KEPT (a conflict answered "keep") or ERROR (the MIDI process did not answer)."""

    IDLE = "idle"
    WAITING = "waiting"
    CONFLICT = "conflict"
    DONE = "done"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    KEPT = "kept"
    ERROR = "error"


@dataclass(frozen=True)
class Conflict:
    """Another control the learned message already drives."""

    control: str
    source: str


@dataclass(frozen=True)
class LearnState:
    """A learn's state. ``binding``/``source``/``controller`` once a message was decided;
    ``conflicts`` in CONFLICT; ``replaced``, ``saved`` and ``error`` in DONE; ``hint`` while
    WAITING on an ambiguous relative encoder ("turn it the other way ...")."""

    phase: LearnPhase = LearnPhase.IDLE
    control: str = ""
    controller: str = ""
    binding: Binding | None = None
    source: str = ""
    hint: str = ""
    conflicts: tuple[Conflict, ...] = ()
    replaced: tuple[Conflict, ...] = ()
    saved: bool = False
    error: str = ""


@dataclass(frozen=True)
class MidiStatus:
    """The MIDI service's status: API, both links, the mapping file, counters, learn, knobs."""

    api: str | None = None
    """"alsa" or "jack"; None while no MIDI API works (``api_reason`` says why)."""
    api_reason: str = ""
    hw: LinkInfo = field(default_factory=LinkInfo)
    """The controller (hardware or ``--midi-in``) link."""
    virtual: LinkInfo = field(default_factory=LinkInfo)
    """The virtual input ``floweq-tui`` (and its feedback output)."""
    server_gone: bool = False
    """The JACK server went away: every port is closed until a new server is up (then
    they are opened again, and the controller reconnected, by themselves)."""
    mapping_file: str = ""
    mapping_error: str = ""
    """The mapping file's first error, one line with its line number ('' when none)."""
    mapping_errors: tuple[str, ...] = ()
    """Every error (each a bad binding dropped, or the whole file not taken)."""
    mapping_line: int = 0
    """The line of the first error (0 when none or unknown)."""
    client_restarts: int = 0
    """Times our JACK client was opened again because JACK had stopped running it."""
    jack_cycles: int = 0
    """Process cycles JACK has run our MIDI client for (0 on ALSA): it keeps rising while
    JACK runs the client; a value that stands still means no MIDI flows either way."""
    received: int = 0
    ignored: int = 0
    batches: int = 0
    writes: int = 0
    last: str = ""
    """The last control written, in words ("x = 0.52")."""
    learn: LearnState = field(default_factory=LearnState)
    knobs: dict[str, KnobInfo] = field(default_factory=dict)
    pid: int = 0

    def summary(self) -> str:
        """One line about the ports for the headless start-up ("MIDI (jack): ...")."""
        if not self.api:
            return f"MIDI: off ({self.api_reason})"
        if self.server_gone:
            return f"MIDI ({self.api}): JACK server gone; waiting for it to come back"
        c = self.hw
        ctl = f"controller {c.port} ({c.text})" if c.port else c.text
        out = f", feedback to {c.output}" if c.output else ""
        err = f"; mapping error: {self.mapping_error}" if self.mapping_error else ""
        return f"MIDI ({self.api}): {ctl}{out}; virtual input {self.virtual.port}{err}"
