"""The typed state both sides of the engine share: what it opens, what it reports, its errors.

These objects cross the process boundary as they are (pickled by multiprocessing between
our own processes): the parent sends an :class:`EngineConfig`, every reply carries an
:class:`EngineStatus`, and the state is an :class:`EngineState`, never display text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class EngineError(RuntimeError):
    """The engine could not do what was asked (one-line message)."""


EXIT_DEVICE_LOST = 75
"""The engine process leaves with this code when its audio device is lost: a hand-over to a
fresh process (PortAudio cannot safely re-scan once its server or device vanished)."""


class EngineState(StrEnum):
    """Where the engine is. The value is the text shown to users; ``code`` is the number the
    engine writes in the meters block's ``state`` slot (see ``controls.METER_NAMES``)."""

    code: int

    def __new__(cls, text: str, code: int) -> EngineState:
        member = str.__new__(cls, text)
        member._value_ = text
        member.code = code
        return member

    STOPPED = ("stopped", 0)
    RUNNING = ("running", 1)
    """On an audio device."""
    SILENT = ("no audio device: silent clock", 2)
    """The same processing on a real-time clock with no device."""
    ERROR = ("error", 3)
    """The device was lost; a new engine process is taking over."""
    STALLED = ("engine stalled", 4)
    """The parent's view only (never written by the engine): the engine process shows no sign
    of life (stopped or hung); its supervisor replaces it if that lasts."""

    @classmethod
    def from_code(cls, code: float) -> EngineState:
        """The state for a meters-block number (ERROR for a number that means nothing)."""
        return _BY_CODE.get(int(code), cls.ERROR)


_BY_CODE = {s.code: s for s in EngineState}


@dataclass
class EngineConfig:
    """What the engine opens. Devices are an index or a name substring, as in sounddevice."""

    samplerate: int = 48000
    blocksize: int = 128
    channels: int = 2
    output_device: int | str | None = None
    input_device: int | str | None = None
    latency: float | str = "low"
    source: str = "demo"
    """"demo", "input" (live input through the EQ), "silence", or a path to an audio file."""
    silent: bool = False
    """Run on the silent clock even if a device exists (tests, or a box with no speakers)."""
    models_path: str | None = None
    history_seconds: float = 30.0
    """Seconds of input the engine keeps in its history block (the live-input match reads
    the last of them); 0 keeps none. Sized at start for the sample rate then."""
    recovering: bool = False
    """Set on a process that replaces one whose device was lost (it says so)."""
    # --- MIDI (floweq_tui/midi; the MIDI service runs in its own process, see docs/midi.md)
    midi: bool = False
    """Start the MIDI service process alongside the engine (the CLI turns it on)."""
    midi_in: str | None = None
    """Controller input: name substring; None = first hardware port; "none" = virtual only."""
    midi_out: str | None = None
    """Feedback output: name substring; None = the controller's own output; "none"."""
    midi_api: str | None = None
    """"alsa", "jack" or None (auto; FLOWEQ_MIDI_API overrides auto)."""
    midi_config: str | None = None
    """Mapping file (None: $XDG_CONFIG_HOME/floweq-tui/midi.toml)."""
    midi_virtual: bool = True
    """Also open the virtual ports "floweq-tui" (input) and "floweq-tui-out" (feedback)."""
    midi_clock_out: bool = False
    """Send MIDI clock for the tempo in effect on the virtual output (docs/automation.md)."""
    # --- end MIDI

    def validate(self) -> None:
        """Raise EngineError (one line) for a setting outside what the engine supports."""
        if not 8000 <= int(self.samplerate) <= 192000:
            raise EngineError(f"sample rate {self.samplerate} Hz is outside 8000-192000 Hz")
        if not 16 <= int(self.blocksize) <= 8192:
            raise EngineError(f"block size {self.blocksize} is outside 16-8192 frames")
        if not 1 <= int(self.channels) <= 32:
            raise EngineError(f"channels {self.channels} is outside 1-32")
        if not 0 <= float(self.history_seconds) <= 600:
            raise EngineError(f"input history {self.history_seconds} s is outside 0-600 s")


@dataclass
class EngineStatus:
    """What the engine reports about itself (every reply carries one)."""

    state: EngineState = EngineState.STOPPED
    message: str = ""
    device: str = ""
    hostapi: str = ""
    samplerate: int = 0
    blocksize: int = 0
    channels: int = 0
    source: str = ""
    models: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    pid: int = 0

    def __post_init__(self) -> None:
        self.state = EngineState(self.state)  # also from its text
