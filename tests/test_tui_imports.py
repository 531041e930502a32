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


def test_test_doubles_stay_out_of_the_product() -> None:
    """The fakes and the demo live in tests/harness: no package module defines a Fake class
    or imports the harness (the wheel ships floweq_tui only)."""
    offenders = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        fakes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and "Fake" in n.name]
        if fakes or {"harness", "tests"} & _imports(path):
            offenders.append(f"{path.relative_to(PKG)}: {fakes or 'imports the harness'}")
    assert offenders == [], offenders
