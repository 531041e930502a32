"""Load for soak tests and benchmarks: a process hammering controls, a process burning CPU.

Both run as children (multiprocessing spawn) next to a live engine, to show that neither
control traffic nor a busy machine makes the audio drop out.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from floweq_tui.controls import CONTROL_SPECS, N_CONTROLS, Controls, SharedBlock

HAMMERED = [f"p{i}" for i in range(13)] + ["strength", "in_gain", "out_gain", "x", "y"]
"""The controls a hammer writes, in turn: all 13 manual parameters, strength, gains, x/y."""


def hammer(ctl_name: str, seconds: float, rate: float, conn: Any, wait_go: bool = False) -> None:
    """Child process: attach to the controls block ``ctl_name`` and write ``rate`` values/s.

    Sends "ready" once attached (then waits for any message when ``wait_go``), and the
    number of writes when done. Gains stay within -12..+6 dB so the output stays sane.
    """
    block = SharedBlock(N_CONTROLS, name=ctl_name)
    controls = Controls(block.array)
    specs = {s.name: s for s in CONTROL_SPECS}
    rng = np.random.default_rng(0)
    conn.send("ready")
    if wait_go:
        conn.recv()
    sent = 0
    period = 1.0 / rate
    start = next_t = time.monotonic()
    while time.monotonic() - start < seconds:
        name = HAMMERED[sent % len(HAMMERED)]
        spec = specs[name]
        lo, hi = (-12.0, 6.0) if name in ("in_gain", "out_gain") else (spec.min, spec.max)
        controls[name] = rng.uniform(lo, hi)
        sent += 1
        next_t += period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    block.close()
    conn.send(sent)


def busy(seconds: float) -> None:
    """Child process: keep one core busy in Python for ``seconds``."""
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(10000):
            x += i * i
