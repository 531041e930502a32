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


def describe(pids: list[int]) -> str:
    """What each process is doing, for a failure message: its command line, its state, and
    each thread's name, state and kernel wait channel."""
    lines = []
    for pid in pids:
        d = Path(f"/proc/{pid}")
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            lines.append(f"pid {pid}: {cmd.strip()[:160]}")
            for task in sorted((d / "task").iterdir(), key=lambda p: int(p.name)):
                status = dict(
                    line.split(":\t", 1)
                    for line in (task / "status").read_text().splitlines()
                    if ":\t" in line
                )
                wchan = (task / "wchan").read_text().strip() or "-"
                name, state = status.get("Name", "?"), status.get("State", "?")
                lines.append(f"  tid {task.name} {name}: {state}, in {wchan}")
        except OSError as exc:
            lines.append(f"pid {pid}: gone ({exc.strerror})")
    return "\n".join(lines)
