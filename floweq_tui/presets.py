"""Presets: the sound (and its automation, which makes it a scene) in one readable TOML file.

A preset holds the controls that make the sound: mode, model, the latent point (x, y, z,
Extend), the anchors and Interpolate, the 13 manual parameters, the band switches,
strength, input/output gain and the auto-gain settings, plus the modulators and the figure
(``lfoN_*``, ``fig_*``). It leaves out what belongs to the moment or the clock: bypass,
panic mute, the glide time, the tempo and transport (:data:`NOT_IN_PRESET`). The model
and anchors are stored by name, so a reordered model family still recalls right.

One file per preset, ``$XDG_DATA_HOME/floweq-tui/presets/NAME.toml``; the file name is
the preset's name. Written atomically; read with ``tomllib`` (nothing is evaluated);
every problem is one line, ``FILE:LINE: what``. A bad file is reported and skipped by
:func:`list_presets`, never deleted or rewritten (:func:`save` refuses to replace it).

The public API::

    found, problems = list_presets()  # every readable Preset by name; one line a bad file
    p = load("warm vocal")          # Preset (PresetError, one line, on any problem)
    save(Preset.from_controls("warm vocal", controls, models, anchors, curve))
    values, notice = p.to_controls(models, anchors)   # control values for the engine
    rename("warm vocal", "vocal"); duplicate("vocal", "vocal 2"); delete("vocal 2")
    recall(engine.controls, values)   # write them so the engine morphs there (click-free)
    bank = load_bank()                # Program Change numbers -> names ($XDG_DATA_HOME/
                                      # floweq-tui/bank.toml, else every preset in name order)

File layout (every table and key optional; a missing value takes the control's default)::

    version = 1
    mode = "semantic"            # traverse semantic manual
    model = "vae_d2_b0.001"
    [latent]
    x = 0.25                     # -2..2 (also y, z); extend = false
    anchor_a = "warm"            # anchor labels of the model
    anchor_b = "bright"
    interpolate = 0.5
    [manual]                     # the 13 parameters (dB, Hz, Q), by params.KEYS
    ls_gain = 3.0
    [bands]
    active = [true, true, true, true, true]
    [gain]
    strength = 1.0
    in_gain = 0.0                # dB, also out_gain
    auto_gain = false
    auto_time = 1.0              # s
    auto_range = 12.0            # dB
    [automation]                 # control names; enums by name (target, shape, note)
    lfo1_on = true
    lfo1_target = "x"
    [curve]                      # written on save, for the browser's miniature; ignored
    params = [...]               # the 13 parameters in effect when saved
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .automation.scene import read_toml
from .controls import (
    CONTROL_SPEC,
    CONTROL_SPECS,
    FIGURES,
    MOD_SHAPES,
    MOD_TARGETS,
    MODES,
    NOTE_VALUES,
    REC_TARGETS2,
    clamp_control,
)
from .params import KEYS as PARAM_KEYS
from .params import N_PARAMS
from .paths import data_dir, write_text_atomic

VERSION = 1
MAX_BYTES = 1 << 20
MAX_NAME = 64
SUFFIX = ".toml"

NOT_IN_PRESET: tuple[str, ...] = (
    "bypass", "mute", "glide_ms", "bpm", "beat_origin", "beat_time", "transport",
    "tempo_source", "morph_ms", "morph_beats", "morph_seq", "program", "preset_next",
    "preset_prev", "preset_save",
)  # fmt: skip
"""Controls a preset never holds: the moment's switches, the glide, the clock, the morph."""

BY_NAME = ("model", "anchor_a", "anchor_b")
"""Controls stored by name (resolved against the model family on recall)."""

MOMENTARY = ("rec_arm", "rec_state")
"""Automation controls of the moment (an armed or running take), never in a preset."""

