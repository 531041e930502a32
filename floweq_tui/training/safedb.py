"""Load and clean the SAFE-DB equaliser user data (the published 25-column CSV, no header).

Layout of a row: column 0 an index, column 1 the free-text descriptor, columns 5..17 the 13
parameters in :data:`floweq_tui.params.PARAMS` order, columns 18..23 optional metadata,
column 24 a hash.

Cleaning rules (applied in this order, see :func:`clean_descriptors`):

1. Descriptor text is lower-cased, stripped and inner whitespace collapsed to one space.
2. Rows whose descriptor is empty or ``test`` are dropped (``test`` rows are not real settings).
3. One-word descriptors are reduced to a base form, but only when that base form also occurs
   in the file as a descriptor on its own (so ``bass`` never becomes ``bas`` and ``border``
   never ``bord``): plurals ``-s``/``-es``; comparatives ``-er`` (intensity 2) and
   superlatives ``-est`` (intensity 3), including a doubled final consonant (``thinner`` ->
   ``thin``) and ``-ier``/``-iest`` -> ``-y`` (``boomier`` -> ``boomy``). Two-word descriptors
   ``more X``/``very X`` get intensity 2 and ``most X``/``extremely X`` intensity 3 under the
   same condition. Everything else keeps intensity 1.
4. Rows with a non-finite parameter or one outside its range are dropped. Values within
   ``RANGE_TOLERANCE`` of a bound (float32 rounding in the file) are clamped onto it first.
5. The three peaking bands are sorted by ascending centre frequency, then parameters are
   normalised to [0, 1].

Rows with the wrong number of columns or a non-numeric parameter are counted as malformed and
skipped; they never make the load fail.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..params import MAXS, MINS, N_PARAMS, normalize, sort_bands

N_COLUMNS = 25
DESCRIPTOR_COLUMN = 1
PARAM_COLUMNS = slice(5, 5 + N_PARAMS)
RANGE_TOLERANCE = 1e-4
"""Fraction of each parameter's range within which out-of-range values are clamped, not dropped."""
DROPPED_DESCRIPTORS = frozenset({"", "test"})
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
"""Train, validation, test."""
MIN_STRATUM = 10
"""Descriptors with fewer rows than this are pooled into the "other" stratum of the split."""

_PREFIX_INTENSITY = {"more": 2, "very": 2, "most": 3, "extremely": 3}


class SafeDataError(ValueError):
    """The SAFE-DB file cannot be read at all (missing, unreadable, not text)."""


@dataclass
class SafeData:
    """The cleaned data set plus a report of what was dropped and why."""

    path: str
    params: NDArray[np.float64]
    """(n, 13) parameters in their units, middle bands sorted."""
    x: NDArray[np.float64]
    """(n, 13) normalised parameters in [0, 1]."""
    descriptors: list[str]
    """Cleaned descriptor per row."""
    intensity: NDArray[np.int64]
    """Lexical intensity per row: 1 plain, 2 comparative, 3 superlative."""
    raw_descriptors: list[str]
    row_ids: list[str]
    """Stable id per row: first 16 hex digits of sha256 of the raw CSV line."""
    total_rows: int = 0
    malformed: int = 0
    dropped_descriptor: int = 0
    dropped_range: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    """1-based line numbers of the first malformed rows (at most 20)."""

    def __len__(self) -> int:
        return len(self.descriptors)

    def counts(self) -> Counter[str]:
        """Rows per cleaned descriptor."""
        return Counter(self.descriptors)

    def report(self) -> dict[str, int]:
        """What happened to every row of the file."""
        return {
            "rows": self.total_rows,
            "kept": len(self),
            "malformed": self.malformed,
            "dropped_descriptor": self.dropped_descriptor,
            "dropped_out_of_range": self.dropped_range,
        }

    def subset(self, index: NDArray[np.int64]) -> SafeData:
        """A new SafeData holding only the given rows (counters are not carried over)."""
        idx = np.asarray(index, dtype=np.int64)
        return SafeData(
            path=self.path,
            params=self.params[idx],
            x=self.x[idx],
            descriptors=[self.descriptors[i] for i in idx],
            intensity=self.intensity[idx],
            raw_descriptors=[self.raw_descriptors[i] for i in idx],
            row_ids=[self.row_ids[i] for i in idx],
            total_rows=len(idx),
        )


def normalize_text(text: str) -> str:
    """Lower-case, strip and collapse inner whitespace."""
    return " ".join(text.split()).lower()


def _base_candidates(word: str) -> list[tuple[str, int]]:
    """Possible (base, intensity) reductions of one word, most specific first."""
    out: list[tuple[str, int]] = []
    for suffix, inten in (("est", 3), ("er", 2)):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            if stem.endswith("i"):
                out.append((stem[:-1] + "y", inten))
            if len(stem) >= 2 and stem[-1] == stem[-2]:
                out.append((stem[:-1], inten))
            out.append((stem, inten))
            out.append((stem + "e", inten))
    if word.endswith("es") and len(word) > 4:
        out.append((word[:-2], 1))
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.append((word[:-1], 1))
    return out


