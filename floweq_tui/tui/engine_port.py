"""What the UI needs from an engine, and from the MIDI service beside it: two Protocols.

The app and its Controller depend only on these. The real :class:`floweq_tui.engine.Engine`
(started) is an :class:`EngineLike`, and its ``midi`` (a :class:`floweq_tui.midi.MidiProcess`)
a :class:`MidiClient`; the test harness (tests/harness/fakes.py) has a fake of each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..controls import Controls, History, Meters
    from ..engine import EngineStatus
    from ..midi.state import KnobInfo, LearnState, MidiStatus
    from ..runtime.supervisor import ChildHealth


@runtime_checkable
class MidiClient(Protocol):
    """The MIDI service as the UI asks it: port state, knob positions, learn. Each call is a
    request to another process, so the UI makes it off its own thread."""

    def status(self) -> MidiStatus:
        """Ports, link states, learn state and knob positions."""
        ...

    def knobs(self) -> dict[str, KnobInfo]: ...

    def learn_start(self, control: str, timeout: float | None = None) -> LearnState: ...

    def learn_status(self) -> LearnState: ...

    def learn_cancel(self) -> LearnState: ...

    def learn_commit(self, replace: bool = True) -> LearnState: ...


@runtime_checkable
class EngineLike(Protocol):
    """A started engine: its shared blocks, what it reports, and its process's life."""

    @property
    def controls(self) -> Controls:
        """The shared controls block (the UI writes; the audio thread applies next block)."""
        ...

    @property
    def meters(self) -> Meters:
        """The shared meters block (the audio thread writes; the UI reads)."""
        ...

    @property
    def history(self) -> History | None:
        """The last seconds of the input (the audio thread writes; the UI reads), or None."""
        ...

    @property
    def status(self) -> EngineStatus:
        """Device, rate, block, the model names and anchor labels, the last message."""
        ...

    @property
    def midi(self) -> MidiClient | None:
        """The MIDI service, or None for an engine without MIDI (``--no-midi``)."""
        ...

    @property
    def state(self) -> str:
        """One line: "running", "no audio device: silent clock", "stopped", ..."""
        ...

    @property
    def alive(self) -> bool:
        """True while the engine process runs."""
        ...

    @property
    def stopped(self) -> bool:
        """True once ``stop`` was called (a deliberate stop, not a crash)."""
        ...

    @property
    def health(self) -> dict[str, ChildHealth]:
        """The supervisor's view of each child ("engine", "midi"): state, restarts, reason."""
        ...

    def restart(self, timeout: float = 30.0) -> EngineStatus:
        """Restart the engine process by hand (through its supervisor), keeping the controls."""
        ...

    def stop(self) -> None:
        """Stop the engine (and its MIDI service). Idempotent."""
        ...


__all__ = ["EngineLike", "MidiClient"]
