"""The installed ``floweq-tui`` console script: find it and check which package it runs.

End-to-end tests and the UI soak run the command a user types, not ``python -m``. That
only tests this code if the script imports the same ``floweq_tui`` as the caller, so
``console_script`` checks it and otherwise says how to fix it (install the package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NAME = "floweq-tui"
INSTALL_HINT = "install the package: pip install -e . (or pip install .)"


def find_script(name: str = NAME) -> Path | None:
    """The console script next to this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    return Path(found) if found else None


def script_python(script: Path) -> str:
    """The interpreter on the script's ``#!`` line (pip writes one), else this one."""
    try:
        first = script.read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return sys.executable
    if first.startswith("#!") and "python" in first and " " not in first[2:].strip():
        return first[2:].strip()
    return sys.executable


def package_file(python: str, env: dict[str, str], cwd: Path) -> str | None:
    """The ``floweq_tui/__init__.py`` that ``python`` imports in ``env`` (None if none).

    PYTHONSAFEPATH keeps ``cwd`` off sys.path, as it is for a console script (whose
    sys.path[0] is its bin/ directory).
    """
    code = "import floweq_tui; print(floweq_tui.__file__)"
    try:
        done = subprocess.run(
            [python, "-c", code],
            capture_output=True,
            text=True,
            env={**env, "PYTHONSAFEPATH": "1"},
            cwd=cwd,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return str(Path(done.stdout.strip().splitlines()[-1]).resolve())


def console_script(expected: str, env: dict[str, str], cwd: Path) -> tuple[Path | None, str]:
    """The ``floweq-tui`` script if, run with ``env`` in ``cwd``, it imports ``expected``
    (a ``floweq_tui/__init__.py``); else None and a one-line reason naming the fix."""
    script = find_script()
    if script is None:
        return None, f"the {NAME} console script is not installed: {INSTALL_HINT}"
    got = package_file(script_python(script), env, cwd)
    want = str(Path(expected).resolve())
    if got != want:
        return None, (
            f"{script} imports floweq_tui from {got}, not the one under test ({want}): "
            f"{INSTALL_HINT}"
        )
    return script, ""
