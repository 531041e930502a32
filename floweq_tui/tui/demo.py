"""Run the UI on a FakeEngine (no audio, deterministic meters): ``python -m floweq_tui.tui.demo``.

For looking at the layout and for the snapshot tests; the real instrument is `floweq-tui`.
"""

from __future__ import annotations

from .app import FloweqApp, load_family
from .engine_api import FakeEngine, FakeMidi, synthetic_family


def make_app(
    mode: int = 0, synthetic: bool = True, midi: FakeMidi | None = None, **controls: float
) -> FloweqApp:
    family = synthetic_family() if synthetic else (load_family() or synthetic_family())
    extra = {} if midi is None else {"midi": midi}  # left out: an engine without MIDI
    engine = FakeEngine(family, mode=mode, **extra, **controls)
    return FloweqApp(engine, family)


if __name__ == "__main__":
    make_app().run()
