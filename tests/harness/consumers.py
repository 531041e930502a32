"""Real consumers of our export files that need their own environment.

The `autoeq` package (4.1.2) pins numpy~=1.24.4 and scipy~=1.10.1, which would break ours, so
it lives in its own venv (default ``$XDG_CACHE_HOME/floweq-tui-tests/autoeq-venv``, or
``FLOWEQ_AUTOEQ_VENV``). scripts/test.sh creates it; the fixture creates it when missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AUTOEQ_VERSION = "4.1.2"


def autoeq_venv() -> Path:
    """Where the autoeq venv lives."""
    env = os.environ.get("FLOWEQ_AUTOEQ_VENV")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "floweq-tui-tests" / "autoeq-venv"


def _works(python: Path) -> bool:
    try:
        out = subprocess.run(
            [str(python), "-c", "import autoeq.peq, importlib.metadata as m; "
             "print(m.version('autoeq'))"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == AUTOEQ_VERSION


def ensure_autoeq() -> tuple[Path | None, str]:
    """(python of the autoeq venv, "") or (None, why it could not be installed)."""
    venv = autoeq_venv()
    python = venv / "bin" / "python"
    if python.exists() and _works(python):
        return python, ""
    base = sys.executable  # autoeq 4.1.2 needs a Python with numpy 1.24 wheels (<= 3.11)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", f"autoeq=={AUTOEQ_VERSION}"],
    ]
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"autoeq consumer not installed ({exc})"
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["?"])[-1]
            return None, f"autoeq consumer not installed ({last})"
    if not _works(python):
        return None, "autoeq consumer not installed (import failed)"
    return python, ""