TABLES: dict[str, tuple[str, ...]] = {
    "latent": ("x", "y", "z", "extend", "interpolate"),
    "manual": tuple(f"p{i}" for i in range(N_PARAMS)),
    "bands": tuple(f"active{b}" for b in range(5)),
    "gain": ("strength", "in_gain", "out_gain", "auto_gain", "auto_time", "auto_range"),
    "automation": tuple(
        s.name
        for s in CONTROL_SPECS
        if s.name.startswith(("lfo", "fig_", "path_", "rec_")) and s.name not in MOMENTARY
    ),
}
"""Which table of the file holds each control (by control name)."""

PRESET_CONTROLS: tuple[str, ...] = ("mode", *(n for t in TABLES.values() for n in t))
"""Every numeric control a preset sets (model and anchors come by name, see BY_NAME)."""

_ENUM_NAMES: dict[str, tuple[str, ...]] = {"mode": MODES, "fig_shape": FIGURES}
for _k in range(1, 5):
    _ENUM_NAMES[f"lfo{_k}_target"] = MOD_TARGETS
    _ENUM_NAMES[f"lfo{_k}_shape"] = MOD_SHAPES
    _ENUM_NAMES[f"lfo{_k}_note"] = tuple(n for n, _ in NOTE_VALUES)
_ENUM_NAMES["fig_note"] = tuple(n for n, _ in NOTE_VALUES)
_ENUM_NAMES["rec_target"] = MOD_TARGETS
_ENUM_NAMES["rec_target2"] = REC_TARGETS2
_FILE_KEY = {f"p{i}": k for i, k in enumerate(PARAM_KEYS)}
"""How a control is spelled in the file (the manual parameters by their parameter keys)."""
_CONTROL_OF = {v: k for k, v in _FILE_KEY.items()}
_TOP_KEYS = ("version", "mode", "model", "latent", "manual", "bands", "gain", "automation",
             "curve")  # fmt: skip
_NAME_BAD = re.compile(r"[/\\\x00-\x1f\x7f]")


class PresetError(ValueError):
    """A preset that cannot be used, or a name that cannot be one (one line)."""


@dataclass
class Preset:
    """One preset: control values, the model and anchors by name, the curve it was saved with."""

    name: str
    values: dict[str, float] = field(default_factory=dict)
    """Numeric controls (every name in PRESET_CONTROLS once loaded or built)."""
    names: dict[str, str] = field(default_factory=dict)
    """model, anchor_a, anchor_b: names in the model family (any may be missing)."""
    curve: tuple[float, ...] | None = None
    """The 13 parameters in effect when saved (before strength), for drawing; or None."""
    path: Path | None = None

    @classmethod
    def from_controls(
        cls,
        name: str,
        controls: dict[str, float],
        models: list[str],
        anchors: list[str],
        curve: Iterable[float] | None = None,
    ) -> Preset:
        """The preset of the controls in effect (``controls`` as ``Controls.as_dict()``)."""
        check_name(name)
        defaults = {s.name: float(s.default) for s in CONTROL_SPECS}
        values = {k: clamp_control(k, controls.get(k, defaults[k])) for k in PRESET_CONTROLS}
        names: dict[str, str] = {}
        for key, table in (("model", models), ("anchor_a", anchors), ("anchor_b", anchors)):
            i = int(controls.get(key, defaults[key]))
            if 0 <= i < len(table):
                names[key] = table[i]
        c = tuple(float(v) for v in curve) if curve is not None else None
        if c is not None and (len(c) != N_PARAMS or not all(map(math.isfinite, c))):
            c = None
        return cls(name, values, names, c)

    def to_controls(self, models: list[str], anchors: list[str]) -> tuple[dict[str, float], str]:
        """(control values to write, notice): the notice is one line when a model or anchor
        named in the preset is not in this family (that control is then left as it is)."""
        values = dict(self.values)
        missing = []
        for key, table in (("model", models), ("anchor_a", anchors), ("anchor_b", anchors)):
            name = self.names.get(key)
            if name is None:
                continue
            if name in table:
                values[key] = float(table.index(name))
            else:
                missing.append(f"{key.replace('_', ' ')} {name!r}")
        notice = (
            f"preset {self.name!r}: {', '.join(missing)} not in this model family; kept as is"
            if missing
            else ""
        )
        return values, notice

    @property
    def mode(self) -> str:
        return MODES[int(self.values.get("mode", 0))]

    def describe(self) -> str:
        """One line: mode, model and the point or anchors."""
        v = self.values
        mode = self.mode
        if mode == "traverse":
            where = f"x {v['x']:+.2f} y {v['y']:+.2f} z {v['z']:+.2f}"
            if v.get("extend", 0) >= 0.5:
                where += " (extend)"
        elif mode == "semantic":
            a = self.names.get("anchor_a", "?")
            b = self.names.get("anchor_b", "?")
            where = f"{a} -> {b} at {v['interpolate']:.2f}"
        else:
            where = "13 parameters"
        mods = sum(v.get(f"lfo{k}_on", 0) >= 0.5 for k in range(1, 5))
        mods += v.get("fig_on", 0) >= 0.5
        scene = f", {mods} modulator{'s' if mods != 1 else ''}" if mods else ""
        model = self.names.get("model", "")
        return f"{mode}{' ' + model if model else ''}: {where}, strength {v['strength']:.2f}{scene}"


