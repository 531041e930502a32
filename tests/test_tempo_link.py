"""Ableton Link: a second peer in another process on loopback; our follower agrees on the
tempo and the beat phase (quantum 4)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from harness import tempo_rig

from floweq_tui.tempo.service import TempoService
from floweq_tui.tempo.slots import LINK, SLOT_NAMES

aalink = pytest.importorskip("aalink", reason="aalink is not installed (pip install aalink)")
INDEX = {n: i for i, n in enumerate(SLOT_NAMES)}


def test_link_follows_a_peer_in_another_process():
    """The peer's tempo reaches the slots, and the beat the engine would compute is within
    1 ms of the peer's beat phase (p99), sampled every 20 ms for 3 s."""
    peer = subprocess.Popen(
        [sys.executable, "-c", tempo_rig.LINK_PEER, "97", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    svc = TempoService(np.zeros(len(SLOT_NAMES)), {"tempo_source": "link"}, index=INDEX)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            due = svc.poll(time.monotonic())
            time.sleep(max(0.0, min(due - time.monotonic(), 0.05)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert peer.stdout.readline().split()[0] == "ready"
        samples = tempo_rig.sample(svc.slots, 3.5, period=0.001)
        out, err = peer.communicate(20)
    finally:
        stop.set()
        thread.join(5)
        svc.close()
        if peer.poll() is None:
            peer.kill()
    assert peer.returncode == 0, err
    rows = [tuple(map(float, line.split())) for line in out.splitlines()]
    settled = rows[len(rows) // 3 :]  # (after the first second: the session has converged)
    peer_bpm = settled[-1][2]
    last = samples[-1][1]
    assert last.source == LINK and last.bpm == pytest.approx(peer_bpm, abs=0.01)
    errs = tempo_rig.phase_errors(samples, [(t, b) for t, b, _ in settled])
    ms = np.abs(errs) * 60 / peer_bpm * 1000
    assert len(ms) > 50 and np.percentile(ms, 99) < 1.0, np.percentile(ms, 99)
    p99 = np.percentile(ms, 99)
    print(f"link: tempo {last.bpm:.3f} (peer {peer_bpm:.3f}), phase p99 {p99:.3f} ms")
