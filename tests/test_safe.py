"""SAFE-DB loader: cleaning rules, malformed rows, unreadable files, the stratified split."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from floweq_tui.params import MAXS, MINS
from floweq_tui.training.safedb import (
    SafeDataError,
    clean_descriptors,
    load_safe,
    split,
    strata,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CSV = SHARED / "data" / "safe" / "SAFEEqualiserUserData.csv"

GOOD = [6.0, 150.0, -3.0, 400.0, 1.0, 2.0, 1200.0, 0.71, 4.0, 3000.0, 2.0, -2.0, 8000.0]


def real_csv() -> Path:
    if not CSV.is_file():
        pytest.skip(f"SAFE-DB data not found at {CSV} (../shared absent): real-data test skipped")
    return CSV


def make_row(i: int, desc: str, params: list) -> list[str]:
    cells = [str(i), desc, "", "2", "2"] + [str(v) for v in params] + [""] * 6 + [f"h{i}"]
    assert len(cells) == 25
    return cells


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_descriptor_rules() -> None:
    raw = ["Warm ", " WARMER", "warmest", "bright", "Brighter", "bass", "bas", "Thin",
           "thinner", "boomy", "boomier", "very  warm", "Bright  Clear", "keys", "clears",
           "clear", "border"]  # fmt: skip
    cleaned, inten = clean_descriptors(raw)
    got = dict(zip(raw, zip(cleaned, inten, strict=True), strict=True))
    assert got["Warm "] == ("warm", 1)
    assert got[" WARMER"] == ("warm", 2)
    assert got["warmest"] == ("warm", 3)
    assert got["Brighter"] == ("bright", 2)
    assert got["bass"] == ("bass", 1)  # "bas" exists but "-s" after "s" is not a plural
    assert got["thinner"] == ("thin", 2)
    assert got["boomier"] == ("boomy", 2)
    assert got["very  warm"] == ("warm", 2)
    assert got["Bright  Clear"] == ("bright clear", 1)
    assert got["keys"] == ("keys", 1)  # no "key" in the vocabulary
    assert got["clears"] == ("clear", 1)
    assert got["border"] == ("border", 1)  # "bord" is not a descriptor


def test_malformed_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    rows = [
        make_row(1, "Warm", GOOD),
        make_row(2, "warmer", GOOD),
        make_row(3, "test", GOOD),
        make_row(4, "", GOOD),
        make_row(5, "bright", [*GOOD[:3], "abc", *GOOD[4:]]),  # non-numeric
        make_row(6, "bright", [*GOOD[:3], "nan", *GOOD[4:]]),  # non-finite
        make_row(7, "bright", [*GOOD[:2], 30.0, *GOOD[3:]]),  # gain out of range
        make_row(8, "bright", [*GOOD[:12], 20000.0005]),  # float rounding: clamped, kept
        make_row(9, "bright", GOOD)[:20],  # wrong column count
        make_row(10, "bright", GOOD) + ["extra"],
        [],  # blank line: ignored
    ]
    data = load_safe(write_csv(tmp_path / "small.csv", rows))
    assert data.report() == {
        "rows": 10,
        "kept": 3,
        "malformed": 3,
        "dropped_descriptor": 2,
        "dropped_out_of_range": 2,
    }
    assert data.malformed_lines == [5, 9, 10]
    assert data.descriptors == ["warm", "warm", "bright"]
    assert list(data.intensity) == [1, 2, 1]
    assert data.params[2, 12] == 20000.0
    assert np.all((data.x >= 0) & (data.x <= 1))


def test_bands_sorted_and_normalised(tmp_path: Path) -> None:
    unsorted = list(GOOD)
    unsorted[2:5], unsorted[8:11] = GOOD[8:11], GOOD[2:5]  # band 3 first
    data = load_safe(write_csv(tmp_path / "s.csv", [make_row(1, "warm", unsorted)]))
    np.testing.assert_allclose(data.params[0], GOOD)
    np.testing.assert_allclose(data.x[0], (np.array(GOOD) - MINS) / (MAXS - MINS))


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "empty"])
def test_unreadable_file_gives_one_line_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.csv"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81" * 100)
    elif kind == "empty":
        path.write_text("")
    with pytest.raises(SafeDataError) as info:
        load_safe(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def synthetic(tmp_path: Path, n: int = 200, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        desc = ["warm", "bright", "clear", "airy", "thin"][min(int(rng.integers(0, 12)), 4)]
        params = MINS + rng.random(13) * (MAXS - MINS)
        rows.append(make_row(i, desc, list(params)))
    return write_csv(tmp_path / "syn.csv", rows)


def test_split_is_deterministic_disjoint_and_stratified(tmp_path: Path) -> None:
    data = load_safe(synthetic(tmp_path))
    a, b = split(data, seed=1), split(data, seed=1)
    assert a.hashes == b.hashes
    assert split(data, seed=2).hashes != a.hashes
    parts = [set(p.tolist()) for p in a.parts().values()]
    assert sum(len(p) for p in parts) == len(data)
    assert set().union(*parts) == set(range(len(data)))
    st = np.array(strata(data.descriptors))
    for name in set(st):
        n = (st == name).sum()
        n_test = (st[a.test] == name).sum()
        assert abs(n_test - 0.15 * n) <= 1


def test_split_does_not_depend_on_row_order(tmp_path: Path) -> None:
    path = synthetic(tmp_path)
    rows = list(csv.reader(path.open(newline="")))
    shuffled = write_csv(tmp_path / "shuf.csv", rows[::-1])
    assert split(load_safe(path), 0).hashes == split(load_safe(shuffled), 0).hashes


def test_real_csv() -> None:
    data = load_safe(real_csv())
    rep = data.report()
    assert rep["rows"] == 1700 and rep["malformed"] == 0
    assert rep["dropped_descriptor"] == 181  # the "test" rows
    assert rep["kept"] == 1519
    counts = data.counts()
    assert counts["warm"] == 532
    assert counts["bright"] == 509  # 504 plain + 5 "brighter"
    assert "test" not in counts
    assert all(d == d.strip().lower() for d in counts)
    assert np.all((data.x >= 0) & (data.x <= 1))
    freqs = data.params[:, [3, 6, 9]]
    assert np.all(np.diff(freqs, axis=1) >= 0)
    sp = split(data, 0)
    sizes = {k: len(v) for k, v in sp.parts().items()}
    assert sizes == {"train": 1063, "val": 228, "test": 228}