# =================================================================== names and files


def presets_dir() -> Path:
    """Where the preset files are (created on first save)."""
    return data_dir() / "presets"


def check_name(name: str) -> str:
    """``name`` if it can name a preset file, else PresetError (one line)."""
    if not isinstance(name, str) or not name.strip():
        raise PresetError("a preset needs a name")
    if name != name.strip():
        raise PresetError(f"preset name {name!r} starts or ends with a space")
    if len(name) > MAX_NAME:
        raise PresetError(f"preset name is longer than {MAX_NAME} characters")
    if name.startswith(".") or _NAME_BAD.search(name):
        raise PresetError(f"preset name {name!r} may not start with '.' or hold '/', '\\'")
    return name


def preset_path(name: str, directory: Path | None = None) -> Path:
    return (directory or presets_dir()) / f"{check_name(name)}{SUFFIX}"


def list_presets(directory: Path | None = None) -> tuple[list[Preset], list[str]]:
    """(presets sorted by name (case-insensitive), problems): one line per bad file, which
    is skipped (never touched)."""
    d = directory or presets_dir()
    out: list[Preset] = []
    problems: list[str] = []
    try:
        files = sorted(d.glob(f"*{SUFFIX}"), key=lambda p: (p.stem.casefold(), p.stem))
    except OSError as exc:
        return [], [f"{d}: {exc.strerror or exc}"]
    for f in files:
        if f.name.startswith("."):
            continue
        try:
            out.append(load_file(f))
        except PresetError as exc:
            problems.append(str(exc))
    return out, problems


def names(directory: Path | None = None) -> list[str]:
    """The names of the readable presets, sorted."""
    return [p.name for p in list_presets(directory)[0]]


def exists(name: str, directory: Path | None = None) -> bool:
    return preset_path(name, directory).exists()


def load(name: str, directory: Path | None = None) -> Preset:
    """The preset called ``name`` (PresetError when missing or bad)."""
    path = preset_path(name, directory)
    if not path.exists():
        known = names(directory)
        hint = f" (have: {', '.join(known)})" if known else " (there are no presets yet)"
        raise PresetError(f"no preset {name!r}{hint}")
    return load_file(path)


def save(preset: Preset, directory: Path | None = None, overwrite: bool = True) -> Path:
    """Write the preset atomically; returns its path.

    Replaces a readable preset of that name when ``overwrite``; never replaces a file that
    does not read as a preset (it may be the user's hand edit: PresetError says so).
    """
    path = preset_path(preset.name, directory)
    if path.exists():
        if not overwrite:
            raise PresetError(f"a preset {preset.name!r} already exists")
        load_file(path)  # a bad file raises: it is kept as it is
    write_text_atomic(path, dumps(preset))
    preset.path = path
    return path


