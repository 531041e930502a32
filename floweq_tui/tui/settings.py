"""The last session's controls: saved atomically on quit, restored at start.

Stored as JSON under ``$XDG_CONFIG_HOME/floweq-tui/session.json`` (``~/.config`` when unset).
The model and anchors are stored by name, so a reordered model family still restores right.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..controls import CONTROL_INDEX, clamp_control

VERSION = 1
NOT_SAVED = ("mute",)
"""Controls never restored: a panic mute is for the moment, not for the next session."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "floweq-tui"


def session_path() -> Path:
    return config_dir() / "session.json"


def load_session(path: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """(data, notice): data None when there is no usable file; notice is one line or ""."""
    path = path or session_path()
    if not path.exists():
        return None, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("controls"), dict):
            raise ValueError("not a floweq-tui session")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return None, f"settings not restored: {path} is unreadable ({why}); using defaults"
    return data, ""


def save_session(data: dict[str, Any], path: Path | None = None) -> None:
    """Write the session atomically (a temp file in the same directory, then os.replace)."""
    path = path or session_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".session-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def session_from_controls(
    controls: dict[str, float], models: list[str], anchors: list[str]
) -> dict[str, Any]:
    """The session to save: every control but mute, plus model/anchor names."""
    out: dict[str, Any] = {
        "version": VERSION,
        "controls": {k: v for k, v in controls.items() if k not in NOT_SAVED},
    }
    for key, names in (("model", models), ("anchor_a", anchors), ("anchor_b", anchors)):
        i = int(controls.get(key, -1))
        if 0 <= i < len(names):
            out[f"{key}_name"] = names[i]
    return out


def controls_from_session(
    data: dict[str, Any], models: list[str], anchors: list[str]
) -> dict[str, float]:
    """Validated control values from a saved session (unknown or bad entries skipped)."""
    values: dict[str, float] = {}
    for k, v in data.get("controls", {}).items():
        if k in CONTROL_INDEX and k not in NOT_SAVED:
            with contextlib.suppress(TypeError, ValueError):
                values[k] = clamp_control(k, float(v))
    for key, names in (("model", models), ("anchor_a", anchors), ("anchor_b", anchors)):
        name = data.get(f"{key}_name")
        if isinstance(name, str) and name in names:
            values[key] = float(names.index(name))
        elif key in values and not 0 <= values[key] < max(len(names), 1):
            del values[key]
    return values
