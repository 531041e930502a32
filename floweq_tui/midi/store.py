"""Mappings per controller name in a readable TOML file; atomic writes, line-numbered errors.

File layout (``$XDG_CONFIG_HOME/floweq-tui/midi.toml``, or ``~/.config/...``)::

    version = 1

    [controllers."nanoKONTROL2"]
    [[controllers."nanoKONTROL2".bindings]]
    control = "x"
    type = "cc"
    number = 16
    channel = 1

A controller without an entry uses the built-in default mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import config_dir, write_text_atomic
from .mapping import Binding, MappingError, default_bindings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package, if installed
    import tomli as tomllib  # type: ignore[no-redef]

FILE_VERSION = 1
HEADER = (
    "# floweq-tui MIDI mappings, one table per controller name (see docs/midi.md).\n"
    '# Each binding: control, type (cc|cc14|nrpn|note), number, channel (1-16 or "any"),\n'
    "# optional min/max (control units), invert, encoding (absolute|relative_twos|\n"
    "# relative_binary_offset|relative_sign_magnitude), step, button (toggle|momentary),\n"
    "# takeover. Written by floweq-tui; edits are kept.\n"
)


def default_path() -> Path:
    return config_dir() / "midi.toml"


class MidiMap:
    """Bindings per controller name; controllers without an entry get the defaults."""

    def __init__(self, controllers: dict[str, list[Binding]] | None = None) -> None:
        self.controllers: dict[str, list[Binding]] = dict(controllers or {})

    def bindings_for(self, controller: str) -> list[Binding]:
        if controller in self.controllers:
            return list(self.controllers[controller])
        return default_bindings()

    def has(self, controller: str) -> bool:
        return controller in self.controllers

    def set(self, controller: str, bindings: Iterable[Binding]) -> None:
        self.controllers[controller] = list(bindings)

    def copy(self) -> MidiMap:
        return MidiMap({k: list(v) for k, v in self.controllers.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MidiMap) and self.controllers == other.controllers


# =================================================================== writing


def _key(name: str) -> str:
    return '"' + _escape(name) + '"'


def _escape(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _value(v: Any) -> str:
    if v is None:
        return '"any"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return '"' + _escape(str(v)) + '"'


def dumps(m: MidiMap) -> str:
    """The mapping as TOML (round-trips through :func:`loads`)."""
    lines = [HEADER, f"version = {FILE_VERSION}", ""]
    for name, bindings in m.controllers.items():
        lines.append(f"[controllers.{_key(name)}]")
        for b in bindings:
            lines.append(f"[[controllers.{_key(name)}.bindings]]")
            for k, v in b.to_dict().items():
                lines.append(f"{k} = {_value(v)}")
        lines.append("")
    return "\n".join(lines)


def save(m: MidiMap, path: str | os.PathLike[str] | None = None) -> Path:
    """Write atomically (temporary file in the same directory, fsync, rename)."""
    target = Path(path) if path is not None else default_path()
    write_text_atomic(target, dumps(m))
    return target


# =================================================================== reading

_HEADER_RE = re.compile(r"^\s*\[\[(.+?)\]\]\s*(#.*)?$")
_TABLE_RE = re.compile(r"^\s*\[([^\[].*?)\]\s*(#.*)?$")


def _positions(text: str) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
    """Line numbers of each ``[[controllers.X.bindings]]`` (by controller, index) and of
    each ``[controllers.X]``, found by parsing every header line on its own."""
    bindings: dict[tuple[str, int], int] = {}
    tables: dict[str, int] = {}
    counts: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _HEADER_RE.match(line)
        table = m is None and _TABLE_RE.match(line)
        if not m and not table:
            continue
        try:
            parsed = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            continue
        ctl = parsed.get("controllers")
        if not isinstance(ctl, dict) or len(ctl) != 1:
            continue
        name, body = next(iter(ctl.items()))
        if m and isinstance(body, dict) and isinstance(body.get("bindings"), list):
            i = counts.get(name, 0)
            counts[name] = i + 1
            bindings[(name, i)] = lineno
        elif table:
            tables.setdefault(name, lineno)
    return bindings, tables


@dataclass
class Parsed:
    """A mapping file read leniently (:func:`parse`): what is usable, and what was dropped.

    ``errors``: one line each, ``source:line: why`` (a bad binding is dropped, the rest of
    its controller kept). ``broken``: controllers with nothing usable (every binding bad,
    or not a table): the caller keeps whatever it used for them before. ``first_line``: the
    line of the first error (0 when none).
    """

    map: MidiMap
    errors: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    first_line: int = 0


def _syntax(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        lineno = getattr(exc, "lineno", None)
        msg = str(exc).split(" (at line")[0]
        if lineno is None:
            found = re.search(r"line (\d+)", str(exc))
            lineno = int(found.group(1)) if found else 0
        raise MappingError(f"{source}:{lineno}: {msg}") from None


def parse(text: str, source: str = "midi.toml") -> Parsed:
    """Parse and validate, keeping every binding that is valid.

    Whole-file problems (TOML syntax, version, unknown top-level keys) raise MappingError
    (``source:line: why``): nothing in the file can be trusted. A bad binding is only
    dropped (and reported): the others of its controller stay in use. A controller with no
    valid binding, or not a table, is reported in ``broken``.
    """
    data = _syntax(text, source)
    positions, tables = _positions(text)
    version = data.get("version", FILE_VERSION)
    if version != FILE_VERSION:
        raise MappingError(f"{source}:1: unsupported version {version!r} (expected 1)")
    controllers = data.get("controllers", {})
    if not isinstance(controllers, dict):
        raise MappingError(f"{source}:1: 'controllers' must be a table")
    unknown = sorted(set(data) - {"version", "controllers"})
    if unknown:
        raise MappingError(f"{source}:1: unknown key {unknown[0]!r}")
    out = Parsed(MidiMap())
    lines: list[int] = []

    def bad(line: int, text: str) -> None:
        out.errors.append(f"{source}:{line}: {text}")
        lines.append(line)

    for name, body in controllers.items():
        line = tables.get(name, 0)
        if not isinstance(body, dict):
            bad(line, f"controller {name!r} must be a table")
            out.broken.add(str(name))
            continue
        extra = sorted(set(body) - {"bindings"})
        if extra:
            bad(line, f"controller {name!r}: unknown key {extra[0]!r}")
            out.broken.add(str(name))
            continue
        items = body.get("bindings", [])
        if not isinstance(items, list):
            bad(line, f"controller {name!r}: bindings must be a list")
            out.broken.add(str(name))
            continue
        bindings = []
        for i, item in enumerate(items):
            try:
                bindings.append(Binding.from_dict(item))
            except MappingError as exc:
                bad(positions.get((name, i), line), f"controller {name!r} binding {i + 1}: {exc}")
        if items and not bindings:
            out.broken.add(str(name))
        else:
            out.map.set(str(name), bindings)
    out.first_line = lines[0] if lines else 0
    return out


def loads(text: str, source: str = "midi.toml") -> MidiMap:
    """Parse and validate strictly; raises MappingError with ``source:line: why`` on the
    first problem (``midi --import``: a file is taken whole or not at all)."""
    parsed = parse(text, source)
    if parsed.errors:
        raise MappingError(parsed.errors[0])
    return parsed.map


def _read(path: str | os.PathLike[str] | None) -> tuple[str | None, Path]:
    p = Path(path) if path is not None else default_path()
    try:
        return p.read_text(encoding="utf-8"), p
    except FileNotFoundError:
        return None, p
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{p}: cannot read ({exc})") from None


def load_parsed(path: str | os.PathLike[str] | None = None) -> Parsed:
    """Read a mapping file leniently (see :func:`parse`); a missing file is empty."""
    text, p = _read(path)
    return Parsed(MidiMap()) if text is None else parse(text, str(p))


def load(path: str | os.PathLike[str] | None = None) -> MidiMap:
    """Read a mapping file strictly; a missing file is an empty mapping (defaults)."""
    text, p = _read(path)
    return MidiMap() if text is None else loads(text, str(p))