def rename(old: str, new: str, directory: Path | None = None) -> Path:
    """Rename a preset (its file); refuses to replace another preset."""
    src = preset_path(old, directory)
    dst = preset_path(new, directory)
    if not src.exists():
        raise PresetError(f"no preset {old!r}")
    if dst.exists() and src != dst:
        raise PresetError(f"a preset {new!r} already exists")
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise PresetError(f"{src}: {exc.strerror or exc}") from None
    return dst


def duplicate(name: str, new: str | None = None, directory: Path | None = None) -> Preset:
    """A copy of preset ``name`` under ``new`` (default: the first free "NAME 2", "NAME 3")."""
    p = load(name, directory)
    if new is None:
        n = 2
        while exists(f"{name} {n}", directory):
            n += 1
        new = f"{name} {n}"
    copy = Preset(check_name(new), dict(p.values), dict(p.names), p.curve)
    save(copy, directory, overwrite=False)
    return copy


def delete(name: str, directory: Path | None = None) -> None:
    """Remove a preset's file (PresetError when there is none)."""
    path = preset_path(name, directory)
    try:
        path.unlink()
    except FileNotFoundError:
        raise PresetError(f"no preset {name!r}") from None
    except OSError as exc:
        raise PresetError(f"{path}: {exc.strerror or exc}") from None


# =================================================================== writing


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if ord(c) >= 0x20 else f"\\u{ord(c):04x}" for c in out) + '"'


def _file_value(name: str, value: float) -> str:
    spec = CONTROL_SPEC[name]
    if name in _ENUM_NAMES:
        return _toml_str(_ENUM_NAMES[name][int(value)])
    if spec.kind == "bool":
        return "true" if value >= 0.5 else "false"
    if spec.kind in ("int", "enum"):
        return str(int(value))
    return repr(round(float(value), 6))


def dumps(p: Preset) -> str:
    """The preset as TOML (round-trips through :func:`parse`)."""
    v = {k: p.values.get(k, float(CONTROL_SPEC[k].default)) for k in PRESET_CONTROLS}
    lines = [
        f"# floweq-tui preset {p.name!r} (docs/presets.md)",
        f"version = {VERSION}",
        f"mode = {_file_value('mode', v['mode'])}",
    ]
    if "model" in p.names:
        lines.append(f"model = {_toml_str(p.names['model'])}")
    lines += ["", "[latent]"]
    for k in ("x", "y", "z", "extend"):
        lines.append(f"{k} = {_file_value(k, v[k])}")
    for k in ("anchor_a", "anchor_b"):
        if k in p.names:
            lines.append(f"{k} = {_toml_str(p.names[k])}")
    lines.append(f"interpolate = {_file_value('interpolate', v['interpolate'])}")
    lines += ["", "[manual]"]
    lines += [f"{_FILE_KEY[k]} = {_file_value(k, v[k])}" for k in TABLES["manual"]]
    active = ", ".join("true" if v[f"active{b}"] >= 0.5 else "false" for b in range(5))
    lines += ["", "[bands]", f"active = [{active}]", "", "[gain]"]
    lines += [f"{k} = {_file_value(k, v[k])}" for k in TABLES["gain"]]
    auto = [k for k in TABLES["automation"] if v[k] != clamp_control(k, CONTROL_SPEC[k].default)]
    lines += ["", "[automation]  # only what differs from the defaults (all off)"]
    lines += [f"{k} = {_file_value(k, v[k])}" for k in auto]
    if p.curve is not None:
        curve = ", ".join(repr(round(c, 4)) for c in p.curve)
        lines += ["", "[curve]  # the 13 parameters in effect when saved (for drawing)"]
        lines.append(f"params = [{curve}]")
    return "\n".join(lines) + "\n"


# =================================================================== reading


