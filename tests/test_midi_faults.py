"""MIDI faults injected for real, each on a private JACK server of its own: the server
killed and started again under the MIDI service, and a flood of 200k messages/s from a
native JACK client into its virtual input."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from harness import jack
from test_midi_jack import CTL, Controller, wait_for

from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX, N_CONTROLS, SharedBlock
from floweq_tui.midi.client import MidiProcess
from floweq_tui.midi.state import LinkState, MidiStatus

pytestmark = pytest.mark.jack
HERE = Path(__file__).resolve().parent


SAMPLERATE, PERIOD = 48000, 128


class Private:
    """A private jackd (``-n NAME``) that a test may kill and start again."""

    def __init__(self, name: str, log: Path) -> None:
        self.name, self.log = name, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = jack.start_dummy(SAMPLERATE, PERIOD, self.log, name=self.name)
        if self.proc is None:
            pytest.skip(f"cannot start a JACK dummy server (jackd missing or failed: {self.log})")

    def kill(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(10)

    def ports(self) -> str:
        done = subprocess.run(
            ["jack_lsp", "-s", self.name], capture_output=True, text=True, timeout=10
        )
        return done.stdout


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = Private(f"fq_midi_{os.getpid()}", tmp_path / "jackd.log")
    srv.start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", srv.name)  # (children inherit it)
    yield srv
    jack.stop(srv.proc)


@pytest.fixture
def service(server, tmp_path):  # noqa: ARG001
    """The MIDI process on the private server, writing a controls block of our own."""
    block = SharedBlock(N_CONTROLS, create=True)
    block.array[:] = CONTROL_DEFAULTS
    opts = {"midi_api": "jack", "midi_in": CTL, "midi_out": "none"}
    midi = MidiProcess(block.name, {**opts, "midi_config": str(tmp_path / "midi.toml")})
    midi.start(wait=True)
    try:
        yield midi, block.array
    finally:
        midi.stop()
        block.close()


def knob(ctl: np.ndarray, name: str, value: int) -> bool:
    """The control holds what a 7-bit knob at ``value`` gives (range -2..2 for x/y/z)."""
    return bool(ctl[CONTROL_INDEX[name]] == pytest.approx(-2 + 4 * value / 127))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill9"])
def test_jack_server_restart_reopens_ports_and_controller(server, service, sig):
    """jackd killed under the service: both links say "JACK server gone" within 2 s (news
    for the parent, as a knob moved is); started again: the virtual port is back in
    jack_lsp and the controller connected again, and its CCs reach the controls block
    (deadline 10 s; measured about 0.2-0.5 s)."""
    midi, ctl = service
    ctl_proc = Controller(received=lambda: midi.status().hw.messages)
    try:
        wait_for(lambda: midi.status().hw.state is LinkState.CONNECTED, 10, "the controller")
        midi.take_news()
        ctl_proc.sweep(16, [63, 64, 70])
        wait_for(lambda: knob(ctl, "x", 70), 10, "x from the controller")
        wait_for(midi.take_news, 5, "news of the knob")  # (what the UI waits on)
        midi.take_news()
        server.kill(sig)
        gone = time.monotonic()
        st: MidiStatus = wait_for(
            lambda: (s := midi.status()).server_gone and s, 2, "the server loss to be noticed"
        )
        noticed = time.monotonic() - gone
        wait_for(midi.take_news, 5, "news of the loss")
        assert st.virtual.state is LinkState.DISCONNECTED and st.virtual.text == "JACK server gone"
        assert st.hw.state is LinkState.DISCONNECTED and "gone" in st.summary()
    finally:
        ctl_proc.close()
    server.start()
    back = time.monotonic()
    wait_for(lambda: "floweq-tui:floweq-tui" in server.ports(), 10, "the virtual port back")
    took = time.monotonic() - back
    st = midi.status()
    assert not st.server_gone and st.virtual.state is LinkState.OPEN, st
    # the controller's own client comes back with the server
    ctl_proc = Controller(received=lambda: midi.status().hw.messages)
    try:
        wait_for(lambda: midi.status().hw.state is LinkState.CONNECTED, 10, "reconnected")
        ctl_proc.sweep(16, [69, 70, 90])  # (soft takeover: the knob picks up at 70)
        wait_for(lambda: knob(ctl, "x", 90), 10, "x from the controller again")
    finally:
        ctl_proc.close()
    print(f"loss said after {noticed:.2f} s; virtual port back {took:.2f} s after jackd answered")


@pytest.fixture(scope="session")
def flood_tool(tmp_path_factory) -> str:
    """tests/harness/jack_flood.c, compiled (a native JACK MIDI writer)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the flood generator (cc/gcc is not installed)")
    out = tmp_path_factory.mktemp("flood") / "jack_flood"
    subprocess.run([cc, "-O2", "-o", str(out), str(HERE / "harness" / "jack_flood.c"), "-ldl"],
                   check=True)  # fmt: skip
    return str(out)


