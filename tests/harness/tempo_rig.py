"""The tempo's test rig: a native clock sender/receiver, the MIDI service on a thread, and
the beat the engine would compute at each block start from the slots as they were then.

Used by tests/test_tempo_jack.py and benchmarks/tempo_sync.py.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from floweq_tui.controls import CONTROL_DEFAULTS, N_CONTROLS
from floweq_tui.midi.service import MidiService
from floweq_tui.tempo.slots import SLOT_NAMES, TempoSlots, TempoState

HERE = Path(__file__).resolve().parent
INDEX = {n: N_CONTROLS + i for i, n in enumerate(SLOT_NAMES)}
"""The five slots after the controls (wherever the controls layout puts them, the code is
the same: :class:`TempoSlots` by name)."""


def build_clock_tool(outdir: Path) -> str | None:
    """tests/harness/jack_clock.c compiled into ``outdir`` (None without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    out = Path(outdir) / "jack_clock"
    subprocess.run([cc, "-O2", "-o", str(out), str(HERE / "jack_clock.c"), "-ldl"], check=True)
    return str(out)


class _Chan:
    """The service's request channel, reduced to 'keep going until stopped'."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def serve(self, handlers: Any) -> bool:  # noqa: ARG002
        return not self.stopped.is_set()


class ServiceThread:
    """A :class:`MidiService` (real JACK ports) running its loop on a thread of this process,
    writing the tempo slots into ``self.ctl``."""

    def __init__(self, options: dict[str, Any], config: Path) -> None:
        self.ctl = np.concatenate([CONTROL_DEFAULTS, np.zeros(len(SLOT_NAMES))])
        opts = {"midi_api": "jack", "midi_in": "none", "midi_out": "none", **options}
        opts |= {"midi_config": str(config), "tempo_index": INDEX}
        self.service = MidiService(self.ctl, opts)
        self.service.links.choose_api()
        if self.service.links.jack is None:
            raise RuntimeError(f"MIDI on JACK did not open: {self.service.links.api_reason}")
        self.service.links.scan()
        self.slots = TempoSlots(self.ctl, INDEX)
        self._chan = _Chan()
        self._thread = threading.Thread(target=self.service.run, args=(self._chan,), daemon=True)
        self._thread.start()

    @property
    def virtual_port(self) -> str:
        return str(self.service.virt.in_name)

    def clock_port(self) -> str:
        links = self.service.links
        assert links.clock_port is not None
        return str(links.jack.port_name(links.clock_port))

    def close(self) -> None:
        self._chan.stopped.set()
        self._thread.join(5)
        self.service.close()


def sample(
    slots: TempoSlots, seconds: float, period: float = 0.0005
) -> list[tuple[float, TempoState]]:
    """The slots as they were, every ``period`` for ``seconds``: (time read, anchor)."""
    out = []
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        out.append((now, slots.read()))
        time.sleep(period)
    return out


def block_beats(
    samples: list[tuple[float, TempoState]], start: float, end: float, block_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """At each block start in [start, end): the beat the engine computes from the slots as
    last read before it (the contract's formula), and the block start times."""
    times = np.array([t for t, _ in samples])
    blocks = np.arange(start, end, block_s)
    idx = np.searchsorted(times, blocks, side="right") - 1
    ok = idx >= 0
    blocks, idx = blocks[ok], idx[ok]
    beats = np.array([samples[i][1].beat(b) for i, b in zip(idx, blocks, strict=True)])
    return blocks, beats


LINK_PEER = r"""
import asyncio, sys, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import aalink
loop = asyncio.new_event_loop()
link = aalink.Link(float(sys.argv[1]), loop)
link.quantum = 4
link.enabled = True
end = time.monotonic() + 20
while link.num_peers == 0 and time.monotonic() < end:
    time.sleep(0.01)
print("ready", link.num_peers, flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    a = time.monotonic(); beat = link.beat; b = time.monotonic()
    print(f"{(a + b) / 2:.9f} {beat:.9f} {link.tempo:.6f}", flush=True)
    time.sleep(0.02)
link.enabled = False
"""
"""A second Link peer, run as ``python -c LINK_PEER BPM SECONDS``: waits for a peer, then
prints "time beat tempo" (its time.monotonic() and the session's beat) every 20 ms."""


def phase_errors(
    samples: list[tuple[float, TempoState]], peer: list[tuple[float, float]], quantum: float = 4.0
) -> np.ndarray:
    """Beat-phase differences (beats, within +-quantum/2) between the slots' beat and the
    peer's at the peer's times."""
    times = np.array([t for t, _ in samples])
    out = []
    for t, beat in peer:
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0:
            continue
        d = samples[i][1].beat(t) - beat
        out.append((d + quantum / 2) % quantum - quantum / 2)
    return np.array(out)
