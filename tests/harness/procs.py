"""Finding the processes a test or benchmark started, by a marker in their environment."""

from __future__ import annotations

import os
from pathlib import Path


def procs_with_env(marker: str) -> list[int]:
    """Pids whose environment holds ``marker`` (an app and everything it spawned)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                out.append(int(d.name))
        except OSError:
            continue
    return out
