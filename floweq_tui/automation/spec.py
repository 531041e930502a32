"""Modulator and figure specs: parsing what a person types, and the slots they fill."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..controls import (
    FIGURES,
    MOD_SHAPES,
    MOD_TARGETS,
    N_LFOS,
    NOTE_INDEX,
    NOTE_VALUES,
    TEMPO_SOURCES,
)
from ..params import PARAMS
from .recorder import loop_targets, targets_text


class ModSpecError(ValueError):
    """A modulator spec that cannot be read (the message is one line)."""


SHAPE_ALIASES: dict[str, str] = {
    "sin": "sine",
    "tri": "triangle",
    "saw": "saw_up",
    "ramp": "saw_up",
    "sawup": "saw_up",
    "sawdown": "saw_down",
    "sqr": "square",
    "sh": "sample_hold",
    "s&h": "sample_hold",
    "random": "sample_hold",
    "smooth": "smooth_random",
    "drift": "smooth_random",
}
RATE_MIN, RATE_MAX = 0.01, 20.0
_HZ = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*hz\s*$", re.IGNORECASE)


def _norm(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def parse_target(text: str) -> int:
    """A target's index in MOD_TARGETS: x, y, z, interpolate, strength, in_gain, out_gain,
    p0-p12, or a parameter's key (e.g. ``b3_freq``)."""
    name = _norm(text)
    if name in MOD_TARGETS:
        return MOD_TARGETS.index(name)
    for p in PARAMS:
        if name == _norm(p.key):
            return MOD_TARGETS.index(f"p{p.index}")
    raise ModSpecError(f"unknown target {text!r} (one of {', '.join(MOD_TARGETS[:7])}, p0-p12)")


def parse_shape(text: str) -> int:
    """A shape's index in MOD_SHAPES (a few short names accepted: sin, tri, saw, sh, smooth)."""
    name = _norm(text)
    name = SHAPE_ALIASES.get(name, name)
    if name not in MOD_SHAPES:
        raise ModSpecError(f"unknown shape {text!r} (one of {', '.join(MOD_SHAPES)})")
    return MOD_SHAPES.index(name)


def parse_rate(text: str | float) -> tuple[bool, float]:
    """(synced, value): ``0.5hz`` (or a bare number) -> (False, 0.5 Hz); ``1/4``, ``1/8t``,
    ``1/8.``, ``2bar`` -> (True, the note's index in NOTE_VALUES)."""
    if isinstance(text, bool):
        raise ModSpecError(f"rate {text!r} is not a rate")
    if isinstance(text, int | float):
        return False, _hz(float(text), str(text))
    raw = str(text).strip()
    m = _HZ.match(raw)
    if m or _is_number(raw):
        return False, _hz(float(m.group(1) if m else raw), raw)
    note = raw.lower().replace(" ", "")
    note = re.sub(r"bars?$", "bar", note)
    if note in ("1", "1/1"):
        note = "1bar"
    if note not in NOTE_INDEX:
        raise ModSpecError(
            f"rate {raw!r} is neither <number>hz ({RATE_MIN:g}-{RATE_MAX:g}) nor a note value "
            f"(8bar, 4bar, 2bar, 1bar, 1/2 ... 1/32, dotted 1/8. or triplet 1/8t)"
        )
    return True, float(NOTE_INDEX[note])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _hz(value: float, raw: str) -> float:
    if not math.isfinite(value) or not RATE_MIN <= value <= RATE_MAX:
        raise ModSpecError(f"rate {raw} is outside {RATE_MIN:g}-{RATE_MAX:g} Hz")
    return value


