"""Shared test fixtures: where ../shared lives, and skips that say why.

Under CI (``CI=true``) a skip for a missing real part (JACK, torch, ../shared, tmux, ruff,
the installed console script) fails instead: see ``harness.ci``, whose hooks are
registered here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness.ci import (  # noqa: F401  (pytest hooks, registered by being in this module)
    pytest_make_collect_report,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAFE_CSV = SHARED / "data" / "safe" / "SAFEEqualiserUserData.csv"
PIANO = SHARED / "data" / "audio" / "piano_flowEQ_demo.flac"


def package_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python that imports the same floweq_tui as these tests.

    That is the installed package in CI (the source tree has no compiled core) and an
    in-place build in a developer's checkout. PYTHONSAFEPATH keeps the child's working
    directory off sys.path, so ``python -m floweq_tui`` run from the repository root
    still finds the right one.
    """
    import floweq_tui

    root = str(Path(floweq_tui.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root, "PYTHONSAFEPATH": "1", **extra}


@pytest.fixture(scope="session", autouse=True)
def _private_state_dir(tmp_path_factory):
    """Children's logs (and the instance pid) go to a temporary XDG state directory, not the
    user's ~/.local/state, and presets to a temporary data directory; a test that sets
    XDG_STATE_HOME or XDG_DATA_HOME itself wins."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))  # presets
        yield


@pytest.fixture(scope="session")
def safe_csv() -> Path:
    """The real SAFE-DB CSV from ../shared (skips, saying so, when it is absent)."""
    if not SAFE_CSV.is_file():
        pytest.skip(f"SAFE-DB data not found at {SAFE_CSV} (../shared is absent)")
    return SAFE_CSV


@pytest.fixture(scope="session")
def piano() -> tuple:
    """The real piano excerpt from ../shared as (float32 frames x channels, rate)."""
    if not PIANO.is_file():
        pytest.skip(f"demo audio not found at {PIANO} (../shared is absent)")
    import soundfile as sf

    data, rate = sf.read(PIANO, dtype="float32", always_2d=True)
    return data, rate


def pytest_sessionstart(session) -> None:  # noqa: ARG001
    """Clear JACK's registry of servers killed by earlier runs (only when no jackd runs)."""
    from harness import jack

    jack.clean_stale_registry()


@pytest.fixture
def private_jack(tmp_path):
    """A JACK dummy server of this test's own (48 kHz, 128 frames), made the default server
    of every client started meanwhile; stopped afterwards. Skips (fails under CI) without
    jackd, saying why."""
    from harness import jack

    try:
        with jack.private_server(48000, 128, tmp_path / "jackd.log") as server:
            yield server
    except jack.ServerError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A running JACK dummy server (48 kHz, 128 frames): the one already up, or one we start.

    Yields the jackd log path when we started it (None when reusing a server). Skips,
    saying why, only when jackd cannot run here.
    """
    from harness import jack

    if jack.running():
        yield None
        return
    log = tmp_path_factory.mktemp("jack") / "jackd.log"
    proc = jack.start_dummy(48000, 128, log)
    if proc is None:
        detail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        pytest.skip(f"cannot start a JACK dummy server (jackd missing or failed: {detail})")
    try:
        yield log
    finally:
        # PortAudio aborts (an assertion) if it shuts down its JACK client after the server
        # is gone, so close it while the server is still up (PortAudio issue 819).
        import sys

        sd = sys.modules.get("sounddevice")
        if sd is not None:
            sd._terminate()
        jack.stop(proc)
        if sd is not None:
            sd._initialize()
