"""Presets by MIDI, in the MIDI process: Program Change (with Bank Select) recalls a preset
through the bank file, the learnable buttons step to the next or previous one and save the
sound in effect "here" (at the program in use); the program recalled is sent back.

Everything here runs on the MIDI process's loop (files are read there, never in the engine):
a recall writes the preset's controls into the shared block through
:func:`floweq_tui.presets.recall`, so the engine morphs there on its own clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import presets
from ..controls import CONTROL_INDEX, CONTROL_SPECS, Controls
from .mapping import CC_BANK_LSB, CC_BANK_MSB, PROGRAM

ACTIONS = (PROGRAM, "preset_next", "preset_prev", "preset_save")
"""Control writes the MIDI process acts on instead of only storing them."""


class Programs:
    """Recall, step and save presets by number for the MIDI service (one owner, no threads)."""

    def __init__(
        self,
        controls: np.ndarray,
        model_names: list[str] | None = None,
        anchor_labels: list[str] | None = None,
        curve: Callable[[dict[str, float]], Any] | None = None,
    ) -> None:
        self.ctl = Controls(controls) if not isinstance(controls, Controls) else controls
        self.models = list(model_names or [])
        self.anchors = list(anchor_labels or [])
        self._curve = curve
        self.last = ""
        """What the last action did (or why it did not), one line."""
        self.sent: float | None = None
        """The program last sent back as feedback (None: nothing yet)."""
        self.channel = 1
        """The channel programs came from last (feedback goes there)."""

    # ------------------------------------------------------------ actions

    def act(self, name: str, value: float) -> str:
        """One action write from the mapper: a program number, or a button (pressed >= 0.5)."""
        if name == PROGRAM:
            return self.recall(int(value))
        if value < 0.5:  # a button's release
            return ""
        if name == "preset_save":
            return self.save_here()
        return self.step(1 if name == "preset_next" else -1)

    def recall(self, number: int) -> str:
        """Recall the preset the bank maps ``number`` to (morphing); one line either way."""
        bank = presets.load_bank()
        where = presets.describe_program(number)
        name = bank.programs.get(number)
        if name is None:  # selected all the same: "save here" fills it
            self.ctl["program"] = number
            self.last = f"{where}: no preset there" + (f" ({bank.notice})" if bank.notice else "")
            return self.last
        try:
            preset = presets.load(name)
        except presets.PresetError as exc:
            self.last = f"{where}: {exc}"
            return self.last
        values, notice = preset.to_controls(self.models, self.anchors)
        presets.recall(self.ctl, values)
        self.ctl["program"] = number
        self.last = f"{where}: preset {name!r}" + (f"; {notice}" if notice else "")
        return self.last

    def step(self, direction: int) -> str:
        """The next (+1) or previous (-1) preset of the bank, wrapping."""
        bank = presets.load_bank()
        number = bank.step(int(self.ctl["program"]), direction)
        if number is None:
            self.last = "no presets to step through"
            return self.last
        return self.recall(number)

    def save_here(self) -> str:
        """Save the sound in effect as the preset at the program in use (program 0 when none
        was recalled yet); a number with no preset gets one, "program N", added to the bank."""
        number = max(int(self.ctl["program"]), 0)
        bank = presets.load_bank()
        name = bank.programs.get(number) or presets.describe_program(number)
        values = self.ctl.as_dict()
        curve = self._curve(values) if self._curve is not None else None
        try:
            preset = presets.Preset.from_controls(name, values, self.models, self.anchors, curve)
            presets.save(preset)
            if bank.programs.get(number) != name:
                bank.programs[number] = name
                presets.save_bank(bank)
        except (presets.PresetError, OSError) as exc:
            self.last = f"not saved: {exc}"
            return self.last
        self.ctl["program"] = number
        self.sent = None  # say it back, even if it was already the program in use
        self.last = f"saved preset {name!r} at {presets.describe_program(number)}"
        return self.last

    # ------------------------------------------------------------ feedback

    def feedback(self) -> list[list[int]]:
        """Bank Select (only when not bank 0) and Program Change for a program not yet sent."""
        now = float(self.ctl["program"])
        if now == self.sent or now < 0:
            return []
        self.sent = now
        msb, lsb, program = presets.split_program(int(now))
        ch = (self.channel - 1) & 0x0F
        out = []
        if msb or lsb:
            out += [[0xB0 | ch, CC_BANK_MSB, msb], [0xB0 | ch, CC_BANK_LSB, lsb]]
        return out + [[0xC0 | ch, program]]


def model_curve() -> Callable[[dict[str, float]], Any]:
    """The 13 parameters in effect for a set of controls (the model family loaded once, when
    first asked: only "save here" needs it)."""
    core: list[Any] = []

    def curve(values: dict[str, float]) -> Any:
        if not core:
            from ..vae import core_models

            core.append(core_models())
        return presets.params_in_effect(values, core[0])

    return curve


assert all(name in CONTROL_INDEX for name in ACTIONS)
assert all(CONTROL_SPECS[CONTROL_INDEX[n]].kind in ("int", "bool") for n in ACTIONS)
