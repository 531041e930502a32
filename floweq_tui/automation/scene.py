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
    [path]                    # optional: a path ("SuperKnob") moved by path_pos
    points = ["warm", "bright", [0.5, -1.0], "current"]   # anchors, [x, y(, z)], current
    pos = 0.0                 # where on it (0-1); an [[lfo]] or the recording may move it
    on = true
    [recording]               # optional: a recorded motion, looped
    target = "path_pos"       # as an [[lfo]]'s target
    beats = 8                 # the loop's length (a multiple of 4: whole bars)
    points = [0.0, 0.1, ...]  # 2-128 values, fractions of the target's range (0-1)
    target2 = "y"             # optional: a second control moved in the same gesture
    points2 = [0.5, 0.6, ...] # ... and its points (as many as points)
    play = true

Read with ``tomllib`` (data only: nothing is evaluated); every error is one line naming the
file and line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..controls import FIGURES, MOD_SHAPES, MOD_TARGETS, N_LFOS, REC_POINTS
from .path import path_controls, resolve_points
from .recorder import recording_controls
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
PATH_KEYS = ("points", "pos", "on")
RECORDING_KEYS = ("target", "beats", "points", "target2", "points2", "play")
TOP_KEYS = ("bpm", "lfo", "figure", "path", "recording")
MAX_BYTES = 1 << 20


class SceneError(ValueError):
    """A scene file that cannot be used (one line: 'FILE:LINE: what')."""


@dataclass
class Scene:
    """What a scene file holds."""

    lfos: list[LfoSpec] = field(default_factory=list)
    figure: FigureSpec | None = None
    bpm: float | None = None
    path: PathSpec | None = None
    recording: RecordingSpec | None = None

    def controls(
        self,
        extra: list[LfoSpec] | None = None,
        anchors: Mapping[str, Sequence[float]] | None = None,
        current: Sequence[float] | None = None,
        scale: float = 1.0,
    ) -> dict[str, float]:
        """The controls block's values: every slot the scene (plus ``extra`` modulators) fills,
        and the unused modulators and figure switched off. A path's anchor names are
        resolved in ``anchors`` (label -> latent code; divided by ``scale``, 2 with Extend);
        ``current`` is the point a "current" waypoint takes."""
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
        if self.path is not None:
            try:
                pts = resolve_points(self.path.points, anchors or {}, current, scale)
            except ModSpecError as exc:
                raise SceneError(f"[path] {exc}") from None
            out.update(path_controls(pts))
            out["path_pos"] = self.path.pos
            out["path_on"] = float(self.path.on)
        else:
            out["path_on"] = 0.0
        if self.recording is not None:
            r = self.recording
            out["rec_target2"] = 0.0  # what the next take records: the scene's, or one
            out.update(recording_controls(r.points, r.target, r.beats, 0.0, r.play,
                                          r.points2, r.target2))  # fmt: skip
        else:
            out["rec_play"] = 0.0
        return out


@dataclass(frozen=True)
class PathSpec:
    """A scene's path: waypoints as named (anchor labels, "current", [x, y(, z)])."""

    points: tuple[str | tuple[float, ...], ...]
    pos: float = 0.0
    on: bool = True


@dataclass(frozen=True)
class RecordingSpec:
    """A scene's recorded motion: a loop of ``beats`` beats (from the song's bar lines), of
    one control, or of two moved in one gesture (``target2``, ``points2``)."""

    target: int
    beats: float
    points: tuple[float, ...]
    play: bool = True
    target2: int | None = None
    points2: tuple[float, ...] | None = None


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