def test_flood_200k_per_second_never_stalls_the_graph(server, service, flood_tool, capfd):
    """200k CC/s for 3 s from a native client into the virtual input: no xruns beyond what
    the machine accounts for, the last value wins, the service answers throughout, and
    nothing is written to stderr on the JACK thread.

    The machine's share is measured by two native C clients in the same window: jack_metro
    beside the graph, and the generator's sink, which reads every flood event in our place
    in the graph (after the generator: it starts only when the generator has finished, so a
    late wake-up of either thread shows there as in ours)."""
    midi, ctl = service
    reference = jack.ReferenceClient()
    have_reference = reference.start()
    offset = jack.log_size(server.log)
    before = midi.status()
    port = before.virtual.port
    flood = subprocess.Popen(
        [flood_tool, "fq-flood", port, "200000", "3", "18", "100", "fq-sink"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    answers = 0
    try:
        while flood.poll() is None:
            midi.status()  # each answers within the request's own timeout (5 s)
            answers += 1
            time.sleep(0.1)
        out, err = flood.communicate(10)
    finally:
        reference.stop()
    assert flood.returncode == 0, err
    said = dict(ln.split() for ln in out.splitlines())
    sent = int(said["sent"])
    assert sent > 500_000, out  # 200k/s reached: JACK took them all
    wait_for(lambda: knob(ctl, "z", 100), 10, "the last value")
    lines = jack.xrun_lines(server.log, offset)
    machine = jack.late_count(lines, "fq-sink")
    if have_reference:
        machine = max(machine, jack.late_count(lines, reference.name))
    allowed = jack.xrun_allowance(machine, jack.timer_late_count(lines))
    # every xrun but the native clients' (the machine's share) and the generator's own
    # overruns (it writes ~530 events a cycle and runs before us in the graph)
    natives = (reference.name, "fq-flood", "fq-sink")
    others = [ln for ln in lines if not any(jack.is_late(ln, name) for name in natives)]
    assert jack.late_count(lines, "floweq-tui") <= allowed and len(others) <= allowed, lines
    after = midi.status()
    assert after.virtual.collapsed > 0.9 * sent  # a flood collapses to the last values
    assert after.virtual.dropped == before.virtual.dropped, after.virtual  # our ring kept up
    # every message the generator wrote reached our callback, but for the cycles someone
    # missed (whoever was late, the events written in that cycle can be lost in JACK's
    # graph before any reader runs): at most one cycle's events (~533) per xrun line
    got = after.received - before.received
    per_cycle = math.ceil(200_000 * PERIOD / SAMPLERATE)
    assert sent - got <= 0.01 * sent + per_cycle * len(lines), (got, sent, after.virtual, lines)
    assert sent - int(said["sink"]) <= 0.01 * sent + per_cycle * len(lines), out  # it read too
    assert answers >= 20
    assert "queue limit" not in capfd.readouterr().err  # (rtmidi's line per lost message)
    late = {name: jack.late_count(lines, name) for name in ("floweq-tui", *natives)}
    print(f"flood: {said['rate']} msg/s, {len(lines)} xruns (allowed {allowed}); late: {late}")
