"""MIDI in the UI, without Textual: the port state for the status line, the knob position
shown beside a value until soft takeover picks it up, learn results as one-line notices,
and which control the focused value is (for MIDI learn)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

from ..controls import AB_TWIN_START, CONTROL_INDEX, CONTROL_SPECS
from ..midi.state import Conflict, KnobInfo, LearnPhase, LearnState, LinkState, MidiStatus

LABELS: dict[str, str] = {s.name: s.label for s in CONTROL_SPECS}
# group items that are not controls of their own, and the control a knob on them drives
ITEM_CONTROL = {"dims": "model", "beta": "model"}


def control_label(name: str) -> str:
    return LABELS.get(name, name)


def learnable_controls() -> list[str]:
    """Every control MIDI can drive: each continuous control and each toggle/choice (not
    the table slots a path or a recording fills: ``kind == "data"``, nor the A/B twins)."""
    return [
        s.name for s in CONTROL_SPECS[:AB_TWIN_START] if s.kind != "data" and s.name != "rec_state"
    ]


def item_control(key: str) -> str | None:
    """The control behind a group item key ("x", "dims", ...), or None."""
    key = ITEM_CONTROL.get(key, key)
    return key if key in CONTROL_INDEX else None


@dataclass(frozen=True)
class MidiState:
    """What the status line says about MIDI. ``level``: ok, warn, bad or off."""

    level: str
    short: str  # "MIDI ok"
    medium: str  # "MIDI nanoKONTROL2 connected"
    full: str  # "... · virtual floweq-tui:floweq-tui (alsa)"
    virtual: str = ""  # medium + " · virtual PORT" (no API, no mapping error)

    def forms(self) -> list[str]:
        """Longest first, for the status line to take the first that fits."""
        out = [self.full, self.virtual, self.medium, self.short]
        return [f for i, f in enumerate(out) if f and f not in out[:i]]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def midi_state(status: MidiStatus | None, error: str = "", off: bool = False) -> MidiState:
    """From ``engine.midi.status()`` (None while the first answer is awaited)."""
    if off:
        return MidiState("off", "MIDI off", "MIDI off", "MIDI off (--no-midi)")
    if error:
        return MidiState("bad", "MIDI err", "MIDI error", f"MIDI error: {_clip(error, 60)}")
    if status is None:
        return MidiState("warn", "MIDI …", "MIDI starting", "MIDI starting")
    hw = status.hw
    state = hw.state
    name = hw.controller
    vport = status.virtual.port or ""
    api = status.api
    if state is LinkState.CONNECTED:
        level, word = "ok", "connected"
    elif state.waiting:
        level, word = "warn", "waiting"
    elif state is LinkState.ERROR:
        level, word = "bad", "error"
    elif api is None:
        level, word = "bad", "no MIDI API"
    else:
        level, word = "warn" if vport else "off", "no controller" if vport else "off"
    if status.server_gone:  # every port waits for the JACK server to come back
        level, word = "warn", "waiting: JACK server gone"
    short = {"ok": "MIDI ok", "warn": "MIDI wait", "bad": "MIDI err", "off": "MIDI off"}[level]
    if word == "no controller":
        short = "MIDI virt"
    who = (
        f" {_clip(name, 20)}" if name and not status.server_gone and word != "no controller" else ""
    )
    medium = f"MIDI{who} {word}"
    full = virtual = medium
    if vport:
        full = virtual = f"{medium} · virtual {vport}"
    if api:
        full += f" ({api})"
    if status.mapping_error:
        where = mapping_where(status)
        full += f" · mapping error {where}"
        virtual += f" · {where}"
        medium += f" · {where}"
        short += f" {where}"
        level = "warn" if level in ("ok", "off") else level
    return MidiState(level, short, medium, full, virtual)


def mapping_where(status: MidiStatus) -> str:
    """Where the mapping file's first error is, short ("midi.toml:9")."""
    name = PurePath(status.mapping_file).name or "midi.toml"
    return f"{name}:{status.mapping_line}" if status.mapping_line else name


def mapping_notice(status: MidiStatus) -> str:
    """The one-line notice for a mapping file error ('' when there is none)."""
    if not status.mapping_error:
        return ""
    return f"MIDI mapping file: {status.mapping_error}"


def knob_value(knobs: Mapping[str, KnobInfo], name: str) -> float | None:
    """The knob position of ``name`` while soft takeover has not picked it up (else None)."""
    k = knobs.get(name)
    if k is None or k.picked_up or k.knob is None:
        return None
    return float(k.knob)


def knob_text(knobs: Mapping[str, KnobInfo], name: str, fmt: str) -> str | None:
    """:func:`knob_value` formatted with ``fmt`` (None while there is nothing to show)."""
    v = knob_value(knobs, name)
    return None if v is None else format(v, fmt)


def _controls(conflicts: tuple[Conflict, ...]) -> str:
    return ", ".join(control_label(c.control) for c in conflicts)


def learn_notice(result: LearnState) -> tuple[str, str]:
    """(one-line notice, severity) for the end of a learn."""
    phase = result.phase
    control = control_label(result.control)
    source = result.source or "?"
    if phase is LearnPhase.DONE:
        text = f"MIDI learn: {control} ← {source}"
        if result.controller:
            text += f" ({result.controller})"
        if result.replaced:
            text += f", replacing {_controls(result.replaced)}"
        if not result.saved:
            return f"{text}; not saved: {result.error or 'mapping file error'}", "warning"
        return text, "information"
    if phase is LearnPhase.KEPT:
        return f"MIDI learn: kept {source} on {_controls(result.conflicts)}", "information"
    if phase is LearnPhase.TIMEOUT:
        return f"MIDI learn: nothing received for {control}", "warning"
    if phase is LearnPhase.CANCELLED:
        return "MIDI learn cancelled", "information"
    return f"MIDI learn failed: {result.error or phase.value}", "error"


def conflict_question(result: LearnState) -> str:
    return (
        f"{result.source or '?'} already drives {_controls(result.conflicts)}.\n"
        f"Bind it to {control_label(result.control)} instead?"
    )
