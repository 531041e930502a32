"""Run by the `autoeq` package's own venv: the response of an APO/AutoEq parametric file as
AutoEq computes it (its Peaking/LowShelf/HighShelf filters), printed as JSON.

Usage: python autoeq_consumer.py FILE SAMPLERATE FREQ... ; prints {"preamp": dB, "fr": [dB...]}.
Only PK/LSC/HSC with Q are read (what AutoEq itself writes); anything else exits 3.
"""

import json
import re
import sys

import numpy as np
from autoeq.peq import PEQ, HighShelf, LowShelf, Peaking

CLASSES = {"PK": Peaking, "LSC": LowShelf, "HSC": HighShelf}
LINE = re.compile(
    r"^Filter\s*\d+:\s*ON\s+(PK|LSC|HSC)\s+Fc\s+(\S+)\s+Hz\s+Gain\s+(\S+)\s+dB\s+Q\s+(\S+)\s*$"
)


def main() -> int:
    path, fs = sys.argv[1], float(sys.argv[2])
    f = np.array([float(v) for v in sys.argv[3:]])
    peq = PEQ(f, fs)
    preamp = None
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            if line.startswith("Preamp:"):
                preamp = float(line.split()[1])
                continue
            m = LINE.match(line)
            if not m:
                print(f"unreadable line: {line}", file=sys.stderr)
                return 3
            kind, fc, gain, q = m.group(1), *map(float, m.group(2, 3, 4))
            peq.add_filter(CLASSES[kind](f, fs, fc=fc, q=q, gain=gain))
    fr = peq.fr if peq.filters else np.zeros_like(f)
    print(
        json.dumps(
            {
                "preamp": preamp,
                "fr": [float(v) for v in fr],
                "max_gain": float(peq.max_gain) if peq.filters else 0.0,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
