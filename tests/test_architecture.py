"""The architecture's rules hold themselves: import-linter's contracts (pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, package_env


def _lint_imports() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: pip install '.[test]' installs import-linter")
    return [found]


def test_import_contracts_are_kept() -> None:
    done = subprocess.run(
        [*_lint_imports(), str(REPO / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, cwd=REPO, env=package_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_top_level_module_is_in_a_layer() -> None:
    """A new module must be placed in the layers, not slip past the contracts."""
    import tomllib

    import floweq_tui

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in cfg["contracts"] if c["type"] == "layers")["layers"]
    placed = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    pkg = Path(floweq_tui.__file__).parent
    names = {p.stem for p in pkg.glob("*.py")} | {
        p.name for p in pkg.iterdir() if (p / "__init__.py").exists()
    }
    names -= {"__init__", "__main__", "_dsp", "models"}  # entry points, the C core, data
    missing = sorted(f"floweq_tui.{n}" for n in names if f"floweq_tui.{n}" not in placed)
    assert not missing, f"modules in no layer: {missing}"
