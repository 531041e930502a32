"""The MIDI service's logic without ports: batching, feedback, learn, the mapping file."""

from __future__ import annotations

import multiprocessing
import random

import mido
import numpy as np
import pytest

from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX
from floweq_tui.midi import service as S
from floweq_tui.midi.mapping import Event, MappingError
from floweq_tui.midi.service import MidiService
from floweq_tui.midi.state import Conflict, LearnPhase, LinkState
from floweq_tui.midi.store import load
from floweq_tui.runtime import Channel, Reply, Request


class FakePort:
    """An rtmidi output/input stand-in: records what is sent, hands out queued input."""

    def __init__(self, incoming: list[list[int]] | None = None) -> None:
        self.sent: list[list[int]] = []
        self.incoming = list(incoming or [])

    def send_message(self, data: list[int]) -> None:
        self.sent.append(list(data))

    def get_message(self):
        return (self.incoming.pop(0), 0.0) if self.incoming else None

    def close_port(self) -> None:
        pass

    def delete(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def svc(tmp_path):
    ctl = CONTROL_DEFAULTS.copy()
    clock = Clock()
    s = MidiService(ctl, {"midi_config": str(tmp_path / "midi.toml")}, clock=clock)
    s.virt.out_port = FakePort()
    s.clock_ = clock
    return s


def cc(n: int, v: int, ch: int = 1) -> Event:
    return Event("cc", ch, n, v)


def x_of(s: MidiService) -> float:
    return float(s.ctl[CONTROL_INDEX["x"]])


def ask(s: MidiService, cmd: str, **args) -> Reply:
    """One request through the service's dispatch table, as the process answers it
    (Channel.serve over an in-process pipe: the reply is pickled like the real one)."""
    parent, child = multiprocessing.Pipe()
    parent.send(Request(cmd, args))
    assert Channel(child).serve(s.handlers)
    reply = parent.recv()
    parent.close()
    child.close()
    return reply


def test_flood_collapses_to_last_value_per_batch(svc):
    for i in range(5000):
        svc.queue.append((svc.virt, cc(16, i % 128)))
    assert len(svc.queue) == S.QUEUE_MAX  # bounded: the oldest were dropped
    svc.queue.append((svc.virt, cc(16, 127)))
    svc.drain()
    assert x_of(svc) == 2.0
    assert svc.writes == 1  # one write for the whole batch
    assert svc.batches == 1
    assert len(svc.queue) == 0


def test_raw_port_messages_batched(svc):
    """What rtmidi queued on a port is drained in one batch (raw bytes, garbage ignored)."""
    svc.virt.in_port = FakePort(
        [[0xB0, 16, v] for v in range(60, 128)] + [[0xF8], [0xFF, 1, 2], [0xB0, 16, 100]]
    )
    assert svc.drain() == 71
    assert x_of(svc) == pytest.approx(-2 + 4 * 100 / 127)
    assert svc.writes == 1 and svc.ignored == 2
    assert svc.drain() == 0


def test_input_port_error_is_closed_for_retry(svc):
    class Broken(FakePort):
        def get_message(self):
            raise OSError("device gone")

    svc.hw.in_port = Broken()
    svc.drain()
    assert svc.hw.in_port is None and svc.hw.state is LinkState.ERROR
    assert svc.hw.info().text == "error (retrying)"
    assert svc.hw.error == "device gone"


def test_garbage_and_other_messages_are_ignored(svc):
    rnd = random.Random(1)
    junk: list[object] = [None, 3, "x", object(), Event("cc", 99, 999, -5)]
    junk += [mido.Message("clock"), mido.Message("sysex", data=[1, 2]),
             mido.Message("pitchwheel", pitch=5), mido.Message("program_change", program=1),
             mido.Message("active_sensing")]  # fmt: skip
    for _ in range(200):
        try:
            junk.append(mido.Message.from_bytes([rnd.randrange(256) for _ in range(3)]))
        except (ValueError, TypeError):
            pass
    before = svc.ctl.copy()
    for j in junk:
        svc.queue.append((svc.virt, j))
    svc.drain()  # never raises
    changed = np.flatnonzero(svc.ctl != before)
    # random bytes may form valid CCs/notes for mapped controls; nothing else moves
    mapped = {CONTROL_INDEX[c] for c in svc.virt.mapper.controls}
    mapped.add(CONTROL_INDEX["program"])  # a Program Change selects a program (no preset here)
    assert set(changed.tolist()) <= mapped
    assert svc.ignored >= 10


def test_feedback_for_changes_elsewhere_not_for_input(svc):
    out = svc.virt.out_port.sent
    svc.feedback()  # first poll: the current values of every mapped control
    assert [0xB0, 16, 64] in out  # x = 0 is the middle of -2..2
    out.clear()
    svc.feedback()
    assert out == []
    # from the knob: no echo
    svc.queue.append((svc.virt, cc(16, 60)))
    svc.queue.append((svc.virt, cc(16, 70)))
    svc.drain()
    assert x_of(svc) != 0.0
    svc.feedback()
    assert out == []
    # from elsewhere (UI, preset): sent, and the knob must pick the value up again
    svc.ctl[CONTROL_INDEX["x"]] = 2.0
    svc.feedback()
    assert out == [[0xB0, 16, 127]]
    assert not svc.knobs()["x"].picked_up
    svc.queue.append((svc.virt, cc(16, 71)))
    svc.drain()
    assert x_of(svc) == 2.0  # no jump


def test_feedback_output_error_closes_the_port(svc):
    class Broken(FakePort):
        def send_message(self, data):
            raise OSError("gone")

    svc.virt.out_port = Broken()
    svc.feedback()
    assert svc.virt.out_port is None
    assert svc.virt.out_state is LinkState.ERROR


def test_learn_no_conflict_commits_and_saves(svc, tmp_path):
    svc.learn.start("y")
    svc.queue.append((svc.virt, cc(80, 10, ch=2)))
    svc.drain()
    assert svc.learn.state.phase is LearnPhase.WAITING  # listens to the knob for a moment
    svc.clock_.t += 0.35
    svc.learn.poll()
    st = svc.learn.state
    assert st.phase is LearnPhase.DONE and st.saved and st.source == "cc 80 ch2"
    saved = load(tmp_path / "midi.toml").bindings_for("floweq-tui")
    assert any(b.control == "y" and b.number == 80 and b.channel == 2 for b in saved)
    # the new binding works at once (after its soft takeover)
    svc.queue.append((svc.virt, cc(80, 63, ch=2)))
    svc.queue.append((svc.virt, cc(80, 64, ch=2)))
    svc.drain()
    assert svc.ctl[CONTROL_INDEX["y"]] == pytest.approx(-2 + 4 * 64 / 127)


def test_learn_relative_encoder_hint_then_encoding(svc, tmp_path):
    """An encoder sending 65s asks to be turned back; 1s then say sign-magnitude."""
    svc.learn.start("z")
    for _ in range(3):
        svc.queue.append((svc.virt, cc(40, 65)))
    svc.drain()
    svc.clock_.t += 0.5
    svc.learn.poll()
    st = ask(svc, "learn_status").data
    assert st.phase is LearnPhase.WAITING and "other way" in st.hint
    svc.queue.append((svc.virt, cc(40, 1)))
    svc.drain()
    st = svc.learn.state
    assert st.phase is LearnPhase.DONE and st.source == "cc 40 ch1 rel sign" and not st.hint
    saved = load(tmp_path / "midi.toml").bindings_for("floweq-tui")
    assert any(b.control == "z" and b.encoding == "relative_sign_magnitude" for b in saved)


def test_learn_conflict_asks_then_replaces(svc, tmp_path):
    svc.learn.start("y")
    svc.queue.append((svc.virt, cc(16, 10)))  # the default x knob
    svc.drain()
    assert svc.learn.state.phase is LearnPhase.WAITING  # CC 0-31: waits for a possible LSB
    svc.clock_.t += 0.35
    svc.learn.poll()
    st = svc.learn.state
    assert st.phase is LearnPhase.CONFLICT
    assert st.conflicts == (Conflict("x", "cc 16 ch1"),)
    assert not (tmp_path / "midi.toml").exists()  # nothing committed yet
    done = svc.learn.commit(replace=True)
    assert done.phase is LearnPhase.DONE and done.replaced[0].control == "x"
    bs = load(tmp_path / "midi.toml").bindings_for("floweq-tui")
    assert [b.control for b in bs if b.type == "cc" and b.number == 16] == ["y"]


def test_learn_conflict_declined_and_cancel_and_timeout(svc, tmp_path):
    svc.learn.start("y")
    svc.queue.append((svc.virt, Event("note", 10, 38, 100)))  # bypass's pad
    svc.drain()
    assert svc.learn.state.phase is LearnPhase.CONFLICT
    assert svc.learn.commit(replace=False).phase is LearnPhase.CANCELLED
    assert not (tmp_path / "midi.toml").exists()
    svc.learn.start("z")
    assert svc.learn.cancel().phase is LearnPhase.CANCELLED
    svc.learn.start("z", timeout=1.0)
    svc.clock_.t += 2.0
    svc.learn.poll()
    assert svc.learn.state.phase is LearnPhase.TIMEOUT
    with pytest.raises(MappingError):
        svc.learn.start("nope")


def test_malformed_file_keeps_previous_mapping_and_is_not_overwritten(tmp_path):
    path = tmp_path / "midi.toml"
    bad = 'version = 1\n[controllers."floweq-tui"]\n[[controllers."floweq-tui".bindings]]\n'
    bad += 'control = "x"\ntype = "cc"\nnumber = 300\n'
    path.write_text(bad)
    clock = Clock()
    s = MidiService(CONTROL_DEFAULTS.copy(), {"midi_config": str(path)}, clock=clock)
    assert s.map_error.startswith(f"{path}:3: ") and "0-127" in s.map_error
    assert s.status().mapping_error == s.map_error
    assert "x" in s.virt.mapper.controls  # built-in defaults in use
    s.learn.start("y")
    s.queue.append((s.virt, cc(90, 1)))
    s.drain()
    clock.t += 0.35
    s.learn.poll()
    assert s.learn.state.phase is LearnPhase.DONE and not s.learn.state.saved
    assert "malformed" in s.learn.state.error
    assert path.read_text() == bad  # the user's file is left alone
    # fixed by hand: picked up by the file check; broken again: the good mapping stays
    path.write_text(bad.replace("300", "17"))
    s._check_file()
    assert s.map_error == ""
    assert s.map.bindings_for("floweq-tui")[0].number == 17
    path.write_text(bad.replace("300", "17") + "garbage here\n")
    s.map_mtime = -1.0
    s._check_file()
    assert ":7: " in s.map_error
    assert s.map.bindings_for("floweq-tui")[0].number == 17


def test_commands(svc, tmp_path):
    assert ask(svc, "defaults").data["table"][0]["source"] == "cc 16 ch1"
    r = ask(svc, "bindings").data
    assert r["controller"] == "floweq-tui" and not r["custom"]
    new = [{"control": "x", "type": "cc", "number": 1, "channel": None}]
    assert ask(svc, "set_bindings", bindings=new).data["saved"]
    assert svc.virt.mapper.controls == ["x"]
    assert ask(svc, "bindings").data["custom"]
    out = tmp_path / "export.toml"
    assert ask(svc, "export", path=str(out)).data == str(out)
    assert ask(svc, "reset_bindings").data["saved"]
    assert "y" in svc.virt.mapper.controls
    assert ask(svc, "import", path=str(out)).data["controllers"] == ["floweq-tui"]
    assert svc.virt.mapper.controls == ["x"]
    assert not ask(svc, "nope").ok
    st = ask(svc, "status").data
    assert st.virtual.controller == "floweq-tui" and "x" in st.knobs


def test_one_bad_binding_is_dropped_the_rest_kept(tmp_path):
    """A midi.toml with one binding on channel 17: only that binding is dropped (named with
    its line), the controller's valid bindings drive it, and the file is never rewritten."""
    path = tmp_path / "midi.toml"
    head = '[[controllers."floweq-tui".bindings]]\n'
    text = "version = 1\n" + head + 'control = "x"\ntype = "cc"\nnumber = 1\nchannel = 1\n'
    text += head + 'control = "y"\ntype = "cc"\nnumber = 2\nchannel = 17\n'  # line 7
    path.write_text(text)
    clock = Clock()
    s = MidiService(CONTROL_DEFAULTS.copy(), {"midi_config": str(path)}, clock=clock)
    assert s.map_error.startswith(f"{path}:7: controller 'floweq-tui' binding 2: channel")
    assert "17" in s.map_error and "kept the valid bindings" in s.map_error
    st = s.status()
    assert st.mapping_line == 7 and st.mapping_errors == (s.map_error.split(";")[0],)
    assert s.virt.mapper.controls == ["x"]  # not the defaults: the valid binding
    s.queue.extend((s.virt, cc(1, v)) for v in (63, 64, 127))  # picked up at 0, then up
    s.drain()
    assert s.ctl[CONTROL_INDEX["x"]] == 2.0
    s.learn.start("z")  # learn works in memory; the file is kept as the user wrote it
    s.queue.append((s.virt, cc(90, 1)))
    s.drain()
    clock.t += 0.35
    s.learn.poll()
    assert s.learn.state.phase is LearnPhase.DONE and not s.learn.state.saved
    assert path.read_text() == text


def test_alsa_input_wakes_the_service_from_its_own_thread(svc):
    """ALSA input arrives on rtmidi's input thread: into the inbox, and a sleeping service is
    woken through the pipe (one byte); an awake one is not written to."""
    import select
    import threading

    class RtIn(FakePort):
        def set_callback(self, fn) -> None:
            self.fn = fn

        def cancel_callback(self) -> None:
            self.fn = None

    from floweq_tui.midi.links import AlsaInput

    rt = RtIn()
    svc.hw.in_port = AlsaInput(rt, svc.hw, svc.links)
    assert svc.links.arm()  # nothing waiting: may sleep
    t = threading.Thread(target=rt.fn, args=(([0xB0, 17, 127], 0.0),))
    t.start()
    ready = select.select(svc.links.wake_fds(), [], [], 5)[0]
    t.join()
    assert ready, "not woken"
    svc.links.woke([(fd, select.POLLIN) for fd in ready])
    rt.fn(([0xB0, 17, 0], 0.0))  # awake: queued only
    assert not svc.links.arm()  # input waits: do not sleep
    assert svc.drain() == 2 and len(svc.queue) == 0
    svc.hw.close_input(LinkState.CLOSED)
    assert rt.fn is None


def test_a_learned_button_toggles_ab_and_another_copies(svc, tmp_path):
    """A/B from MIDI alone: a button learned on "A/B slot" swaps the slots (the sound
    controls with their twins, floweq_tui/ab.py), one on "A/B copy to other" copies."""
    from floweq_tui.controls import Controls

    c = Controls(svc.ctl)
    c.update({"mode": 2, "p0": 6.0})
    for control, number in (("ab_slot", 50), ("ab_copy", 51)):
        svc.learn.start(control)
        svc.queue.append((svc.virt, cc(number, 127)))
        svc.queue.append((svc.virt, cc(number, 0)))
        svc.drain()
        svc.clock_.t += 0.35
        svc.learn.poll()
        assert svc.learn.state.phase is LearnPhase.DONE, control

    def press(number: int) -> None:
        svc.queue.append((svc.virt, cc(number, 127)))
        svc.drain()
        svc.queue.append((svc.virt, cc(number, 0)))
        svc.drain()

    press(50)  # arms A/B (B = a copy of A) and hears B
    assert c["ab_on"] == 1 and c["ab_slot"] == 1 and c["ab_p0"] == 6.0
    c["p0"] = -6.0  # B edited
    press(50)
    assert c["ab_slot"] == 0 and c["p0"] == 6.0 and c["ab_p0"] == -6.0
    press(51)  # A copied to B
    assert c["ab_p0"] == 6.0 and c["ab_slot"] == 0 and c["ab_copy"] == 0
