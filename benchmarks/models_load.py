"""Time loading the shipped model family with NumPy (target: well under 200 ms).

Prints one JSON object as its last line: cold and warm load times in ms, model count, size.
Run from the repository root after ``pip install .`` (it measures the installed package):

    python benchmarks/models_load.py [MODELS_DIR]
    python benchmarks/models_load.py --quick     # fewer repeats: does it run?
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="?", type=Path, help="a models directory (default: shipped)")
    ap.add_argument("--quick", action="store_true", help="3 warm loads, 100 decodes")
    args = ap.parse_args(argv)
    loads, decodes = (3, 100) if args.quick else (10, 1000)

    t0 = time.perf_counter()
    try:
        from floweq_tui.vae import ModelError, default_path, load_family
    except ImportError as exc:
        sys.exit(f"models_load: needs the installed floweq_tui ({exc}): run `pip install .` first")

    t_import = time.perf_counter() - t0
    path = args.models or default_path()
    t1 = time.perf_counter()
    try:
        fam = load_family(path)
    except (ModelError, OSError) as exc:
        sys.exit(f"models_load: {exc}")
    cold = time.perf_counter() - t1
    warm = []
    for _ in range(loads):
        t = time.perf_counter()
        load_family(path)
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(decodes):
        fam.default.decode_normalized([0.1, -0.2])
    decode_us = (time.perf_counter() - t) / decodes * 1e6
    size = sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".npz", ".json"))
    print(
        json.dumps(
            {
                "models": len(fam),
                "bytes": size,
                "import_ms": round(1e3 * t_import, 2),
                "first_load_ms": round(1e3 * cold, 2),
                "load_ms_median": round(1e3 * sorted(warm)[len(warm) // 2], 2),
                "load_ms_max": round(1e3 * max(warm), 2),
                "numpy_decode_us": round(decode_us, 1),
                "target_ms": 200,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
