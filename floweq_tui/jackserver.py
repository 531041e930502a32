"""Is a JACK server up? (The device and MIDI-port choices depend on it.)

Starting and reading servers is test and benchmark harness: see ``tests/harness/jack.py``.
"""

from __future__ import annotations

import shutil
import subprocess


def running(name: str | None = None) -> bool:
    """True if a JACK server (the default one, or the one called ``name``) answers."""
    tool = shutil.which("jack_wait")
    if tool is None:
        return False
    try:
        server = ["-s", name] if name else []
        done = subprocess.run([tool, "-c", *server], capture_output=True, timeout=5)
        return done.stdout.strip() == b"running"
    except (OSError, subprocess.TimeoutExpired):
        return False
