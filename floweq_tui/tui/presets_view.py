"""The preset browser's view model (no widgets): each preset's curve in miniature, the search,
and which preset is in use and whether the sound has moved away from it since."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import eqmath, params, presets

BARS = " ▁▂▃▄▅▆▇█"
RANGE_DB = 12.0


def miniature(p: presets.Preset, width: int = 24, samplerate: float = 48000.0) -> str:
    """The preset's response, 20 Hz-20 kHz, as ``width`` bar characters (0 dB in the middle,
    +-12 dB at the ends); the stored curve (strength and band switches applied), or the
    manual parameters when the file has none."""
    v = p.values
    curve = p.curve if p.curve is not None else tuple(v.get(f"p{i}", 0.0) for i in range(13))
    values = params.apply_strength(params.clip(list(curve)), v.get("strength", 1.0))
    active = [v.get(f"active{b}", 1.0) >= 0.5 for b in range(5)]
    for b, on in enumerate(active):
        if not on:
            values[params.GAIN_INDEX[b]] = 0.0
    freqs = eqmath.log_grid(width, 20.0, 20000.0)
    db = eqmath.response_db(values, freqs, samplerate)
    level = np.clip((np.asarray(db) + RANGE_DB) / (2 * RANGE_DB), 0.0, 1.0)
    return "".join(BARS[int(round(u * (len(BARS) - 1)))] for u in level)


def matches(p: presets.Preset, query: str) -> bool:
    """Every word of the search appears in the name or the one-line description."""
    text = f"{p.name} {p.describe()}".casefold()
    return all(word in text for word in query.casefold().split())


def unsaved(p: presets.Preset, controls: dict[str, float], models: list[str],
            anchors: list[str]) -> bool:  # fmt: skip
    """True when the controls now are not the preset's sound (any preset control differs)."""
    now = presets.Preset.from_controls(p.name, controls, models, anchors)
    if any(now.names.get(k) != p.names.get(k) for k in p.names):
        return True
    return any(abs(now.values[k] - p.values.get(k, now.values[k])) > 1e-6 for k in now.values)


@dataclass(frozen=True)
class Row:
    """One line of the browser."""

    name: str
    curve: str
    about: str
    in_use: bool
    dirty: bool

    def text(self) -> str:
        mark = ("▶" if self.in_use else " ") + ("*" if self.dirty else " ")
        return f"{mark} {self.name:<20.20} {self.curve}  {self.about}"
