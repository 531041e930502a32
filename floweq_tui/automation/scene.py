"""Scene files: the modulators, the figure and the tempo of a piece, in readable TOML.

    bpm = 96                  # optional: the internal tempo
    [[lfo]]                   # up to four
    target = "x"              # x y z interpolate strength in_gain out_gain p0-p12 (or b3_freq)
    shape = "sine"            # sine triangle saw_up saw_down square sample_hold smooth_random
    rate = "4bar"             # "0.5hz" (or 0.5) free, or a note value: 8bar ... 1/32, 1/8., 1/8t
    depth = 0.5               # fraction of the target's range the sweep covers (-1..1)
    phase = 0                 # degrees
    unipolar = false
    on = true
    [figure]                  # optional: a latent figure moving x and y
    shape = "orbit"           # orbit figure8 walk
    rate = "2bar"
    depth = 0.25
    ratio = 1                 # orbit: y's rate over x's
    aspect = 1                # y's depth over x's

Read with ``tomllib`` (data only: nothing is evaluated); every error is one line naming the
file and line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..controls import FIGURES, N_LFOS
from .spec import (
    FigureSpec,
    LfoSpec,
    ModSpecError,
    _number,
    off_controls,
    parse_rate,
    parse_shape,
    parse_target,
)

LFO_KEYS = ("target", "shape", "rate", "depth", "phase", "unipolar", "on")
FIGURE_KEYS = ("shape", "rate", "depth", "ratio", "aspect", "phase", "on")
TOP_KEYS = ("bpm", "lfo", "figure")
MAX_BYTES = 1 << 20


class SceneError(ValueError):
    """A scene file that cannot be used (one line: 'FILE:LINE: what')."""


@dataclass
class Scene:
    """What a scene file holds."""

    lfos: list[LfoSpec] = field(default_factory=list)
    figure: FigureSpec | None = None
    bpm: float | None = None

    def controls(self, extra: list[LfoSpec] | None = None) -> dict[str, float]:
        """The controls block's values: every slot the scene (plus ``extra`` modulators) fills,
        and the unused modulators and figure switched off."""
        lfos = [*self.lfos, *(extra or [])]
        if len(lfos) > N_LFOS:
            raise ModSpecError(f"{len(lfos)} modulators given: at most {N_LFOS}")
        out = off_controls()
        for k, spec in enumerate(lfos, start=1):
            out.update(spec.controls(k))
        if self.figure is not None:
            out.update(self.figure.controls())
        if self.bpm is not None:
            out["bpm"] = self.bpm
        return out


class _Lines:
    """Line numbers of tables and keys in the source text (tomllib gives none for values)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def table(self, name: str, index: int | None) -> int:
        """The line of ``[name]`` or of the index-th ``[[name]]`` (1-based; 0 if not found)."""
        pat = re.compile(
            rf"^\s*\[\[\s*{name}\s*\]\]" if index is not None else rf"^\s*\[\s*{name}\s*\]"
        )
        hits = [i + 1 for i, line in enumerate(self.lines) if pat.match(line)]
        k = index or 0
        return hits[k] if k < len(hits) else 0

    def key(self, key: str, after: int) -> int:
        """The line of ``key =`` in the table starting at line ``after`` (0: the top level)."""
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(after, len(self.lines)):
            line = self.lines[i]
            if line.lstrip().startswith("["):  # the next table
                break
            if pat.match(line):
                return i + 1
        return after


