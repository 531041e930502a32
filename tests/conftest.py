"""Shared test fixtures: where ../shared lives, and skips that say why."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAFE_CSV = SHARED / "data" / "safe" / "SAFEEqualiserUserData.csv"
PIANO = SHARED / "data" / "audio" / "piano_flowEQ_demo.flac"


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
