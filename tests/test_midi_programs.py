"""Program Change with Bank Select recalls presets through the bank file; the preset buttons;
the program sent back; Bank Select LSB (CC 32) never also presses the default Mode button."""

from __future__ import annotations

import pytest
from test_midi_service import Clock, FakePort

from floweq_tui import presets
from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX, CONTROL_SPECS
from floweq_tui.midi.mapping import Binding, Event, Mapper, default_bindings, event_from_bytes
from floweq_tui.midi.service import MidiService


def cc(n: int, v: int, ch: int = 1) -> Event:
    return Event("cc", ch, n, v)


def pc(n: int, ch: int = 1) -> Event:
    return Event("pc", ch, n, 0)


def _defaults(**over: float) -> dict[str, float]:
    c = {s.name: float(s.default) for s in CONTROL_SPECS}
    c.update(over)
    return c


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name, x in (("alpha", -1.5), ("beta", 0.5), ("gamma", 1.25)):
        presets.save(presets.Preset.from_controls(name, _defaults(x=x, y=x / 2), [], []))
    return tmp_path


@pytest.fixture
def svc(data):
    s = MidiService(CONTROL_DEFAULTS.copy(), {"midi_config": str(data / "midi.toml")}, Clock())
    s.virt.out_port = FakePort()
    return s


def value(s: MidiService, name: str) -> float:
    return float(s.ctl[CONTROL_INDEX[name]])


def feed(s: MidiService, *events: Event) -> None:
    for ev in events:
        s.queue.append((s.virt, ev))
    s.drain()


# ----------------------------------------------------------------- decoding


def test_program_change_bytes_and_bank_numbers() -> None:
    assert event_from_bytes([0xC2, 7]) == Event("pc", 3, 7, 0)
    assert event_from_bytes([0xC0, 200]) is None
    m = Mapper(default_bindings())
    get = {s.name: float(s.default) for s in CONTROL_SPECS}.__getitem__
    assert m.feed(pc(5), get) == [("program", 5.0)]
    assert m.feed(cc(0, 1), get) == [] and m.feed(cc(32, 2), get) == []
    assert m.feed(pc(5), get) == [("program", float((1 * 128 + 2) * 128 + 5))]
    # the bank holds per channel until changed
    assert m.feed(pc(6), get) == [("program", float((1 * 128 + 2) * 128 + 6))]
    assert m.feed(pc(6, ch=2), get) == [("program", 6.0)]


def test_bank_lsb_after_msb_is_not_the_mode_button() -> None:
    """The default mapping has Mode on CC 32 (nanoKONTROL2's S buttons): MSB, LSB, program
    from a controller changes the bank only; a press of the button alone still toggles."""
    m = Mapper(default_bindings())
    get = {s.name: float(s.default) for s in CONTROL_SPECS}.__getitem__
    writes = m.feed(cc(0, 0), get) + m.feed(cc(32, 127), get) + m.feed(pc(3), get)
    assert writes == [("program", float(127 * 128 + 3))]
    assert m.feed(cc(32, 127), get) == [("mode", 1.0)]  # the S1 button, alone
    assert m.feed(cc(32, 0), get) == []  # its release
    # a 14-bit knob on CC 0/32 keeps both bytes
    m14 = Mapper([Binding("x", "cc14", 0, 1, takeover=False)])
    m14.feed(cc(0, 127), get)
    assert m14.feed(cc(32, 127), get) == [("x", 2.0)]


# ----------------------------------------------------------------- the service


def test_program_change_recalls_through_the_implicit_bank(svc) -> None:
    feed(svc, pc(1))  # no bank file: every preset in name order
    assert value(svc, "x") == 0.5 and value(svc, "program") == 1
    assert value(svc, "morph_seq") == 1  # through the engine's morph
    assert svc.last_message == "program 1: preset 'beta'"
    feed(svc, pc(9))
    assert svc.last_message == "program 9: no preset there" and value(svc, "x") == 0.5


