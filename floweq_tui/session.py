"""The last session's controls: restored at start, saved atomically on the way out.

Serves the UI and headless alike (the composition root in :mod:`floweq_tui.cli.root` loads
it before the engine starts and saves it after the front end returns). Stored as JSON in
``config_dir()/session.json``; the model and anchors are stored by name, so a reordered
model family still restores right. An unreadable file is kept aside
(``session.json.bad-TIMESTAMP``) before anything new is written over it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .controls import CONTROL_INDEX, clamp_control
from .paths import config_dir, keep_aside, write_text_atomic

VERSION = 1
NOT_SAVED = ("mute", "beat_origin", "beat_time", "transport", "tempo_source", "morph_seq")
"""Controls never restored: a panic mute is for the moment, and the beat anchor and
transport belong to the clock that wrote them (a new start begins a new song); the morph
counter only means something to the engine that saw it change."""


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
    """Write the session atomically (a temp file in the same directory, then a rename)."""
    write_text_atomic(path or session_path(), json.dumps(data, indent=1, sort_keys=True) + "\n")


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


@dataclass
class Session:
    """The session file of one run: what it restored, and where it saves."""

    path: Path
    models: list[str]
    anchors: list[str]
    restored: dict[str, float] = field(default_factory=dict)
    notice: str = ""
    """One line for the user when the file could not be used (else "")."""

    @classmethod
    def load(cls, models: list[str], anchors: list[str], path: Path | None = None) -> Session:
        """Read the saved controls; an unreadable file is kept aside and reported."""
        path = path or session_path()
        data, notice = load_session(path)
        if data is None and notice:
            kept = keep_aside(path)
            if kept is not None:
                notice += f"; the bad file is kept as {kept.name}"
        restored = controls_from_session(data, models, anchors) if data else {}
        return cls(path, list(models), list(anchors), restored, notice)

    def save(self, controls: dict[str, float]) -> None:
        """Save the controls in effect now (atomically; raises OSError)."""
        save_session(session_from_controls(controls, self.models, self.anchors), self.path)