def load_scene(path: str | Path) -> Scene:
    """Read and check a scene file (one-line SceneError on any problem)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise SceneError(f"{p}: larger than {MAX_BYTES} bytes: not a scene file")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SceneError(f"{p}: not a text (UTF-8) file") from None
    except OSError as exc:
        raise SceneError(f"{p}: {exc.strerror or exc}") from None
    return parse_scene(text, str(p))


def parse_scene(text: str, name: str = "<scene>") -> Scene:
    """A scene from TOML text; ``name`` prefixes the errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{name}:{m.group(1)}" if m else name
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)).strip()
        raise SceneError(f"{where}: invalid TOML: {msg}") from None
    lines = _Lines(text)

    def fail(line: int, msg: str) -> SceneError:
        return SceneError(f"{name}:{line}: {msg}" if line else f"{name}: {msg}")

    for key in data:
        if key not in TOP_KEYS:
            raise fail(lines.key(key, 0), f"unknown key {key!r} (have: {', '.join(TOP_KEYS)})")
    scene = Scene()
    if "bpm" in data:
        try:
            scene.bpm = _number(data["bpm"], "bpm", 20.0, 300.0)
        except ModSpecError as exc:
            raise fail(lines.key("bpm", 0), str(exc)) from None
    lfos = data.get("lfo", [])
    if not isinstance(lfos, list):
        raise fail(lines.table("lfo", None), "use [[lfo]] (one table per modulator)")
    if len(lfos) > N_LFOS:
        raise fail(lines.table("lfo", N_LFOS), f"at most {N_LFOS} [[lfo]] tables")
    for i, table in enumerate(lfos):
        start = lines.table("lfo", i)
        scene.lfos.append(_lfo(table, start, lines, fail))
    if "figure" in data:
        table = data["figure"]
        start = lines.table("figure", None)
        if not isinstance(table, dict):
            raise fail(start, "[figure] must be a table")
        scene.figure = _figure(table, start, lines, fail)
    return scene


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], start: int, lines: _Lines,
                fail: Any, what: str) -> None:  # fmt: skip
    for key in table:
        if key not in allowed:
            raise fail(
                lines.key(key, start), f"{what}: unknown key {key!r} (have: {', '.join(allowed)})"
            )


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ModSpecError(f"{what} must be true or false, not {value!r}")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ModSpecError(f"{what} must be a string, not {value!r}")
    return value


def _lfo(table: Any, start: int, lines: _Lines, fail: Any) -> LfoSpec:
    if not isinstance(table, dict):
        raise fail(start, "[[lfo]] must be a table")
    _check_keys(table, LFO_KEYS, start, lines, fail, "[[lfo]]")
    if "target" not in table:
        raise fail(start, "[[lfo]] needs a target")
    key = "target"
    try:
        target = parse_target(_str(table["target"], "target"))
        key = "shape"
        shape = parse_shape(_str(table.get("shape", "sine"), "shape"))
        key = "rate"
        sync, rate = parse_rate(table.get("rate", 1.0))
        key = "depth"
        depth = _number(table.get("depth", 0.5), "depth", -1.0, 1.0)
        key = "phase"
        phase = _number(table.get("phase", 0.0), "phase", 0.0, 360.0)
        key = "unipolar"
        unipolar = _bool(table.get("unipolar", False), "unipolar")
        key = "on"
        on = _bool(table.get("on", True), "on")
    except ModSpecError as exc:
        raise fail(lines.key(key, start), f"[[lfo]] {exc}") from None
    return LfoSpec(target, shape, sync, rate, depth, phase, unipolar, on)


def _figure(table: dict[str, Any], start: int, lines: _Lines, fail: Any) -> FigureSpec:
    _check_keys(table, FIGURE_KEYS, start, lines, fail, "[figure]")
    key = "shape"
    try:
        shape_name = _str(table.get("shape", "orbit"), "shape").strip().lower().replace("-", "")
        shape_name = {"figureeight": "figure8", "eight": "figure8"}.get(shape_name, shape_name)
        if shape_name not in FIGURES:
            raise ModSpecError(f"unknown shape {shape_name!r} (one of {', '.join(FIGURES)})")
        key = "rate"
        sync, rate = parse_rate(table.get("rate", 0.25))
        key = "depth"
        depth = _number(table.get("depth", 0.25), "depth", 0.0, 1.0)
        key = "ratio"
        ratio = _number(table.get("ratio", 1.0), "ratio", 0.25, 4.0)
        key = "aspect"
        aspect = _number(table.get("aspect", 1.0), "aspect", 0.0, 2.0)
        key = "phase"
        phase = _number(table.get("phase", 0.0), "phase", 0.0, 360.0)
        key = "on"
        on = _bool(table.get("on", True), "on")
    except ModSpecError as exc:
        raise fail(lines.key(key, start), f"[figure] {exc}") from None
    return FigureSpec(FIGURES.index(shape_name), sync, rate, depth, ratio, aspect, phase, on)