def test_bank_file_and_feedback_and_no_mode_switch(svc, data) -> None:
    presets.save_bank(presets.Bank({presets.program_number(1, 3): "gamma", 0: "alpha"}))
    text = (data / "data" / "floweq-tui" / "bank.toml").read_text()
    assert '[bank.1]\n3 = "gamma"' in text
    out = svc.virt.out_port.sent
    svc.feedback()
    out.clear()
    mode = value(svc, "mode")
    feed(svc, cc(0, 0), cc(32, 1), pc(3))
    assert value(svc, "x") == 1.25 and value(svc, "mode") == mode
    assert value(svc, "program") == 131
    svc.feedback()
    assert out[:3] == [[0xB0, 0, 0], [0xB0, 32, 1], [0xC3 & 0xF0, 3]]
    assert [0xB0, 16, round((1.25 + 2) / 4 * 127)] in out  # the x knob's LED follows
    out.clear()
    feed(svc, cc(0, 0), cc(32, 0), pc(0, ch=4))  # bank 0: only the program goes back
    svc.feedback()
    assert value(svc, "x") == -1.5 and out[0] == [0xC3, 0]


def test_bad_bank_file_is_reported_and_kept(svc, data) -> None:
    path = data / "data" / "floweq-tui" / "bank.toml"
    path.write_text('version = 1\n[bank.0]\n0 = "alpha"\n200 = "beta"\n')
    feed(svc, pc(2))  # the implicit bank is used meanwhile
    assert value(svc, "x") == 1.25
    bank = presets.load_bank()
    assert bank.notice.startswith(f"{path}:4: [bank.0] program '200' must be a number 0-127")
    with pytest.raises(presets.PresetError, match="not replaced"):
        presets.save_bank(bank)
    assert path.read_text().endswith('200 = "beta"\n')


def test_next_previous_and_save_here_are_learnable_buttons(svc, data) -> None:
    for control, number in (("preset_next", 50), ("preset_prev", 51), ("preset_save", 52)):
        st = svc.learn_start(control)
        feed(svc, cc(number, 127))
        assert svc.learn.state.binding is not None, st
        feed(svc, cc(number, 0))
    names = [b.control for b in svc.virt.mapper.bindings]
    assert {"preset_next", "preset_prev", "preset_save"} <= set(names)
    feed(svc, cc(50, 127))  # from no program: the first
    assert value(svc, "program") == 0 and value(svc, "x") == -1.5
    feed(svc, cc(50, 0), cc(50, 127), cc(50, 0))
    assert value(svc, "program") == 1 and value(svc, "x") == 0.5
    feed(svc, cc(51, 127), cc(51, 0), cc(51, 127))
    assert value(svc, "program") == 2  # wrapped back around
    assert value(svc, "preset_next") == 0  # a button the service acts on, never stored
    # save here: the sound now, into the preset at the program in use
    svc.ctl[CONTROL_INDEX["x"]] = -0.75
    feed(svc, cc(52, 127))
    assert presets.load("gamma").values["x"] == -0.75
    assert svc.last_message == "saved preset 'gamma' at program 2"
    # at a number with no preset: a new one, and the bank file holds it from now on
    feed(svc, cc(0, 0), cc(32, 0), pc(7))
    feed(svc, cc(52, 0), cc(52, 127))
    assert presets.load("program 7").values["x"] == -0.75
    assert presets.load_bank().explicit and presets.load_bank().programs[7] == "program 7"


def test_headless_line_names_the_preset_and_a_bad_bank(data) -> None:
    from floweq_tui.headless import program_line

    assert program_line(1) == "program 1: preset 'beta'"
    path = data / "data" / "floweq-tui" / "bank.toml"
    path.write_text("version = 1\n[bank.0]\n0 = 5\n")
    line = program_line(0)
    assert line.startswith(f"program 0: preset 'alpha' ({path}:3: [bank.0] program 0: give")
