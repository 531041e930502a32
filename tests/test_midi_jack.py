"""MIDI over real JACK MIDI ports on the dummy server, end to end through the Engine.

A separate process plays the controller ("fake-ctl:out" sends, "fake-fb:in" receives
feedback); the Engine runs on JACK with the MIDI service beside it.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from harness import jack as jackserver

from floweq_tui.engine import Engine, EngineConfig
from floweq_tui.midi.state import Conflict, LearnPhase, LinkState

pytestmark = pytest.mark.jack

FLAT = {f"p{i}": 0.0 for i in (0, 2, 5, 8, 11)}
CTL, FB = f"fake-ctl-{os.getpid()}", f"fake-fb-{os.getpid()}"
"""Unique per session: another copy of these tests may share the JACK server."""


# ----------------------------------------------------------------- the controller (child)


def _fake_controller(conn, names: tuple[str, str], target: str | None = None) -> None:
    """Child process: a JACK MIDI controller. Commands come through ``conn``.

    ("send", [[status, d1, d2], ...], gap_s) -> "sent"
    ("flood", cc, rate, seconds, last)     -> messages sent (ends with value ``last``)
    ("received",)                          -> feedback messages received so far (cleared)
    ("quit",)
    With ``target`` the output is connected to that port (e.g. "floweq-tui:floweq-tui")
    instead of waiting as NAME:out for the service to connect it. Its ports use the
    system's libjack (tests/harness/jackctl.py says why not rtmidi's).
    """
    from harness.jackctl import Input, Output

    ctl_name, fb_name = names
    out = Output(ctl_name, "out", target)
    inp = Input(fb_name, "in")
    received: list[list[int]] = []
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg[0] == "quit":
            break
        if msg[0] == "send":
            for data in msg[1]:
                out.send(data)
                if msg[2]:
                    time.sleep(msg[2])
            conn.send("sent")
        elif msg[0] == "flood":
            _, number, rate, seconds, last = msg
            start = time.monotonic()
            n = 0
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= seconds:
                    break
                due = int(elapsed * rate)
                while n < due:
                    out.send([0xB0, number, n % 128])
                    n += 1
                time.sleep(0.001)
            for _ in range(4):  # the last value in 4 cycles (JACK drops a missed cycle's events)
                out.send([0xB0, number, last])
                time.sleep(0.004)
            conn.send(n + 4)
        elif msg[0] == "received":
            received += inp.take()
            got, received[:] = list(received), []
            conn.send(got)
    inp.close()
    out.close()


class Controller:
    """The fake controller process, and how to play it.

    JACK drops the MIDI events of a cycle that misses its deadline (measured here: 8 of
    2000 CCs sent 2 ms apart were lost on a loaded machine, each in a cycle jackd logged as
    an xrun), and this VM misses cycles even for native clients. So with ``received`` (the
    service's count of messages on the port we play) each message is sent, then sent again
    if that count has not moved within :data:`RESEND_S`: no test depends on the luck of a
    cycle, and a message that did arrive is never sent twice. Without it, messages are
    sent once (the flood and the feedback direction are measured, not replayed).
    """

    RESEND_S = 1.5

    def __init__(
        self,
        target: str | None = None,
        names: tuple[str, str] = (CTL, FB),
        received: Callable[[], int] | None = None,
    ) -> None:
        self.received = received
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        args = (child, names, target)
        self.proc = ctx.Process(target=_fake_controller, args=args, daemon=True)
        self.proc.start()
        child.close()
        assert self.conn.poll(20), "the fake controller did not start"
        assert self.conn.recv() == "ready"

    def ask(self, *msg, timeout: float = 30.0):
        self.conn.send(msg)
        assert self.conn.poll(timeout)
        return self.conn.recv()

    def send(self, *msgs: list[int], gap: float = 0.002) -> None:
        if self.received is None:
            assert self.ask("send", [list(m) for m in msgs], gap) == "sent"
            return
        for m in msgs:
            for _ in range(5):
                before = self.received()
                assert self.ask("send", [list(m)], 0) == "sent"
                deadline = time.monotonic() + self.RESEND_S
                while self.received() == before and time.monotonic() < deadline:
                    time.sleep(0.002)
                if self.received() != before:
                    break
            else:
                raise AssertionError(f"{m} never arrived (sent 5 times)\n{situation()}")
            time.sleep(gap)

    def sweep(self, number: int, values, channel: int = 1, gap: float = 0.002) -> None:
        self.send(*[[0xB0 | (channel - 1), number, v] for v in values], gap=gap)

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


WATCHED: list[Engine] = []
"""Engines whose MIDI state a timeout reports (the rig's)."""


def situation() -> str:
    """What a timeout saw: each watched engine's MIDI status and JACK's connections."""
    lines = []
    for eng in WATCHED:
        try:
            cycles = eng.midi.status().jack_cycles
            time.sleep(0.5)
            lines.append(f"JACK cycles of our MIDI client: {cycles} then (0.5 s) ...")
            lines.append(f"midi: {eng.midi.status()!r}")
        except Exception as exc:  # (the report must not hide the timeout)
            lines.append(f"midi: no status ({exc!r})")
    lsp = shutil.which("jack_lsp")
    if lsp:
        done = subprocess.run([lsp, "-c"], capture_output=True, text=True, timeout=10)
        lines.append(f"jack_lsp -c ({os.environ.get('JACK_DEFAULT_SERVER')}):\n{done.stdout}")
    gdb = shutil.which("gdb")
    if os.environ.get("FLOWEQ_TEST_STACKS") and gdb:  # (a developer's aid: native stacks)
        for pid in _children(os.getpid()):
            cmd = [gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt 12"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            keep = [x for x in done.stdout.splitlines() if x.startswith(("Thread", "#"))]
            lines.append(f"stacks of {pid}:\n" + "\n".join(keep))
    return "\n".join(lines)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def wait_for(pred, timeout: float = 8.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{situation()}")
        time.sleep(0.02)


def hw_messages(eng: Engine) -> int:
    """Messages the service took from the controller's port so far."""
    return eng.midi.status().hw.messages


def learned(eng: Engine):
    """The learn state once it no longer waits."""
    return wait_for(
        lambda: (s := eng.midi.learn_status()).phase is not LearnPhase.WAITING and s, 10, "learn"
    )


def out_in_db(eng: Engine, frames: int = 4800) -> float:
    """Output level relative to input over the last ``frames`` (both from the meter rings)."""
    o = eng.meters.ring("out", frames)
    i = eng.meters.ring("in", frames)
    return 20 * math.log10(np.sqrt(np.mean(o**2)) / max(np.sqrt(np.mean(i**2)), 1e-12))


@pytest.fixture(scope="module")
def rig(jack_server, tmp_path_factory):  # noqa: ARG001
    path = tmp_path_factory.mktemp("midi") / "midi.toml"
    cfg = EngineConfig(
        samplerate=48000, blocksize=128, midi=True, midi_api=None, midi_in=CTL,
        midi_out=FB, midi_config=str(path),
    )  # fmt: skip
    eng = Engine(cfg, mode=2, **FLAT, strength=1.0, auto_gain=0, glide_ms=5.0)
    eng.start()
    WATCHED.append(eng)
    ctl = Controller(received=lambda: hw_messages(eng))
    try:
        wait_for(
            lambda: eng.midi.status().hw.state is LinkState.CONNECTED,
            12, "the controller port to be connected",
        )  # fmt: skip
        yield eng, ctl, path
    finally:
        WATCHED.remove(eng)
        ctl.close()
        eng.stop()


def test_auto_api_is_jack_and_ports_open(rig):
    eng, _, _ = rig
    st = eng.midi.status()
    assert st.api == "jack", st.api_reason  # the audio runs on JACK (and no ALSA here)
    assert st.hw.port == f"{CTL}:out"
    assert st.hw.controller == f"{CTL}:out"
    wait_for(lambda: eng.midi.status().hw.output == f"{FB}:in", 10, "feedback port")
    assert st.virtual.port.endswith(":floweq-tui")  # floweq-tui-01 if another runs
    assert st.virtual.state is LinkState.OPEN and st.virtual.output_state is LinkState.OPEN
    assert eng.status.state == "running" and "JACK" in eng.status.hostapi
    # JACK runs our MIDI client every cycle (its count keeps rising)
    first = eng.midi.status().jack_cycles
    wait_for(lambda: eng.midi.status().jack_cycles > first + 100, 10, "JACK cycles")


def test_cc_changes_control_and_audio(rig):
    eng, ctl, _ = rig
    wait_for(lambda: abs(out_in_db(eng)) < 1.0, 10, "a flat, unity-gain output")
    ctl.sweep(22, [62, 63, 64])  # out_gain knob: picks up 0 dB in the middle
    wait_for(lambda: eng.midi.knobs()["out_gain"].picked_up, 10, "pickup")
    ctl.sweep(22, range(64, -1, -8))
    ctl.sweep(22, [0])
    wait_for(lambda: eng.get("out_gain") == -24.0, 10, "out_gain -24")
    time.sleep(0.2)
    assert out_in_db(eng) == pytest.approx(-24.0, abs=1.0)
    ctl.sweep(22, range(0, 65, 8))
    wait_for(lambda: eng.get("out_gain") == pytest.approx(-24 + 48 * 64 / 127), 10, "back up")
    time.sleep(0.2)
    assert out_in_db(eng) == pytest.approx(0.19, abs=1.0)


def test_soft_takeover_over_real_midi(rig):
    eng, ctl, _ = rig
    ctl.sweep(16, [63, 64])
    wait_for(lambda: eng.midi.knobs()["x"].picked_up, 10, "x picked up")
    eng.set("x", 1.5)  # from elsewhere (UI, preset)
    wait_for(lambda: not eng.midi.knobs()["x"].picked_up, 10, "x let go")
    ctl.sweep(16, [70, 80])
    time.sleep(0.2)
    assert eng.get("x") == 1.5  # no jump
    k = eng.midi.knobs()["x"]
    assert k.knob == pytest.approx(-2 + 4 * 80 / 127) and k.value == 1.5
    ctl.sweep(16, [100, 120, 125])  # passes 1.5 (value 111)
    wait_for(lambda: eng.get("x") == pytest.approx(-2 + 4 * 125 / 127), 10, "x follows")


def test_feedback_reaches_the_controller_without_echo(rig):
    eng, ctl, _ = rig
    time.sleep(0.1)
    ctl.ask("received")  # forget the initial state dump
    eng.set("strength", 0.0)
    eng.set("bypass", 1)
    got = wait_for(lambda: ctl.ask("received"), 10, "feedback")
    time.sleep(0.1)
    got += ctl.ask("received")
    assert [0xB0, 20, 0] in got  # strength knob, CC 20
    assert [0xB0, 34, 127] in got and [0x99, 38, 127] in got  # bypass: CC button and pad
    eng.set("bypass", 0)
    # what the knob sends is not sent back
    ctl.sweep(20, [0, 1, 2, 3, 30, 60])
    wait_for(lambda: eng.get("strength") == pytest.approx(60 / 127), 10, "strength from knob")
    time.sleep(0.15)
    echoed = [m for m in ctl.ask("received") if m[:2] == [0xB0, 20]]
    assert echoed == []


def test_flood_no_xruns_and_last_value_wins(rig, jack_server):
    """5000 CC/s for 3 s: no xruns the machine does not account for (see
    jackserver.xrun_allowance: a native C client runs alongside as the reference)."""
    eng, ctl, _ = rig
    eng.set("mode", 2)
    ctl.sweep(18, [63, 64])  # z picked up
    before = eng.midi.status()
    xruns = eng.meters["xruns"]
    reference = jackserver.ReferenceClient()
    have_reference = jack_server is not None and reference.start()
    offset = jackserver.log_size(jack_server)
    try:
        sent = ctl.ask("flood", 18, 5000, 3.0, 100, timeout=30)
    finally:
        reference.stop()
    assert sent > 12000
    last = -2 + 4 * 100 / 127
    wait_for(lambda: eng.get("z") == pytest.approx(last), 10, "the last value")
    after = eng.midi.status()
    lines = jackserver.xrun_lines(jack_server, offset)
    allowed = jackserver.xrun_allowance(
        jackserver.late_count(lines, reference.name) if have_reference else None,
        jackserver.timer_late_count(lines) if jack_server else None,
    )
    assert eng.meters["xruns"] - xruns <= allowed, lines
    got = after.received - before.received
    assert got >= 0.95 * sent  # (the bounded queue may drop some under a stall)
    assert after.writes - before.writes < got  # collapsed: fewer writes than messages


def test_learn_end_to_end_with_conflict(rig):
    eng, ctl, path = rig
    st = eng.midi.learn_start("y")
    assert st.phase is LearnPhase.WAITING
    ctl.sweep(80, [10, 11], channel=3)
    st = learned(eng)
    assert st.phase is LearnPhase.DONE and st.source == "cc 80 ch3" and st.saved, st
    assert "number = 80" in path.read_text()
    ctl.sweep(80, [63, 64, 90], channel=3)
    wait_for(lambda: eng.get("y") == pytest.approx(-2 + 4 * 90 / 127), 10, "y from CC 80")
    # the same CC for another control: a conflict, then replace
    eng.midi.learn_start("z")
    ctl.sweep(80, [5], channel=3)
    st = learned(eng)
    assert st.phase is LearnPhase.CONFLICT
    assert st.conflicts == (Conflict("y", "cc 80 ch3"),)
    st = eng.midi.learn_commit(replace=True)
    assert st.phase is LearnPhase.DONE
    ctl.sweep(80, [5, 6, 7, 120], channel=3)
    wait_for(lambda: eng.get("z") == pytest.approx(-2 + 4 * 120 / 127), 10, "z from CC 80")
    # cancel (Esc)
    eng.midi.learn_start("x")
    assert eng.midi.learn_cancel().phase is LearnPhase.CANCELLED


def test_learn_relative_encoder_end_to_end(rig):
    """An encoder in two's complement, turned down then up over real JACK MIDI, is learned
    as one, and its ticks then step the control instead of jumping it."""
    eng, ctl, path = rig
    eng.set("strength", 0.5)
    eng.midi.learn_start("strength")
    # two equal ticks down (127 = -1) can only be two's complement: learned at the second;
    # messages after that would already drive the new binding
    ctl.sweep(50, [127, 127], channel=1, gap=0.01)
    st = learned(eng)
    assert st.phase is LearnPhase.DONE and st.source == "cc 50 ch1 rel 2s", st
    assert 'encoding = "relative_twos"' in path.read_text()
    assert eng.get("strength") == 0.5  # learning moved nothing
    ctl.sweep(50, [1, 1, 1], channel=1)  # three ticks of 1% of 0..1 each
    wait_for(lambda: eng.get("strength") == pytest.approx(0.53, abs=1e-6), 10, "three ticks up")
    ctl.sweep(50, [127] * 5, channel=1)
    wait_for(lambda: eng.get("strength") == pytest.approx(0.48, abs=1e-6), 10, "five ticks down")


def test_program_change_with_bank_select_over_real_midi(rig):
    """A controller sends Bank Select MSB (CC 0), LSB (CC 32, the default Mode button's CC)
    and Program Change: the bank file's preset is recalled (the sound moves), the mode does
    not switch, and the program goes back to the controller. CC 32 alone is still Mode."""
    from floweq_tui import presets

    eng, ctl, _ = rig
    controls = {s: eng.get(s) for s in ("mode", "p0", "p2", "p5", "p8", "p11", "strength")}
    loud = presets.Preset.from_controls(
        f"jack-quiet-{os.getpid()}", {**controls, "out_gain": -12.0, "x": 1.0}, [], []
    )
    presets.save(loud)
    bank = presets.Bank({presets.program_number(5, 3): loud.name})
    presets.save_bank(bank)
    try:
        mode = eng.get("mode")
        time.sleep(0.1)
        ctl.ask("received")
        ctl.send([0xB0, 0, 0], [0xB0, 32, 5], [0xC0, 3])
        wait_for(lambda: eng.get("out_gain") == -12.0, 10, "the preset's output gain")
        assert eng.get("x") == 1.0 and eng.get("mode") == mode
        assert eng.get("program") == presets.program_number(5, 3)
        wait_for(lambda: abs(out_in_db(eng) + 12.0) < 1.0, 10, "the output 12 dB down")
        got: list[list[int]] = []
        wait_for(lambda: got.extend(ctl.ask("received")) or [0xC0, 3] in got, 10, "feedback")
        assert got[got.index([0xC0, 3]) - 2 : got.index([0xC0, 3]) + 1] == [
            [0xB0, 0, 0], [0xB0, 32, 5], [0xC0, 3],
        ]  # fmt: skip
        assert eng.get("mode") == mode  # still: the LSB was never the Mode button
        ctl.send([0xB0, 32, 127], [0xB0, 32, 0])  # the S1 button on its own
        wait_for(lambda: eng.get("mode") != mode, 10, "the Mode button")
    finally:
        eng.set("mode", 2)
        eng.set("out_gain", 0.0)
        eng.set("x", 0.0)
        presets.bank_path().unlink()
        presets.delete(loud.name)


def test_hot_plug_by_name(rig):
    eng, ctl, _ = rig
    ctl.close()
    wait_for(
        lambda: eng.midi.status().hw.state is LinkState.DISCONNECTED,
        5, "the unplug to be noticed",
    )  # fmt: skip
    new = Controller(received=lambda: hw_messages(eng))
    rig_ctl = new
    try:
        wait_for(lambda: eng.midi.status().hw.state is LinkState.CONNECTED, 10, "replug")
        rig_ctl.sweep(21, [63, 64, 127])  # in_gain knob
        wait_for(lambda: eng.get("in_gain") == 24.0, 10, "in_gain from the replugged controller")
        eng.set("in_gain", 0.0)
    finally:
        new.close()


def test_virtual_input_takes_other_software(rig):
    eng, _, _ = rig
    port = eng.midi.status().virtual.port
    assert port.startswith("floweq-tui") and port.endswith(":floweq-tui")
    sender = Controller(
        target=port,
        names=(f"app-{os.getpid()}", f"app-fb-{os.getpid()}"),
        received=lambda: eng.midi.status().virtual.messages,
    )
    try:
        sender.sweep(19, [0, 1, 2, 60, 127])  # interpolate via the virtual port
        wait_for(lambda: eng.get("interpolate") == 1.0, 10, "interpolate from the virtual port")
        assert eng.midi.status().virtual.messages >= 5
    finally:
        sender.close()


def test_our_client_is_told_when_ports_come_or_connect(jack_server):  # noqa: ARG001
    """Our JACK client hears the server say a port came or was connected: ``take_changed``
    says so once and its eventfd wakes the sleeping service, which then reads the port list
    (instead of polling it every second)."""
    import select

    from floweq_tui.midi import _jackmidi

    ours = _jackmidi.Client("fq-changes")
    other = None
    try:
        port = ours.port_name(ours.add_input("in"))
        ours.activate()

        def settled() -> bool:  # nothing pending (our own port's news taken), armed
            ours.take_changed()
            return bool(ours.arm())

        def woken() -> bool:
            return bool(select.select([ours.fileno()], [], [], 0.05)[0])

        wait_for(settled, 10, "our client to settle")
        other = _jackmidi.Client("fq-other")
        out = other.port_name(other.add_output("out"))
        other.activate()  # a port came
        wait_for(woken, 10, "the wake-up for the new port")
        assert ours.take_changed() and not ours.take_changed()  # said once
        wait_for(settled, 10, "our client to settle again")
        other.connect(out, port)  # a connection
        wait_for(woken, 10, "the wake-up for the connection")
        assert ours.take_changed()
    finally:
        if other is not None:
            other.close()
        ours.close()


def test_feedback_is_looked_at_often_only_while_an_output_is_connected(jack_server, tmp_path):  # noqa: ARG001
    """Our virtual output connected to nothing: nobody hears feedback, so the service looks
    at the controls once a second (input still sees changes first: soft takeover). Once
    another program connects to it, the connection's event brings the 100 ms pace back, and
    a change made elsewhere reaches that program."""
    from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX
    from floweq_tui.midi import _jackmidi
    from floweq_tui.midi import service as S

    svc = S.MidiService(
        CONTROL_DEFAULTS.copy(),
        {"midi_api": "jack", "midi_in": "none", "midi_config": str(tmp_path / "midi.toml")},
    )
    listener = None
    try:
        svc.links.choose_api()
        svc.links.scan()
        assert svc.links.api == "jack" and svc.virt.out_port is not None
        assert not svc.links.feedback_heard()

        def pace() -> float:  # the next feedback look after a quiet spell, from now
            now = time.monotonic() + 10.0  # (past FEEDBACK_BUSY since any change)
            next_fb, _ = svc.housekeeping(now, now, math.inf)
            return next_fb - now

        svc.housekeeping(time.monotonic(), 0.0, math.inf)  # (the first look sends all)
        assert pace() == pytest.approx(S.FEEDBACK_QUIET)
        listener = _jackmidi.Client(f"fq-listener-{os.getpid()}")
        port = listener.port_name(listener.add_input("in"))
        listener.activate()
        listener.connect(svc.virt.out_name, port)
        wait_for(svc.note_port_change, 10, "the connection's event")
        wait_for(svc.links.feedback_heard, 10, "our output to count as heard")
        assert pace() == pytest.approx(S.FEEDBACK_IDLE)
        i = CONTROL_INDEX["interpolate"]  # (CC 19 on the virtual port)
        svc.ctl[i] = 0.25 if svc.ctl[i] != 0.25 else 0.75
        pace()  # a look: the change made elsewhere is fed back
        got = bytearray()
        wait_for(lambda: got.extend(listener.read(0)) or 19 in got[2::4], 10, "CC 19 fed back")
        seen = listener.cycles  # a written output buffer is cleared the cycle after: once
        wait_for(lambda: listener.cycles > seen + 20, 10, "20 more cycles")
        got.extend(listener.read(0))
        assert sum(got[k + 2] == 19 for k in range(0, len(got), 4)) == 1
    finally:
        if listener is not None:
            listener.close()
        svc.close()
