"""Test MIDI ports on JACK through the system's libjack (``floweq_tui.midi._jackmidi``).

Why not rtmidi's JACK backend for the tests' controllers: python-rtmidi's wheels bundle a
libjack of their own (1.9.22 in python-rtmidi 1.5.8), and a client of that library in a
graph served by Debian's jackd 1.9.21 now and then wedges the graph. From one xrun on,
jackd logs "client = floweq-tui was not finished, state = Triggered" every cycle and the
clients after it never run again: our MIDI client's process count stood at 6 and 14 in
two such runs (about 1 run in 10 of tests/test_midi_jack.py under load), and every message
was lost although the ports were connected. The product's own JACK MIDI client uses the
system's libjack for the same reason; so does every JACK client the tests start.
"""

from __future__ import annotations

import time

from floweq_tui.midi import _jackmidi


class Output:
    """A JACK MIDI output port ``CLIENT:PORT``, optionally connected to ``target``."""

    def __init__(self, client: str, port: str = "out", target: str | None = None) -> None:
        self.client = _jackmidi.Client(client)
        self.index = self.client.add_output(port)
        self.client.activate()
        self.name = self.client.port_name(self.index)
        if target:
            self.client.connect(self.name, target)

    def send(self, data: list[int] | bytes) -> None:
        """Queue one message (1-3 bytes) for the next cycle; waits while the ring is full."""
        while not self.client.send(self.index, bytes(data)):
            time.sleep(0.001)

    def close(self) -> None:
        time.sleep(0.05)  # (what is queued goes out in the next cycles)
        self.client.close()


class Input:
    """A JACK MIDI input port ``CLIENT:PORT``; :meth:`take` returns what arrived."""

    def __init__(self, client: str, port: str = "in") -> None:
        self.client = _jackmidi.Client(client)
        self.index = self.client.add_input(port)
        self.client.activate()
        self.name = self.client.port_name(self.index)

    def take(self) -> list[list[int]]:
        """Every message that arrived since the last call, in order."""
        data = self.client.read(self.index, 1 << 30)  # (never collapsed)
        return [list(data[i + 1 : i + 1 + data[i]]) for i in range(0, len(data), 4)]

    def close(self) -> None:
        self.client.close()


SEND_SCRIPT = """
import sys, time
from floweq_tui.midi import _jackmidi  # the system's libjack: tests/harness/jackctl.py
c = _jackmidi.Client("fq-sender")
o = c.add_output("out")
c.activate()
c.connect(c.port_name(o), sys.argv[1])
time.sleep(0.3)
for arg in sys.argv[2:]:
    c.send(o, bytes(int(b, 16) for b in arg.split(",")))
    time.sleep(0.02)
time.sleep(0.3)
c.close()
"""
"""``python -c SEND_SCRIPT TARGET B0,10,40 C0,01 ...``: connect to TARGET, send each message
(hex bytes) 20 ms apart, then close (for tests that drive another process's port)."""


def _clock_receiver(conn, source: str) -> None:
    """Child: a JACK client whose input is fed by ``source``; ("read",) -> the clock
    messages (stamp, status, value) received since the last read; ("quit",)."""
    client = _jackmidi.Client("fq-clock-rx")
    index = client.add_input("in")
    client.activate()
    client.connect(source, f"{client.name}:in")
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg[0] == "quit":
            break
        conn.send(list(client.read_clock()) if msg[0] == "read" else None)
    del index
    client.close()


class ClockReceiver:
    """Another process listening to a MIDI clock on ``source`` (as other gear would): a
    fresh process with one JACK client of its own, so nothing of the test process's
    earlier clients can interfere."""

    def __init__(self, source: str) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_clock_receiver, args=(child, source), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(20) or self.conn.recv() != "ready":
            self.close()
            raise RuntimeError(f"the clock receiver did not start on {source}")

    def read_clock(self) -> list[tuple[float, int, int]]:
        self.conn.send(("read",))
        if not self.conn.poll(10):
            raise RuntimeError("the clock receiver does not answer")
        return self.conn.recv()

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(("quit",))
            except OSError:
                pass
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2)
