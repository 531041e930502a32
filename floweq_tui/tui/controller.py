"""Everything the UI does to the engine, without Textual: steps, modes, models, bands.

Widgets and key bindings call this; tests can drive it directly. Writes go straight into the
engine's shared controls block (non-blocking; the audio thread applies them next block).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import ab
from ..automation.tempo import TapTempo
from ..controls import CONTROL_SPEC, MODES, N_LFOS, TEMPO_SOURCES, Controls, latent_point
from ..params import BAND_NAMES, FREQ_INDEX, GAIN_INDEX, Q_INDEX
from .engine_port import EngineLike
from .midi_view import item_control, knob_value

MODE_LABELS = ("Traverse", "Semantic", "Manual")
MODEL_RE = re.compile(r"^vae_d(\d+)_b(.+)$")

BAND_FIELDS = ("active", "gain", "freq", "q")
BAND_SHORT = ("Low", "Band 1", "Band 2", "Band 3", "High")


def model_dims_beta(name: str) -> tuple[int, str]:
    m = MODEL_RE.match(name)
    return (int(m.group(1)), m.group(2)) if m else (2, "?")


@dataclass
class Item:
    """One adjustable value in a control group."""

    key: str
    label: str
    short: str
    show: Callable[[], str]
    adjust: Callable[[int, bool], None]
    """adjust(direction +1/-1, coarse)"""
    knob: Callable[[], str | None] | None = None
    """The MIDI knob's position while soft takeover has not picked the value up (or None)."""