def read_toml(text: str, source: str, error: type[Exception]) -> tuple[dict[str, Any], _Lines]:
    """TOML text as a dict and its line finder; invalid TOML raises ``error`` with one line,
    ``SOURCE:LINE: invalid TOML: what`` (scenes, presets and the bank file read alike)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{source}:{m.group(1)}" if m else source
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)).strip()
        raise error(f"{where}: invalid TOML: {msg}") from None
    return data, _Lines(text)


def parse_scene(text: str, name: str = "<scene>") -> Scene:
    """A scene from TOML text; ``name`` prefixes the errors."""
    data, lines = read_toml(text, name, SceneError)

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
    for key, reader in (("path", _path), ("recording", _recording)):
        if key in data:
            table = data[key]
            start = lines.table(key, None)
            if not isinstance(table, dict):
                raise fail(start, f"[{key}] must be a table")
            setattr(scene, key, reader(table, start, lines, fail))
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


def _path(table: dict[str, Any], start: int, lines: _Lines, fail: Any) -> PathSpec:
    _check_keys(table, PATH_KEYS, start, lines, fail, "[path]")
    key = "points"
    try:
        raw = table.get("points", [])
        if not isinstance(raw, list) or not raw:
            raise ModSpecError("points must be a non-empty list")
        pts: list[str | tuple[float, ...]] = []
        for item in raw:
            if isinstance(item, list):
                resolve_points([item], {})  # checks the numbers
                pts.append(tuple(float(v) for v in item))
            elif isinstance(item, str):
                pts.append(item)
            else:
                raise ModSpecError(f"waypoint {item!r} is neither an anchor name nor [x, y(, z)]")
        resolve_points(pts, {p: (0.0,) for p in pts if isinstance(p, str)}, (0.0,))  # count
        key = "pos"
        pos = _number(table.get("pos", 0.0), "pos", 0.0, 1.0)
        key = "on"
        on = _bool(table.get("on", True), "on")
    except ModSpecError as exc:
        raise fail(lines.key(key, start), f"[path] {exc}") from None
    return PathSpec(tuple(pts), pos, on)


def _recording(table: dict[str, Any], start: int, lines: _Lines, fail: Any) -> RecordingSpec:
    _check_keys(table, RECORDING_KEYS, start, lines, fail, "[recording]")
    if "points" not in table:
        raise fail(start, "[recording] needs points")
    key = "target"
    try:
        target = parse_target(_str(table.get("target", "x"), "target"))
        key = "beats"
        beats = _number(table.get("beats", 4), "beats", 1.0, 64.0)
        key = "points"
        raw = table["points"]
        if not isinstance(raw, list) or not 2 <= len(raw) <= REC_POINTS:
            raise ModSpecError(f"points must be a list of 2-{REC_POINTS} numbers")
        pts = tuple(_number(v, "point", 0.0, 1.0) for v in raw)
        target2: int | None = None
        pts2: tuple[float, ...] | None = None
        if ("target2" in table) != ("points2" in table):
            key = "target2" if "target2" in table else "points2"
            raise ModSpecError("target2 and points2 go together (a second lane)")
        if "target2" in table:
            key = "target2"
            target2 = parse_target(_str(table["target2"], "target2"))
            if target2 == target:
                raise ModSpecError(f"target2 is the target ({MOD_TARGETS[target]}): use another")
            key = "points2"
            raw2 = table["points2"]
            if not isinstance(raw2, list) or len(raw2) != len(pts):
                raise ModSpecError(f"points2 must be a list of {len(pts)} numbers (as points)")
            pts2 = tuple(_number(v, "point", 0.0, 1.0) for v in raw2)
        key = "play"
        play = _bool(table.get("play", True), "play")
    except ModSpecError as exc:
        raise fail(lines.key(key, start), f"[recording] {exc}") from None
    return RecordingSpec(target, beats, pts, play, target2, pts2)


def dump_scene(c: Mapping[str, float]) -> str:
    """The automation in a controls block as a scene file's text (modulators that are on,
    the figure if on, the tempo, the path's waypoints as points, the recording)."""
    from .path import waypoints_from_controls
    from .recorder import loop_points, loop_targets
    from .spec import figure_from_controls, lfo_from_controls, rate_text

    out = [f"bpm = {c['bpm']:g}", ""]
    for k in range(1, N_LFOS + 1):
        if c[f"lfo{k}_on"] < 0.5:
            continue
        s = lfo_from_controls(c, k)
        out += [
            "[[lfo]]",
            f'target = "{MOD_TARGETS[s.target]}"',
            f'shape = "{MOD_SHAPES[s.shape]}"',
            f'rate = "{rate_text(s.sync, s.rate)}"',
            f"depth = {s.depth:g}",
            f"phase = {s.phase:g}",
            f"unipolar = {str(s.unipolar).lower()}",
            "",
        ]
    if c["fig_on"] >= 0.5:
        f = figure_from_controls(c)
        out += [
            "[figure]",
            f'shape = "{FIGURES[f.shape]}"',
            f'rate = "{rate_text(f.sync, f.rate)}"',
            f"depth = {f.depth:g}",
            f"ratio = {f.ratio:g}",
            f"aspect = {f.aspect:g}",
            f"phase = {f.phase:g}",
            "",
        ]
    wps = waypoints_from_controls(c)
    if wps:
        pts = ", ".join(f"[{w.x:.4g}, {w.y:.4g}, {w.z:.4g}]" for w in wps)
        out += [
            "[path]",
            f"points = [{pts}]",
            f"pos = {c['path_pos']:g}",
            f"on = {str(c['path_on'] >= 0.5).lower()}",
            "",
        ]
    pts_r = loop_points(c)
    if len(pts_r) >= 2:
        targets = loop_targets(c)
        out += [
            "[recording]",
            f'target = "{MOD_TARGETS[targets[0]]}"',
            f"beats = {c['rec_beats']:g}",
            "points = [" + ", ".join(f"{v:.4g}" for v in pts_r) + "]",
        ]
        if len(targets) > 1:
            out += [
                f'target2 = "{MOD_TARGETS[targets[1]]}"',
                "points2 = [" + ", ".join(f"{v:.4g}" for v in loop_points(c, 1)) + "]",
            ]
        out += [f"play = {str(c['rec_play'] >= 0.5).lower()}", ""]
    return "\n".join(out)