def clean_descriptors(raw: list[str]) -> tuple[list[str], list[int]]:
    """Apply the module's descriptor rules to a list; returns (cleaned, intensity) per entry."""
    texts = [normalize_text(t) for t in raw]
    vocab = set(texts)
    cleaned: list[str] = []
    intensity: list[int] = []
    for t in texts:
        base, inten = t, 1
        words = t.split(" ")
        if len(words) == 1:
            for cand, ci in _base_candidates(t):
                if cand in vocab and cand not in DROPPED_DESCRIPTORS:
                    base, inten = cand, ci
                    break
        elif len(words) == 2 and words[0] in _PREFIX_INTENSITY and words[1] in vocab:
            base, inten = words[1], _PREFIX_INTENSITY[words[0]]
        cleaned.append(base)
        intensity.append(inten)
    return cleaned, intensity


def row_id(cells: list[str]) -> str:
    """Stable id of one CSV row: sha256 of its cells joined by commas, first 16 hex digits."""
    return hashlib.sha256(",".join(cells).encode("utf-8")).hexdigest()[:16]


def load_safe(path: str | Path) -> SafeData:
    """Read, clean and normalise the SAFE-DB equaliser CSV at ``path``.

    Raises SafeDataError (a ValueError) with a one-line message when the file cannot be read;
    malformed rows are only counted.
    """
    p = Path(path)
    try:
        with p.open("r", encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise SafeDataError(f"SAFE-DB file not found: {p}") from None
    except IsADirectoryError:
        raise SafeDataError(f"SAFE-DB path is a directory, not a CSV file: {p}") from None
    except UnicodeDecodeError:
        raise SafeDataError(f"SAFE-DB file is not UTF-8 text: {p}") from None
    except (OSError, csv.Error) as exc:
        raise SafeDataError(f"cannot read SAFE-DB file {p}: {exc}") from None

    malformed_lines: list[int] = []
    good_cells: list[list[str]] = []
    values: list[list[float]] = []
    for lineno, cells in enumerate(rows, start=1):
        if not cells or all(not c.strip() for c in cells):
            continue  # blank line: not a row
        try:
            if len(cells) != N_COLUMNS:
                raise ValueError("column count")
            vals = [float(c) for c in cells[PARAM_COLUMNS]]
        except ValueError:
            malformed_lines.append(lineno)
            continue
        good_cells.append(cells)
        values.append(vals)

    total = len(good_cells) + len(malformed_lines)
    if total == 0:
        raise SafeDataError(f"SAFE-DB file has no rows: {p}")
    raw_desc = [c[DESCRIPTOR_COLUMN] for c in good_cells]
    cleaned, inten = clean_descriptors(raw_desc)
    arr = np.array(values, dtype=np.float64).reshape(-1, N_PARAMS)

    keep_desc = np.array([d not in DROPPED_DESCRIPTORS for d in cleaned], dtype=bool)
    tol = RANGE_TOLERANCE * (MAXS - MINS)
    finite = np.isfinite(arr).all(axis=1)
    inside = ((arr >= MINS - tol) & (arr <= MAXS + tol)).all(axis=1) & finite
    keep = keep_desc & inside
    arr = np.clip(arr[keep], MINS, MAXS)
    arr = sort_bands(arr) if len(arr) else arr
    idx = np.flatnonzero(keep)
    return SafeData(
        path=str(p),
        params=arr,
        x=normalize(arr) if len(arr) else arr.copy(),
        descriptors=[cleaned[i] for i in idx],
        intensity=np.array([inten[i] for i in idx], dtype=np.int64),
        raw_descriptors=[raw_desc[i] for i in idx],
        row_ids=[row_id(good_cells[i]) for i in idx],
        total_rows=total,
        malformed=len(malformed_lines),
        dropped_descriptor=int((~keep_desc).sum()),
        dropped_range=int((keep_desc & ~inside).sum()),
        malformed_lines=malformed_lines[:20],
    )


def strata(descriptors: list[str], min_count: int = MIN_STRATUM) -> list[str]:
    """Stratum of each row: its descriptor if it has >= min_count rows, else "other"."""
    c = Counter(descriptors)
    return [d if c[d] >= min_count else "other" for d in descriptors]


@dataclass(frozen=True)
class Split:
    """Row indices of the train/validation/test parts and their identity hashes."""

    train: NDArray[np.int64]
    val: NDArray[np.int64]
    test: NDArray[np.int64]
    hashes: dict[str, str]
    seed: int

    def parts(self) -> dict[str, NDArray[np.int64]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def split_hash(ids: list[str]) -> str:
    """Identity of one part: sha256 of its sorted row ids, one per line."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("ascii")).hexdigest()


def split(
    data: SafeData,
    seed: int = 0,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
    min_stratum: int = MIN_STRATUM,
) -> Split:
    """Deterministic train/val/test split stratified by descriptor (rare ones pooled).

    Rows are ordered by row id before shuffling, so the split depends only on the rows and the
    seed, not on the order of the file.
    """
    rng = np.random.default_rng(seed)
    st = strata(data.descriptors, min_stratum)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for name in sorted(set(st)):
        members = sorted((i for i, s in enumerate(st) if s == name), key=lambda i: data.row_ids[i])
        perm = [members[j] for j in rng.permutation(len(members))]
        n = len(perm)
        n_test = int(round(fractions[2] * n))
        n_val = int(round(fractions[1] * n))
        parts["test"] += perm[:n_test]
        parts["val"] += perm[n_test : n_test + n_val]
        parts["train"] += perm[n_test + n_val :]
    arrays = {k: np.array(sorted(v), dtype=np.int64) for k, v in parts.items()}
    hashes = {k: split_hash([data.row_ids[i] for i in v]) for k, v in arrays.items()}
    return Split(arrays["train"], arrays["val"], arrays["test"], hashes, seed)
