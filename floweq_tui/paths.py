"""Where floweq-tui keeps its files, and the one way it writes them (atomically).

Directories follow the XDG base directory spec: settings and mappings under
``$XDG_CONFIG_HOME/floweq-tui`` (``~/.config``), logs and other state under
``$XDG_STATE_HOME/floweq-tui`` (``~/.local/state``), user data such as presets under
``$XDG_DATA_HOME/floweq-tui`` (``~/.local/share``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

APP = "floweq-tui"


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base) / APP


def config_dir() -> Path:
    """Settings, the session and MIDI mappings."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def state_dir() -> Path:
    """Logs and other state that is not configuration."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def data_dir() -> Path:
    """The user's own data (presets)."""
    return _xdg("XDG_DATA_HOME", ".local/share")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    A reader sees the old file or the new one, never half of one; on any error the
    temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def keep_aside(path: str | os.PathLike[str]) -> Path | None:
    """Rename an unreadable file to ``NAME.bad-YYYYmmdd-HHMMSS`` before anything replaces it.

    Returns the new name, or None when there was nothing to move or it could not be moved.
    """
    src = Path(path)
    if not src.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dst = src.with_name(f"{src.name}.bad-{stamp}")
    n = 1
    while dst.exists():
        n += 1
        dst = src.with_name(f"{src.name}.bad-{stamp}-{n}")
    try:
        os.replace(src, dst)
    except OSError:
        return None
    return dst
