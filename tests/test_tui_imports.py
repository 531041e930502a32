"""Only floweq_tui/tui imports textual: the engine, CLI and DSP stay usable without it."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "floweq_tui"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_no_textual_outside_tui() -> None:
    files = [p for p in PKG.rglob("*.py") if "tui" not in p.relative_to(PKG).parts[:1]]
    assert files, "no package files found"
    offenders = [str(p.relative_to(PKG)) for p in files if {"textual", "rich"} & _imports(p)]
    assert offenders == [], f"textual/rich imported outside floweq_tui/tui: {offenders}"


def test_tui_package_does_import_textual() -> None:
    app = PKG / "tui" / "app.py"
    assert "textual" in _imports(app)