def load_file(path: str | os.PathLike[str]) -> Preset:
    """Read and check one preset file (one-line PresetError on any problem)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise PresetError(f"{p}: larger than {MAX_BYTES} bytes: not a preset file")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{p}: not a text (UTF-8) file") from None
    except OSError as exc:
        raise PresetError(f"{p}: {exc.strerror or exc}") from None
    preset = parse(text, p.stem, str(p))
    preset.path = p
    return preset


def parse(text: str, name: str, source: str = "<preset>") -> Preset:
    """A preset from TOML text; ``source`` prefixes the errors (``source:line: what``)."""
    data, lines = read_toml(text, source, PresetError)

    def fail(line: int, msg: str) -> PresetError:
        return PresetError(f"{source}:{line}: {msg}" if line else f"{source}: {msg}")

    for key in data:
        if key not in _TOP_KEYS:
            raise fail(lines.key(key, 0), f"unknown key {key!r} (have: {', '.join(_TOP_KEYS)})")
    version = data.get("version", VERSION)
    if version != VERSION:
        raise fail(lines.key("version", 0), f"version {version!r}: this floweq-tui reads {VERSION}")
    values = {k: clamp_control(k, CONTROL_SPEC[k].default) for k in PRESET_CONTROLS}
    names: dict[str, str] = {}
    if "mode" in data:
        values["mode"] = _read("mode", data["mode"], lambda: lines.key("mode", 0), fail)
    if "model" in data:
        names["model"] = _name(data["model"], "model", lines.key("model", 0), fail)
    for table, controls in TABLES.items():
        if table not in data:
            continue
        start = lines.table(table, None)
        body = data[table]
        if not isinstance(body, dict):
            raise fail(lines.key(table, 0), f"{table} must be a table ([{table}])")
        for key, raw in body.items():
            line = lines.key(key, start)
            if table == "latent" and key in ("anchor_a", "anchor_b"):
                names[key] = _name(raw, key, line, fail)
                continue
            if table == "bands" and key == "active":
                if not (isinstance(raw, list) and len(raw) == 5
                        and all(isinstance(b, bool) for b in raw)):  # fmt: skip
                    raise fail(line, "[bands] active must be five true/false values")
                for b, on in enumerate(raw):
                    values[f"active{b}"] = 1.0 if on else 0.0
                continue
            control = _CONTROL_OF.get(key, key)
            if control not in controls:
                have = [_FILE_KEY.get(c, c) for c in controls]
                if table == "latent":
                    have += ["anchor_a", "anchor_b"]
                if table == "bands":
                    have = ["active"]
                raise fail(line, f"[{table}] unknown key {key!r} (have: {_short(have)})")
            values[control] = _read(control, raw, lambda line=line: line, fail, f"[{table}] ")
    curve = None
    if "curve" in data:
        body = data["curve"]
        raw = body.get("params") if isinstance(body, dict) else None
        if not (isinstance(raw, list) and len(raw) == N_PARAMS
                and all(isinstance(c, int | float) and not isinstance(c, bool)
                        and math.isfinite(c) for c in raw)):  # fmt: skip
            line = lines.key("params", lines.table("curve", None))
            raise fail(line, f"[curve] params must be {N_PARAMS} numbers")
        curve = tuple(float(c) for c in raw)
    return Preset(check_name(name), values, names, curve)


def _short(items: list[str]) -> str:
    return ", ".join(items) if len(items) <= 8 else ", ".join(items[:8]) + ", ..."


def _name(raw: Any, key: str, line: int, fail: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise fail(line, f"{key} must be a name (a string), not {raw!r}")
    return raw


def _read(control: str, raw: Any, line: Any, fail: Any, where: str = "") -> float:
    """One control's value from the file: checked against its kind and range, never clamped."""
    spec = CONTROL_SPEC[control]
    shown = _FILE_KEY.get(control, control)
    if control in _ENUM_NAMES:
        choices = _ENUM_NAMES[control]
        if not isinstance(raw, str) or raw.strip().lower() not in choices:
            raise fail(
                line(), f"{where}{shown} must be one of {_short(list(choices))}, not {raw!r}"
            )
        return float(choices.index(raw.strip().lower()))
    if spec.kind == "bool":
        if not isinstance(raw, bool):
            raise fail(line(), f"{where}{shown} must be true or false, not {raw!r}")
        return 1.0 if raw else 0.0
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail(line(), f"{where}{shown} must be a number, not {raw!r}")
    v = float(raw)
    if not math.isfinite(v) or not spec.min <= v <= spec.max:
        unit = f" {spec.unit}" if spec.unit else ""
        raise fail(line(), f"{where}{shown} = {raw}{unit} is outside [{spec.min:g}, {spec.max:g}]")
    if spec.kind in ("int", "enum") and v != int(v):
        raise fail(line(), f"{where}{shown} must be a whole number, not {raw!r}")
    return v