def _number(value: object, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ModSpecError(f"{what} {value!r} is not a number")
    try:
        v = float(value)
    except ValueError:
        raise ModSpecError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ModSpecError(f"{what} {v:g} is outside {lo:g} to {hi:g}")
    return v


def rate_text(sync: bool, value: float) -> str:
    """A rate as typed: '0.5hz' or the note value's name."""
    if sync:
        return NOTE_VALUES[int(min(max(value, 0), len(NOTE_VALUES) - 1))][0]
    return f"{value:g}hz"


@dataclass(frozen=True)
class LfoSpec:
    """One modulator, as slots of the controls block say it."""

    target: int
    shape: int = 0
    sync: bool = False
    rate: float = 1.0
    """Hz when free; the note's index in NOTE_VALUES when synced."""
    depth: float = 0.5
    """The fraction of the target's range the sweep covers (-1..1; negative inverts)."""
    phase: float = 0.0
    """Degrees (0-360)."""
    unipolar: bool = False
    on: bool = True

    def controls(self, slot: int) -> dict[str, float]:
        """The values of modulator ``slot`` (1-based) for the controls block."""
        p = f"lfo{slot}"
        return {
            f"{p}_on": float(self.on),
            f"{p}_target": float(self.target),
            f"{p}_shape": float(self.shape),
            f"{p}_sync": float(self.sync),
            f"{p}_rate" if not self.sync else f"{p}_note": float(self.rate),
            f"{p}_depth": self.depth,
            f"{p}_phase": self.phase,
            f"{p}_unipolar": float(self.unipolar),
        }

    def describe(self) -> str:
        """Short text for status lines: 'x sine 1/4 d0.50'."""
        polar = " uni" if self.unipolar else ""
        return (
            f"{MOD_TARGETS[self.target]} {MOD_SHAPES[self.shape]} "
            f"{rate_text(self.sync, self.rate)} d{self.depth:.2f}{polar}"
        )


def parse_lfo(text: str) -> LfoSpec:
    """``TARGET:SHAPE:RATE[:DEPTH]``, e.g. ``x:sine:1/4:0.5`` or ``p1:tri:0.2hz``."""
    parts = text.split(":")
    if not 3 <= len(parts) <= 4:
        raise ModSpecError(f"{text!r}: expected TARGET:SHAPE:RATE[:DEPTH]")
    try:
        sync, rate = parse_rate(parts[2])
        depth = _number(parts[3], "depth", -1.0, 1.0) if len(parts) == 4 else 0.5
        return LfoSpec(parse_target(parts[0]), parse_shape(parts[1]), sync, rate, depth)
    except ModSpecError as exc:
        raise ModSpecError(f"{text!r}: {exc}") from None


@dataclass(frozen=True)
class FigureSpec:
    """The latent figure moving x and y: orbit, figure8 or walk."""

    shape: int = 0
    sync: bool = False
    rate: float = 0.25
    depth: float = 0.25
    ratio: float = 1.0
    """Orbit: y's rate over x's (1: a circle or ellipse; 2, 3/2 ...: Lissajous figures)."""
    aspect: float = 1.0
    """y's depth over x's."""
    phase: float = 0.0
    on: bool = True

    def controls(self) -> dict[str, float]:
        return {
            "fig_on": float(self.on),
            "fig_shape": float(self.shape),
            "fig_sync": float(self.sync),
            "fig_note" if self.sync else "fig_rate": float(self.rate),
            "fig_depth": self.depth,
            "fig_ratio": self.ratio,
            "fig_aspect": self.aspect,
            "fig_phase": self.phase,
        }

    def describe(self) -> str:
        return f"{FIGURES[self.shape]} {rate_text(self.sync, self.rate)} d{self.depth:.2f}"


def off_controls() -> dict[str, float]:
    """Every modulator and the figure switched off."""
    out = {f"lfo{k}_on": 0.0 for k in range(1, N_LFOS + 1)}
    out["fig_on"] = 0.0
    return out


def lfo_from_controls(c: Mapping[str, float], slot: int) -> LfoSpec:
    """Modulator ``slot`` (1-based) as the controls hold it."""
    p = f"lfo{slot}"
    sync = c[f"{p}_sync"] >= 0.5
    return LfoSpec(
        target=int(c[f"{p}_target"]),
        shape=int(c[f"{p}_shape"]),
        sync=sync,
        rate=c[f"{p}_note"] if sync else c[f"{p}_rate"],
        depth=c[f"{p}_depth"],
        phase=c[f"{p}_phase"],
        unipolar=c[f"{p}_unipolar"] >= 0.5,
        on=c[f"{p}_on"] >= 0.5,
    )


def figure_from_controls(c: Mapping[str, float]) -> FigureSpec:
    sync = c["fig_sync"] >= 0.5
    return FigureSpec(
        shape=int(c["fig_shape"]),
        sync=sync,
        rate=c["fig_note"] if sync else c["fig_rate"],
        depth=c["fig_depth"],
        ratio=c["fig_ratio"],
        aspect=c["fig_aspect"],
        phase=c["fig_phase"],
        on=c["fig_on"] >= 0.5,
    )


def describe_running(c: Mapping[str, float]) -> str:
    """Tempo, its source and the running modulators, for a status line:
    '120.0 BPM internal; mods: x sine 1/4 d0.50, orbit 2bar d0.25' (or 'mods: none')."""
    src = TEMPO_SOURCES[int(min(max(c["tempo_source"], 0), len(TEMPO_SOURCES) - 1))]
    stopped = "" if c["transport"] >= 0.5 else " stopped"
    running = [
        lfo_from_controls(c, k).describe() for k in range(1, N_LFOS + 1) if c[f"lfo{k}_on"] >= 0.5
    ]
    if c["fig_on"] >= 0.5:
        running.append(figure_from_controls(c).describe())
    if c["path_on"] >= 0.5 and c["path_n"] >= 1:
        running.append(f"path pos {c['path_pos']:.2f} ({int(c['path_n'])} pts)")
    if c["rec_play"] >= 0.5 and c["rec_n"] >= 2:
        running.append(f"motion {targets_text(loop_targets(c))} {c['rec_beats']:g} beats")
    return f"{c['bpm']:.1f} BPM {src}{stopped}; mods: {', '.join(running) or 'none'}"