class Controller:
    """The UI's model: reads the engine's blocks, writes controls, knows the model family."""

    def __init__(self, engine: EngineLike, family: Any = None) -> None:
        self.engine = engine
        self.family = family
        self.names: list[str] = list(engine.status.models)
        self.anchor_labels: list[str] = list(engine.status.anchors)
        self.spectrum = False
        self._tapper = TapTempo()
        self.knobs: dict[str, dict[str, Any]] = {}
        """``engine.midi.knobs()`` as last polled by the app (empty without MIDI)."""
        self.notice: Callable[[str], None] = lambda text: None
        self._enc_cache: tuple[bytes, str, tuple[float, ...]] | None = None

    # ------------------------------------------------------------ basic access

    @property
    def controls(self) -> Controls:
        return self.engine.controls

    def get(self, name: str) -> float:
        return self.engine.controls[name]

    def set(self, name: str, value: float) -> None:
        self.engine.controls[name] = value

    def nudge(self, name: str, direction: int, coarse: bool = False) -> None:
        """Step a control up (+1) or down (-1) by its fine or coarse step (clamped)."""
        spec = CONTROL_SPEC[name]
        if spec.kind == "bool":
            self.toggle(name)
            return
        self.set(name, spec.stepped(self.get(name), direction, coarse))

    def toggle(self, name: str) -> None:
        self.set(name, 0.0 if self.get(name) >= 0.5 else 1.0)

    # ------------------------------------------------------------ tempo

    def tap(self, now: float | None = None) -> None:
        """One tap of tap tempo: the tempo and the beat anchor (the source becomes internal)."""
        line = self._tapper.tap(time.monotonic() if now is None else now, self.get("bpm"))
        for name, value in line.as_controls(0).items():
            self.set(name, value)

    def tempo_tag(self, bpm_now: float) -> str:
        """The meter line's tempo tag: shown when a clock or Link leads or a modulator runs."""
        source = int(min(max(self.get("tempo_source"), 0), len(TEMPO_SOURCES) - 1))
        running = self.get("fig_on") >= 0.5 or any(
            self.get(f"lfo{k}_on") >= 0.5 for k in range(1, N_LFOS + 1)
        )
        if source == 0 and not running:
            return ""  # (the internal tempo with nothing following it: not worth the room)
        return f"  {bpm_now or self.get('bpm'):.1f} BPM {TEMPO_SOURCES[source]}"

    # ------------------------------------------------------------ mode

    @property
    def mode(self) -> int:
        return int(self.get("mode"))

    @property
    def mode_label(self) -> str:
        return MODE_LABELS[min(max(self.mode, 0), 2)]

    def set_mode(self, mode: int) -> None:
        """Switch mode; entering Manual starts from the parameters decoded right now."""
        mode = int(mode) % 3
        if mode == 2 and self.mode != 2:
            decoded = np.asarray(self.engine.meters.params, dtype=np.float64)
            for i, v in enumerate(decoded):
                self.set(f"p{i}", float(v))
        self.set("mode", mode)

    def cycle_mode(self, direction: int = 1) -> None:
        self.set_mode((self.mode + direction) % 3)

    # ------------------------------------------------------------ models

    @property
    def model_index(self) -> int:
        return int(self.get("model"))

    @property
    def model_name(self) -> str:
        i = self.model_index
        return self.names[i] if 0 <= i < len(self.names) else "no model"

    @property
    def dims(self) -> int:
        model = self.model
        if model is not None:
            return int(model.latent)
        return model_dims_beta(self.model_name)[0] if self.names else 2

    @property
    def beta(self) -> str:
        return model_dims_beta(self.model_name)[1] if self.names else "-"

    @property
    def model(self) -> Any:
        if self.family is None or not self.names:
            return None
        try:
            return self.family[self.model_name]
        except KeyError:
            return None

    def _betas(self, dims: int) -> list[str]:
        out = [model_dims_beta(n)[1] for n in self.names if model_dims_beta(n)[0] == dims]
        return sorted(out, key=lambda b: float(b) if _isfloat(b) else math.inf)

    def select_dims(self, dims: int) -> None:
        """Latent 1/2/3: keep beta if that model exists, else the nearest one."""
        betas = self._betas(dims)
        if not betas:
            self.notice(f"no model with {dims} latent dimension(s)")
            return
        beta = self.beta if self.beta in betas else betas[min(1, len(betas) - 1)]
        self.set("model", self.names.index(f"vae_d{dims}_b{beta}"))

    def cycle_beta(self, direction: int = 1) -> None:
        betas = self._betas(self.dims)
        if not betas:
            return
        i = betas.index(self.beta) if self.beta in betas else 0
        beta = betas[(i + direction) % len(betas)]
        self.set("model", self.names.index(f"vae_d{self.dims}_b{beta}"))

    # ------------------------------------------------------------ semantic

    def anchor_label(self, which: str) -> str:
        i = int(self.get(which))
        return self.anchor_labels[i] if 0 <= i < len(self.anchor_labels) else "-"

    def step_anchor(self, which: str, direction: int) -> None:
        n = len(self.anchor_labels)
        if n:
            self.set(which, (int(self.get(which)) + direction) % n)

    # ------------------------------------------------------------ bands

    def shown_params(self) -> np.ndarray:
        """The 13 parameters the EQ uses (before strength): manual controls or decoded."""
        if self.mode == 2:
            return np.asarray(self.engine.controls.params, dtype=np.float64)
        return np.asarray(self.engine.meters.params, dtype=np.float64)

    def export(self, directory: Path | None = None) -> list[Path]:
        """Write the EQ in effect in every export format (docs/presets.md) into
        ``directory`` (default: the data directory's ``exports``); returns the files."""
        from .. import eqfile
        from ..paths import data_dir, write_text_atomic

        c = self.engine.controls
        fs = float(self.engine.status.samplerate or 48000)
        active = [c[f"active{b}"] >= 0.5 for b in range(5)]
        curve = eqfile.curve_for(self.shown_params(), active, c["strength"], fs)
        folder = directory or data_dir() / "exports"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = []
        for fmt, suffix in eqfile.SUFFIXES.items():
            path = folder / f"floweq-{stamp}-{fmt}{suffix}"
            write_text_atomic(path, eqfile.export_text(fmt, curve, fs))
            out.append(path)
        return out

    def ab_toggle(self) -> str:
        """A/B: hear the other slot; returns the slot now heard."""
        return ab.toggle(self.controls)

    def ab_copy(self) -> str:
        """A/B: copy the slot heard into the other; returns the slot it went to."""
        ab.copy_to_other(self.controls)
        return "B" if ab.slot(self.controls) == "A" else "A"

    @staticmethod
    def band_index(band: int, field: str) -> int | None:
        if field == "gain":
            return GAIN_INDEX[band]
        if field == "freq":
            return FREQ_INDEX[band]
        if field == "q":
            return Q_INDEX[band]
        return None

    def band_edit(self, band: int, field: str, direction: int, coarse: bool = False) -> None:
        """Step one band value; in Traverse/Semantic this first switches to Manual."""
        if field == "active":
            self.toggle(f"active{band}")
            return
        idx = self.band_index(band, field)
        if idx is None:
            return
        if self.mode != 2:
            self.set_mode(2)
            self.notice("band edit: switched to Manual (starting from the decoded curve)")
        self.nudge(f"p{idx}", direction, coarse)

    # ------------------------------------------------------------ latent point

    def point(self) -> tuple[tuple[float, ...], bool]:
        """(the latent point shown on the map, in latent units; whether it is an encoding)."""
        if self.mode == 2:
            return self.encoded_point(), True
        model = self.model
        if model is None and self.mode == 1:  # the UI has no anchor codes: ask the engine
            m = self.engine.meters
            return tuple(m[k] for k in ("zx", "zy", "zz")[: self.dims]), False
        anchors = [a.z for a in model.anchors] if model is not None else []
        return latent_point(self.controls, self.dims, anchors), False

    def encoded_point(self) -> tuple[float, ...]:
        """Where the manual setting sits in the current model's latent space (its encoder)."""
        model = self.model
        if model is None:
            return (0.0,) * self.dims
        p = np.asarray(self.engine.controls.params, dtype=np.float64)
        key = (p.tobytes(), model.name)
        if self._enc_cache is None or self._enc_cache[:2] != key:
            z = tuple(float(v) for v in np.asarray(model.encode(p)).ravel())
            self._enc_cache = (key[0], key[1], z)
        return self._enc_cache[2]

    def anchors(self) -> list[tuple[str, int, tuple[float, ...]]]:
        """(label, intensity, z) of the current model's semantic anchors."""
        model = self.model
        if model is None:
            return []
        return [(a.label, a.intensity, tuple(a.z)) for a in model.anchors]

    def set_point(self, x: float, y: float | None = None) -> None:
        """Set the point from a map position in displayed units (extend halves it)."""
        if self.mode != 0:
            self.set_mode(0)
            self.notice("map: switched to Traverse")
        scale = 2.0 if self.get("extend") >= 0.5 else 1.0
        self.set("x", round(x / scale / 0.01) * 0.01)
        if y is not None:
            self.set("y", round(y / scale / 0.01) * 0.01)

    # ------------------------------------------------------------ groups

    def _show(self, name: str) -> Callable[[], str]:
        """The control's value as its spec shows it, with the unit ("+0.5dB", "20ms")."""
        spec = CONTROL_SPEC[name]
        return lambda: spec.text(self.get(name)) + spec.unit

    def _onoff(self, name: str) -> Callable[[], str]:
        return lambda: "on" if self.get(name) >= 0.5 else "off"

    def _nudger(self, name: str) -> Callable[[int, bool], None]:
        return lambda d, coarse: self.nudge(name, d, coarse)

    def groups(self) -> dict[str, list[Item]]:
        """The control groups, in Tab order: every control reachable from the keyboard."""

        def item(
            key: str,
            label: str,
            short: str,
            show: Callable[[], str],
            adjust: Callable[[int, bool], None] | None = None,
        ) -> Item:
            return Item(key, label, short, show, adjust or self._nudger(key))

        groups = {
            "mode": [
                item(
                    "mode", "Mode", "Mode", lambda: self.mode_label, lambda d, c: self.cycle_mode(d)
                ),
                item(
                    "dims",
                    "Latent",
                    "Lat",
                    lambda: f"{self.dims}-D",
                    lambda d, c: self.select_dims((self.dims - 1 + d) % 3 + 1),
                ),
                item("beta", "Beta", "β", lambda: self.beta, lambda d, c: self.cycle_beta(d)),
                item("glide_ms", "Glide", "Gld", self._show("glide_ms")),
            ],
            "latent": [
                item("x", "x", "x", self._show("x")),
                item("y", "y", "y", self._show("y")),
                item("z", "z", "z", self._show("z")),
                item(
                    "extend",
                    "Extend",
                    "Ext",
                    lambda: "±4" if self.get("extend") >= 0.5 else "±2",
                    lambda d, c: self.toggle("extend"),
                ),
            ],
            "semantic": [
                item(
                    "anchor_a",
                    "A",
                    "A",
                    lambda: self.anchor_label("anchor_a"),
                    lambda d, c: self.step_anchor("anchor_a", d),
                ),
                item(
                    "anchor_b",
                    "B",
                    "B",
                    lambda: self.anchor_label("anchor_b"),
                    lambda d, c: self.step_anchor("anchor_b", d),
                ),
                item("interpolate", "A→B", "A→B", self._show("interpolate")),
            ],
            "level": [
                item("strength", "Strength", "Str", self._show("strength")),
                item("in_gain", "In", "In", self._show("in_gain")),
                item("out_gain", "Out", "Out", self._show("out_gain")),
                item(
                    "bypass",
                    "Bypass",
                    "Byp",
                    self._onoff("bypass"),
                    lambda d, c: self.toggle("bypass"),
                ),
                item("mute", "Mute", "Mute", self._onoff("mute"), lambda d, c: self.toggle("mute")),
            ],
            "auto": [
                item(
                    "auto_gain",
                    "Auto",
                    "Auto",
                    self._onoff("auto_gain"),
                    lambda d, c: self.toggle("auto_gain"),
                ),
                item("auto_time", "Rate", "Rate", self._show("auto_time")),
                item("auto_range", "Range", "Rng", self._show("auto_range")),
            ],
        }
        for items in groups.values():
            for it in items:
                spec = CONTROL_SPEC.get(it.key)
                if spec is not None and spec.fine:  # a stepped value: a knob can drive it
                    it.knob = self._knob(it.key)
        return groups

    def _knob(self, name: str) -> Callable[[], str | None]:
        """An unpicked knob's position on ``name``, in the control's own text (or None)."""
        spec = CONTROL_SPEC[name]

        def text() -> str | None:
            v = knob_value(self.knobs, name)
            return None if v is None else spec.text(v)

        return text

    def control_of(self, selected: Item | tuple[int, str]) -> str | None:
        """The control behind a group's selected value (an Item) or a band cell (for MIDI
        learn); None for a value that is no control of its own."""
        if isinstance(selected, Item):
            return item_control(selected.key)
        band, field = selected
        if field == "active":
            return f"active{band}"
        idx = self.band_index(band, field)
        return f"p{idx}" if idx is not None else None

    def band_items(self) -> list[tuple[int, str]]:
        """(band, field) cells of the bands group, in navigation order."""
        out = []
        for b in range(5):
            for f in BAND_FIELDS:
                if f == "q" and Q_INDEX[b] is None:
                    continue
                out.append((b, f))
        return out

    def band_knob(self, band: int, field: str) -> str | None:
        """An unpicked MIDI knob's position on a band value, as a bare number ("-6.0",
        "1.2k", "0.71"): soft takeover has not handed it the value yet."""
        idx = self.band_index(band, field)
        return None if idx is None else self._knob(f"p{idx}")()

    def band_cell(self, params: np.ndarray, band: int, field: str) -> str:
        if field == "active":
            on = self.get(f"active{band}") >= 0.5
            return ("● " if on else "○ ") + BAND_SHORT[band]
        idx = self.band_index(band, field)
        if idx is None:
            return "shelf"
        spec = CONTROL_SPEC[f"p{idx}"]
        text = spec.text(float(params[idx]))
        return f"Q {text}" if field == "q" else text + spec.unit


def _isfloat(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


__all__ = ["BAND_NAMES", "Controller", "MODES", "MODE_LABELS", "Item"]