# =================================================================== the sound's curve


def params_in_effect(controls: dict[str, float], core: Any) -> tuple[float, ...]:
    """The 13 parameters (before strength) the controls give with the model family ``core``
    (a :class:`floweq_tui.vae.CoreModels`): decoded in Traverse and Semantic, the manual
    ones otherwise (or when no model is loaded), as the engine's processor derives them."""
    from .controls import latent_point
    from .params import clip

    full = {s.name: float(s.default) for s in CONTROL_SPECS}
    full.update(controls)
    mode = int(full["mode"])
    decoders = list(getattr(core, "decoders", []) or [])
    if mode == 2 or not decoders:
        return tuple(float(v) for v in clip([full[f"p{i}"] for i in range(N_PARAMS)]))
    model = min(max(int(full["model"]), 0), len(decoders) - 1)
    dec = decoders[model]
    anchors = core.anchors[model] if model < len(core.anchors) else ()
    z = latent_point(full, dec.latent_dim, anchors)
    return tuple(float(v) for v in dec.params(z))


# =================================================================== recall


class ControlWriter(Protocol):
    """Where a recall writes: a :class:`floweq_tui.controls.Controls` view (the UI, MIDI)."""

    def __getitem__(self, name: str) -> float: ...
    def __setitem__(self, name: str, value: float) -> None: ...


def recall(controls: ControlWriter, values: dict[str, float], morph: bool = True) -> None:
    """Write a preset's control values so the engine moves there click-free.

    With ``morph`` the morph counter is bumped first: the engine's processor then morphs
    from the sound in effect to the values as they land, over the block's ``morph_beats``
    (at the tempo in effect) or ``morph_ms`` (0: through the glide only). Bumping first
    means a block that sees only some of the values still morphs toward them, never jumps.
    """
    if morph:
        controls["morph_seq"] = (int(controls["morph_seq"]) + 1) % 1_000_000_000
    for name, value in values.items():
        controls[name] = value


# =================================================================== the bank (Program Change)

BANK_VERSION = 1


def bank_path() -> Path:
    """The bank file: Program Change numbers -> preset names."""
    return data_dir() / "bank.toml"


def program_number(bank: int, program: int) -> int:
    """One number for Bank Select (MSB*128 + LSB) and Program Change (0-127)."""
    return bank * 128 + program


def split_program(number: int) -> tuple[int, int, int]:
    """(bank MSB, bank LSB, program) of a number from :func:`program_number`."""
    bank, program = divmod(int(number), 128)
    return bank >> 7 & 0x7F, bank & 0x7F, program


def describe_program(number: int) -> str:
    """'program 5' in bank 0, 'bank 2 program 5' otherwise (numbers as sent on the wire)."""
    bank, program = divmod(int(number), 128)
    return f"bank {bank} program {program}" if bank else f"program {program}"


@dataclass
class Bank:
    """Program numbers (:func:`program_number`) -> preset names.

    ``explicit``: read from the bank file; otherwise bank 0 holds every preset in name
    order (program 0 the first), so Program Change works before anyone writes a bank file.
    """

    programs: dict[int, str] = field(default_factory=dict)
    explicit: bool = False
    notice: str = ""
    """One line when the bank file could not be used (then the implicit bank is in use)."""

    def number_of(self, name: str) -> int | None:
        for n, p in sorted(self.programs.items()):
            if p == name:
                return n
        return None

    def step(self, number: int, direction: int) -> int | None:
        """The next (+1) or previous (-1) mapped number from ``number``, wrapping."""
        keys = sorted(self.programs)
        if not keys:
            return None
        if direction > 0:
            later = [k for k in keys if k > number]
            return later[0] if later else keys[0]
        earlier = [k for k in keys if k < number]
        return earlier[-1] if earlier and number >= 0 else keys[-1]


