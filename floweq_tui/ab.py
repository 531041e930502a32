"""A/B: two slots of the sound, one heard (and edited), the other kept ready in the engine.

The controls block holds the slot being heard in the ordinary controls and the other slot in
their twins (``ab_`` + name, :data:`~floweq_tui.controls.SOUND_CONTROLS`). Every writer (the
UI, the MIDI service) switches through :func:`toggle`: it swaps each control with its twin
and flips ``ab_slot``; the engine's processor sees the flip and crossfades, sample by sample
in ``ab_fade_ms`` (at most 50 ms), from the cascade that played the old slot to the one that
was already playing the other (docs/presets.md, "A/B").
"""

from __future__ import annotations

from typing import Protocol

from .controls import SOUND_CONTROLS

SLOT_NAMES = ("A", "B")
ACTIONS = ("ab_slot", "ab_copy")
"""Controls that a writer turns into :func:`toggle` / :func:`copy_to_other` (MIDI buttons)."""


class ControlBlock(Protocol):
    """The controls block by name (a :class:`~floweq_tui.controls.Controls` view)."""

    def __getitem__(self, name: str) -> float: ...

    def __setitem__(self, name: str, value: float) -> None: ...


def slot(ctl: ControlBlock) -> str:
    """The slot being heard: "A" or "B"."""
    return SLOT_NAMES[1 if ctl["ab_slot"] >= 0.5 else 0]


def copy_to_other(ctl: ControlBlock) -> None:
    """Copy the slot being heard into the other one (A to B when A is heard) and arm A/B."""
    for name in SOUND_CONTROLS:
        ctl[f"ab_{name}"] = ctl[name]
    ctl["ab_copy"] = 0
    ctl["ab_on"] = 1


def toggle(ctl: ControlBlock) -> str:
    """Hear the other slot (a crossfade in the engine); returns the slot now heard. The first
    toggle arms A/B with the other slot a copy of this one."""
    if ctl["ab_on"] < 0.5:
        copy_to_other(ctl)
    for name in SOUND_CONTROLS:
        twin = f"ab_{name}"
        a, b = ctl[name], ctl[twin]
        ctl[name], ctl[twin] = b, a
    ctl["ab_slot"] = 0 if ctl["ab_slot"] >= 0.5 else 1
    return slot(ctl)


def apply_action(ctl: ControlBlock, name: str, value: float) -> bool:
    """A writer's value for an A/B action control: a changed ``ab_slot`` toggles, an
    ``ab_copy`` press copies. True if ``name`` was an action (then nothing else to write)."""
    if name == "ab_slot":
        if (value >= 0.5) != (ctl["ab_slot"] >= 0.5):
            toggle(ctl)
        return True
    if name == "ab_copy":
        if value >= 0.5:
            copy_to_other(ctl)
        return True
    return False
