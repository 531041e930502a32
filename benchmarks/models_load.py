"""Time loading the shipped model family with NumPy (target: well under 200 ms).

Prints one JSON object as its last line: cold and warm load times in ms, model count, size.
Run: PYTHONPATH=. python benchmarks/models_load.py [MODELS_DIR]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    from floweq_tui.vae import default_path, load_family

    t_import = time.perf_counter() - t0
    path = Path(argv[0]) if argv else default_path()
    t1 = time.perf_counter()
    fam = load_family(path)
    cold = time.perf_counter() - t1
    warm = []
    for _ in range(10):
        t = time.perf_counter()
        load_family(path)
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(1000):
        fam.default.decode_normalized([0.1, -0.2])
    decode_us = (time.perf_counter() - t) / 1000 * 1e6
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
    sys.exit(main(sys.argv[1:]))
