"""The UI on a FakeEngine (no audio, deterministic meters), for looking at the layout and
for the snapshot tests. From the repository root: ``python tests/harness/demo.py``
(with the seeded stand-in model family).

The real instrument is `floweq-tui`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the harness and the source tree beside it
    here = Path(__file__).resolve()
    sys.path[:0] = [str(here.parents[1]), str(here.parents[2])]  # tests/, the repository

from floweq_tui.tui.app import FloweqApp
from harness.fakes import FakeEngine, FakeMidi, synthetic_family


def shipped_family() -> object:
    """The shipped models, or None when they cannot be loaded."""
    try:
        from floweq_tui import vae

        return vae.load_family()
    except Exception:
        return None


def make_app(
    mode: int = 0, synthetic: bool = True, midi: FakeMidi | None = None, **controls: float
) -> FloweqApp:
    """The app over a FakeEngine; ``midi``: a FakeMidi, or None for an engine without MIDI."""
    family = synthetic_family() if synthetic else (shipped_family() or synthetic_family())
    engine = FakeEngine(family, mode=mode, midi=midi, **controls)
    return FloweqApp(engine, family)


if __name__ == "__main__":
    make_app().run()