def load_bank(path: Path | None = None, directory: Path | None = None) -> Bank:
    """The bank file if there is one (a bad one is reported in ``notice`` and left as it is),
    else the implicit bank of every preset in name order."""
    path = path or bank_path()
    notice = ""
    if path.exists():
        try:
            return Bank(parse_bank(path.read_text(encoding="utf-8"), str(path)), True)
        except UnicodeDecodeError:
            notice = f"{path}: not a text (UTF-8) file"
        except OSError as exc:
            notice = f"{path}: {exc.strerror or exc}"
        except PresetError as exc:
            notice = str(exc)
        notice += "; using every preset in name order"
    found = names(directory)
    return Bank({i: n for i, n in enumerate(found[:128])}, False, notice)


def parse_bank(text: str, source: str = "bank.toml") -> dict[int, str]:
    """Bank file text -> {program number: preset name} (one-line PresetError with its line).

    ::

        version = 1
        [bank.0]            # Bank Select 0 (MSB 0, LSB 0); up to 16383
        0 = "warm vocal"    # Program Change 0 (shown as 1 on many controllers)
        1 = "bright"
    """
    data, lines = read_toml(text, source, PresetError)

    def fail(line: int, msg: str) -> PresetError:
        return PresetError(f"{source}:{line}: {msg}" if line else f"{source}: {msg}")

    for key in data:
        if key not in ("version", "bank"):
            raise fail(lines.key(key, 0), f"unknown key {key!r} (have: version, bank)")
    if data.get("version", BANK_VERSION) != BANK_VERSION:
        raise fail(lines.key("version", 0), f"version must be {BANK_VERSION}")
    banks = data.get("bank", {})
    if not isinstance(banks, dict):
        raise fail(lines.key("bank", 0), "use [bank.N] tables")
    out: dict[int, str] = {}
    for bank, table in banks.items():
        start = lines.table(rf"bank\s*\.\s*\"?{re.escape(bank)}\"?", None)
        if not (bank.isdigit() and 0 <= int(bank) < 16384):
            raise fail(start, f"bank {bank!r} must be a number 0-16383")
        if not isinstance(table, dict):
            raise fail(start, f"[bank.{bank}] must be a table")
        for program, name in table.items():
            line = lines.key(program, start) if start else 0
            if not (program.isdigit() and 0 <= int(program) < 128):
                raise fail(line, f"[bank.{bank}] program {program!r} must be a number 0-127")
            if not isinstance(name, str):
                raise fail(line, f"[bank.{bank}] program {program}: give a preset name")
            try:
                check_name(name)
            except PresetError as exc:
                raise fail(line, str(exc)) from None
            out[program_number(int(bank), int(program))] = name
    return out


def save_bank(bank: Bank, path: Path | None = None) -> Path:
    """Write the bank file atomically (refuses to replace one that does not read)."""
    path = path or bank_path()
    if path.exists():
        try:
            parse_bank(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, PresetError) as exc:
            raise PresetError(f"{path} is not replaced: it does not read ({exc})") from None
    lines = ["# floweq-tui bank: Program Change numbers -> presets (docs/presets.md)",
             f"version = {BANK_VERSION}"]  # fmt: skip
    by_bank: dict[int, list[tuple[int, str]]] = {}
    for n, name in sorted(bank.programs.items()):
        b, p = divmod(n, 128)
        by_bank.setdefault(b, []).append((p, name))
    for b, rows in by_bank.items():
        lines += ["", f"[bank.{b}]"]
        lines += [f"{p} = {_toml_str(name)}" for p, name in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")
    bank.explicit = True
    return path
