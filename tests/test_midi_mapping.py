"""MIDI mapping, pure: encodings, 14-bit, NRPN, buttons, soft takeover, feedback, learn."""

from __future__ import annotations

import mido
import pytest

from floweq_tui.controls import CONTROL_DEFAULTS, CONTROL_INDEX, CONTROL_SPECS
from floweq_tui.midi.mapping import (
    DEFAULT_KNOBS,
    ENCODINGS,
    LEARN_ENOUGH,
    Binding,
    Event,
    Learner,
    Mapper,
    MappingError,
    conflicts,
    default_bindings,
    default_mapping_table,
    encode_relative,
    event_from_bytes,
    event_from_mido,
    guess_encoding,
    relative_ticks,
    with_binding,
)
from floweq_tui.midi.state import KnobInfo


class Values(dict):
    """Controls as a dict, defaults for the rest; ``apply`` takes a mapper's writes."""

    def __init__(self, **kw: float) -> None:
        super().__init__({s.name: float(CONTROL_DEFAULTS[i]) for i, s in enumerate(CONTROL_SPECS)})
        self.update(kw)

    def get_(self, name: str) -> float:
        return self[name]

    def feed(self, mapper: Mapper, *events: Event) -> list[tuple[str, float]]:
        out = []
        for ev in events:
            writes = mapper.feed(ev, self.get_)
            for k, v in writes:
                self[k] = v
            out += writes
        return out


def cc(n: int, v: int, ch: int = 1) -> Event:
    return Event("cc", ch, n, v)


# ------------------------------------------------------------------ events


def test_events_from_mido_and_bytes():
    assert event_from_mido(mido.Message("control_change", channel=2, control=7, value=9)) == cc(
        7, 9, 3
    )
    assert event_from_mido(mido.Message("note_on", note=36, velocity=0)) == Event("note", 1, 36, 0)
    assert event_from_mido(mido.Message("note_off", note=36, velocity=64)).value == 0
    for other in (
        mido.Message("clock"),
        mido.Message("sysex", data=[1, 2, 3]),
        mido.Message("active_sensing"),
        mido.Message("pitchwheel", pitch=1000),
        mido.Message("aftertouch", value=3),
        None,
        object(),
    ):
        assert event_from_mido(other) is None
    # Program Change recalls presets (docs/presets.md)
    assert event_from_mido(mido.Message("program_change", program=3)) == Event("pc", 1, 3, 0)
    assert event_from_bytes([0xB0, 16, 64]) == cc(16, 64)
    assert event_from_bytes([0x80, 36, 64]) == Event("note", 1, 36, 0)
    for garbage in ([], [0xB0], [0xB0, 200, 1], [0x10, 1, 2], [0xF8], [0xF0, 1, 2, 0xF7],
                    "abc", None, [0xB0, 1.5, 2], [0xE0, 0, 64], [0xC0, 1, 0]):  # fmt: skip
        assert event_from_bytes(garbage) is None


# ------------------------------------------------------------------ absolute and ranges


def test_absolute_7bit_range_and_invert():
    m = Mapper([Binding("strength", number=20, channel=1, takeover=False)])
    vals = Values()
    assert vals.feed(m, cc(20, 0)) == [("strength", 0.0)]
    assert vals.feed(m, cc(20, 127)) == [("strength", 1.0)]
    assert vals.feed(m, cc(20, 127, ch=2)) == []  # other channel
    inv = Mapper([Binding("x", number=1, min=-1.0, max=1.0, invert=True, takeover=False)])
    assert vals.feed(inv, cc(1, 0, ch=9)) == [("x", 1.0)]  # any channel
    assert vals.feed(inv, cc(1, 127)) == [("x", -1.0)]


def test_absolute_enum_rounds():
    m = Mapper([Binding("mode", number=5)])
    vals = Values()
    assert vals.feed(m, cc(5, 127)) == [("mode", 2.0)]
    assert vals.feed(m, cc(5, 40)) == [("mode", 1.0)]


def test_cc14_msb_then_lsb():
    m = Mapper([Binding("x", "cc14", 3, 1, takeover=False)])
    vals = Values()
    w = vals.feed(m, cc(3, 64))  # MSB alone: LSB taken as 0
    assert w == [("x", pytest.approx(-2 + 4 * (64 << 7) / 16383))]
    w = vals.feed(m, cc(35, 127))  # its LSB refines
    assert w == [("x", pytest.approx(-2 + 4 * ((64 << 7) | 127) / 16383))]
    vals.feed(m, cc(3, 127), cc(35, 127))
    assert vals["x"] == 2.0
    vals.feed(m, cc(3, 0), cc(35, 0))
    assert vals["x"] == -2.0
    # an LSB with no MSB yet on another channel does nothing
    assert vals.feed(m, cc(35, 5, ch=2)) == []


def test_cc14_lsb_before_any_msb_is_ignored():
    m = Mapper([Binding("x", "cc14", 3, None, takeover=False)])
    assert Values().feed(m, cc(35, 100)) == []


def test_nrpn_data_entry_and_increment():
    b = Binding("y", "nrpn", (2 << 7) | 5, 1, takeover=False, step=0.25)
    m = Mapper([b])
    vals = Values()
    assert vals.feed(m, cc(99, 2), cc(98, 5)) == []
    w = vals.feed(m, cc(6, 127), cc(38, 127))
    assert w[-1] == ("y", 2.0)
    vals.feed(m, cc(6, 0), cc(38, 0))
    assert vals["y"] == -2.0
    vals.feed(m, cc(96, 1))  # increment: one step (a quarter of the range)
    assert vals["y"] == pytest.approx(-1.0)
    vals.feed(m, cc(97, 0))  # decrement (a data byte of 0 still counts one)
    assert vals["y"] == pytest.approx(-2.0)
    # another parameter selected: data entry goes elsewhere
    assert vals.feed(m, cc(99, 2), cc(98, 6), cc(6, 64)) == []
    # an RPN selection deselects the NRPN, so data entry does not reach it
    vals.feed(m, cc(99, 2), cc(98, 5))
    assert vals.feed(m, cc(101, 0), cc(100, 0), cc(6, 64)) == []


def test_nrpn_does_not_leak_into_plain_cc6():
    m = Mapper([Binding("x", "nrpn", 1, takeover=False), Binding("y", "cc", 6, takeover=False)])
    vals = Values()
    w = vals.feed(m, cc(99, 0), cc(98, 1), cc(6, 127))
    assert [c for c, _ in w] == ["x"]
    # without an NRPN selected, CC 6 is an ordinary CC
    m2 = Mapper([Binding("y", "cc", 6, takeover=False)])
    assert Values().feed(m2, cc(6, 127)) == [("y", 2.0)]


@pytest.mark.parametrize("encoding", ENCODINGS[1:])
def test_relative_encodings_roundtrip_and_step(encoding):
    for ticks in (1, 2, 5, 63, -1, -2, -5, -63):
        assert relative_ticks(encoding, encode_relative(encoding, ticks)) == ticks
    m = Mapper([Binding("x", number=10, encoding=encoding, step=0.05)])
    vals = Values(x=0.0)
    vals.feed(m, cc(10, encode_relative(encoding, 1)))
    assert vals["x"] == pytest.approx(0.2)  # 0.05 of the 4-wide range
    vals.feed(m, cc(10, encode_relative(encoding, -3)))
    assert vals["x"] == pytest.approx(-0.4)
    for _ in range(100):
        vals.feed(m, cc(10, encode_relative(encoding, 5)))
    assert vals["x"] == 2.0  # clamped at the top


def test_relative_known_values():
    assert relative_ticks("relative_twos", 127) == -1
    assert relative_ticks("relative_twos", 65) == -63
    assert relative_ticks("relative_binary_offset", 63) == -1
    assert relative_ticks("relative_binary_offset", 65) == 1
    assert relative_ticks("relative_sign_magnitude", 65) == -1
    assert relative_ticks("relative_sign_magnitude", 1) == 1
    assert relative_ticks("relative_binary_offset", 64) == 0


def test_relative_batch_accumulates():
    """Ticks in one batch add up (each reads the value the previous one wrote)."""
    m = Mapper([Binding("strength", number=10, encoding="relative_twos", step=0.1)])
    vals = Values(strength=0.0)
    vals.feed(m, *[cc(10, 1)] * 5)
    assert vals["strength"] == pytest.approx(0.5)


def test_relative_on_choice_moves_whole_steps():
    m = Mapper([Binding("mode", number=10, encoding="relative_binary_offset", step=0.01)])
    vals = Values(mode=0)
    vals.feed(m, cc(10, 65))
    assert vals["mode"] == 1
    vals.feed(m, cc(10, 63))
    assert vals["mode"] == 0


# ------------------------------------------------------------------ buttons


def test_note_toggle_and_momentary():
    m = Mapper([Binding("bypass", "note", 38, 10), Binding("mute", "note", 39, 10,
                                                           button="momentary")])  # fmt: skip
    vals = Values()
    vals.feed(m, Event("note", 10, 38, 100))
    assert vals["bypass"] == 1
    vals.feed(m, Event("note", 10, 38, 0))  # release: nothing for a toggle
    assert vals["bypass"] == 1
    vals.feed(m, Event("note", 10, 38, 1))
    assert vals["bypass"] == 0
    vals.feed(m, Event("note", 10, 39, 127))
    assert vals["mute"] == 1
    vals.feed(m, Event("note", 10, 39, 0))
    assert vals["mute"] == 0
    assert vals.feed(m, Event("note", 1, 38, 127)) == []  # channel 1: not ours


def test_cc_buttons_cycle_choices():
    m = Mapper(
        [Binding("mode", number=32, button="toggle"), Binding("model", number=33, button="toggle")],
        model_count=3,
    )
    vals = Values(mode=0, model=0)
    seen = []
    for _ in range(4):
        vals.feed(m, cc(32, 127), cc(32, 0))
        seen.append(vals["mode"])
    assert seen == [1, 2, 0, 1]
    models = []
    for _ in range(4):
        vals.feed(m, cc(33, 127), cc(33, 0))
        models.append(vals["model"])
    assert models == [1, 2, 0, 1]  # wraps at the number of models, not at 63


def test_button_on_continuous_control_flips_between_ends():
    m = Mapper([Binding("strength", "note", 50)])
    vals = Values(strength=0.7)
    vals.feed(m, Event("note", 1, 50, 127))
    assert vals["strength"] == 0.0
    vals.feed(m, Event("note", 1, 50, 127))
    assert vals["strength"] == 1.0


# ------------------------------------------------------------------ soft takeover


def test_soft_takeover_waits_for_the_knob_to_cross():
    m = Mapper([Binding("x", number=16, channel=1)])
    vals = Values(x=1.0)  # set elsewhere; the knob is at 0 (-2)
    assert vals.feed(m, cc(16, 0)) == []
    assert m.knobs(vals.get_)["x"] == KnobInfo(
        knob=-2.0, value=1.0, picked_up=False, source="cc 16 ch1"
    )
    assert vals.feed(m, cc(16, 40), cc(16, 80)) == []  # -0.74, 0.52: still below 1.0
    assert vals.feed(m, cc(16, 100)) == [("x", pytest.approx(-2 + 4 * 100 / 127))]  # crossed
    assert m.knobs(vals.get_)["x"].picked_up
    vals.feed(m, cc(16, 20))  # picked: follows at once
    assert vals["x"] == pytest.approx(-2 + 4 * 20 / 127)
    # the value changes elsewhere: the knob lets go until it crosses again
    vals["x"] = 1.5
    m.external_change("x")
    assert vals.feed(m, cc(16, 21)) == []
    assert not m.knobs(vals.get_)["x"].picked_up
    assert vals.feed(m, cc(16, 127))  # passes 1.5 on the way up
    assert vals["x"] == 2.0


def test_soft_takeover_from_above_and_within_tolerance():
    m = Mapper([Binding("strength", number=20)])
    vals = Values(strength=0.5)
    assert vals.feed(m, cc(20, 127), cc(20, 100)) == []
    assert vals.feed(m, cc(20, 60))  # passed 0.5 going down
    m.external_change("strength")
    vals["strength"] = 0.3
    assert vals.feed(m, cc(20, round(0.3 * 127) + 1))  # first move lands within tolerance


def test_takeover_off_and_for_choices():
    m = Mapper([Binding("x", number=16, takeover=False), Binding("mode", number=17)])
    vals = Values(x=1.0)
    assert vals.feed(m, cc(16, 0)) == [("x", -2.0)]
    assert vals.feed(m, cc(17, 127)) == [("mode", 2.0)]  # choices never wait


def test_takeover_value_outside_binding_range_picks_up_at_the_edge():
    m = Mapper([Binding("x", number=16, min=-1.0, max=1.0)])
    vals = Values(x=2.0)
    assert vals.feed(m, cc(16, 60)) == []
    assert vals.feed(m, cc(16, 127)) == [("x", 1.0)]


def test_second_knob_on_same_control_lets_go():
    m = Mapper([Binding("x", number=16, takeover=True), Binding("x", number=70, takeover=True)])
    vals = Values(x=0.0)
    vals.feed(m, cc(16, 64))
    assert m.state[0].picked
    vals.feed(m, cc(70, 64), cc(70, 120))
    assert m.state[1].picked
    assert not m.state[0].picked  # knob 16 no longer holds the value knob 70 moved
    assert vals.feed(m, cc(16, 65)) == []


# ------------------------------------------------------------------ feedback


def test_feedback_scaled_and_deduplicated():
    m = Mapper(
        [
            Binding("x", number=16, channel=2),
            Binding("x", "cc14", 4, 1),
            Binding("y", "nrpn", 300, 3),
            Binding("bypass", "note", 38, 10),
            Binding("strength", number=20, invert=True),
        ]
    )
    msgs = m.feedback("x", 2.0)
    assert [0xB1, 16, 127] in msgs
    assert [0xB0, 4, 127] in msgs and [0xB0, 36, 127] in msgs
    assert m.feedback("x", 2.0) == []  # nothing changed: nothing sent
    assert m.feedback("x", 0.0)[0] == [0xB1, 16, 64]
    assert m.feedback("y", -2.0) == [[0xB2, 99, 2], [0xB2, 98, 44], [0xB2, 6, 0], [0xB2, 38, 0]]
    assert m.feedback("bypass", 1.0) == [[0x99, 38, 127]]
    assert m.feedback("bypass", 0.0) == [[0x99, 38, 0]]
    assert m.feedback("strength", 1.0) == [[0xB0, 20, 0]]  # inverted


def test_feedback_never_echoes_what_came_in():
    m = Mapper([Binding("x", number=16, takeover=False)])
    vals = Values()
    vals.feed(m, cc(16, 99))
    assert m.feedback("x", vals["x"]) == []


# ------------------------------------------------------------------ defaults


def test_default_mapping():
    bs = default_bindings()
    knobs = {b.number: b.control for b in bs if b.type == "cc" and not b.is_button}
    assert knobs == dict(DEFAULT_KNOBS)
    assert set(knobs) == set(range(16, 24))
    assert [knobs[n] for n in range(16, 23)] == [
        "x", "y", "z", "interpolate", "strength", "in_gain", "out_gain"
    ]  # fmt: skip
    assert all(b.channel == 1 for b in bs if b.type == "cc")
    buttons = {b.control for b in bs if b.is_button}
    assert {"mode", "model", "bypass", "mute"} <= buttons
    assert all(b.channel == 10 for b in bs if b.type == "note")
    for a in bs:  # no message drives two controls
        assert not conflicts([x for x in bs if x is not a], a)
    table = default_mapping_table()
    assert table[0] == {"control": "x", "label": "x", "source": "cc 16 ch1"}
    assert {r["control"] for r in table} == {b.control for b in bs}
    m = Mapper(bs)
    vals = Values(x=0.0)
    vals.feed(m, cc(16, 60), cc(16, 70))  # crosses 0
    assert vals["x"] == pytest.approx(-2 + 4 * 70 / 127)
    vals.feed(m, Event("note", 10, 38, 127))
    assert vals["bypass"] == 1


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"control": "nope"}, "no control named"),
        ({"control": "x", "type": "pc"}, "type must be"),
        ({"control": "x", "number": 128}, "0-127"),
        ({"control": "x", "type": "cc14", "number": 32}, "0-31"),
        ({"control": "x", "channel": 17}, "channel"),
        ({"control": "x", "encoding": "weird"}, "encoding"),
        ({"control": "x", "type": "note", "encoding": "relative_twos"}, "relative"),
        ({"control": "x", "min": 5.0}, "outside"),
        ({"control": "x", "step": 0}, "step"),
        ({"control": "x", "button": "latch"}, "button"),
        ({"control": "x", "invert": "yes"}, "invert"),
        ({"control": "x", "number": "16"}, "integer"),
    ],
)
def test_binding_validation(kw, why):
    with pytest.raises(MappingError, match=why):
        Binding(**kw)


def test_binding_dict_roundtrip():
    b = Binding("y", "cc14", 7, None, min=-1.0, max=1.0, invert=True)
    d = b.to_dict()
    assert d == {"control": "y", "type": "cc14", "number": 7, "channel": None,
                 "min": -1.0, "max": 1.0, "invert": True}  # fmt: skip
    assert Binding.from_dict(d) == b
    assert Binding.from_dict({**d, "channel": "any"}) == b
    with pytest.raises(MappingError, match="unknown key 'colour'"):
        Binding.from_dict({**d, "colour": 1})


# ------------------------------------------------------------------ learn and conflicts


def test_learn_cc_waits_for_lsb_then_7bit():
    lr = Learner("x", now=0.0)
    assert lr.feed(cc(16, 10, ch=3), 0.01) is None
    assert lr.feed(cc(16, 11, ch=3), 0.05) is None  # same knob, still deciding
    assert lr.poll(0.2) is None
    b = lr.poll(0.35)
    assert b == Binding("x", "cc", 16, 3)


def test_learn_cc14_nrpn_note_and_high_cc():
    lr = Learner("y", 0.0)
    lr.feed(cc(5, 10), 0.0)
    assert lr.feed(cc(37, 3), 0.01) == Binding("y", "cc14", 5, 1)
    lr = Learner("y", 0.0)
    assert lr.feed(cc(99, 1), 0.0) is None
    assert lr.feed(cc(98, 2), 0.0) is None
    assert lr.feed(cc(6, 64), 0.0) == Binding("y", "nrpn", 130, 1)
    lr = Learner("y", 0)
    assert lr.feed(cc(74, 3, ch=2), 0) is None  # listening to the knob for a moment
    assert lr.poll(0.5) == Binding("y", "cc", 74, 2)
    assert Learner("bypass", 0).feed(Event("note", 10, 40, 90), 0) == Binding(
        "bypass", "note", 40, 10
    )
    assert Learner("bypass", 0).feed(Event("note", 10, 40, 0), 0) is None  # a release
    # a CC for an on/off control is a CC button, no waiting for an LSB
    assert Learner("mute", 0).feed(cc(3, 127), 0) == Binding("mute", "cc", 3, 1, button="toggle")
    # data entry without an NRPN selected is not a source
    assert Learner("y", 0).feed(cc(6, 3), 0) is None
    # another CC while waiting decides the first as 7-bit
    lr = Learner("y", 0.0)
    lr.feed(cc(16, 1), 0.0)
    assert lr.feed(cc(17, 1), 0.01) == Binding("y", "cc", 16, 1)
    with pytest.raises(MappingError):
        Learner("nope", 0)


ENCODINGS_REL = ["relative_twos", "relative_binary_offset", "relative_sign_magnitude"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([10, 11, 12, 14, 15], ("absolute", True)),  # an absolute knob never repeats
        ([3, 2, 1, 0], ("absolute", True)),
        ([64, 64, 64], ("absolute", True)),  # zero ticks say nothing
        ([100, 100], ("absolute", True)),  # 100 is no small tick in any encoding
        ([1], ("absolute", False)),  # one message: cannot tell
        ([127, 127, 126], ("relative_twos", True)),
        ([1, 1, 127, 127], ("relative_twos", True)),
        ([63, 63, 62], ("relative_binary_offset", True)),
        ([65, 65, 63], ("relative_binary_offset", True)),
        ([1, 1, 65, 65], ("relative_sign_magnitude", True)),
        ([1, 1, 2], ("relative_twos", False)),  # clockwise: two's complement or sign-mag
        ([65, 65], ("relative_binary_offset", False)),  # offset up or sign-mag down
    ],
)
def test_guess_encoding(values, expected):
    assert guess_encoding(values) == expected


@pytest.mark.parametrize("encoding", ENCODINGS_REL)
def test_learn_recognises_every_relative_encoding(encoding):
    """Turning an encoder a few clicks each way during learn gives the right encoding."""
    ticks = [1, 1, 1, 2, -1, -1, -1]
    lr, t, got = Learner("x", 0.0), 0.0, None
    for k in ticks:
        t += 0.03
        got = got or lr.feed(cc(20, encode_relative(encoding, k)), t)
    got = got or lr.poll(t + 0.01)
    assert got == Binding("x", "cc", 20, 1, encoding=encoding)
    assert (
        got.source()
        == "cc 20 ch1 "
        + {
            "relative_twos": "rel 2s",
            "relative_binary_offset": "rel offset",
            "relative_sign_magnitude": "rel sign",
        }[encoding]
    )


def test_learn_ambiguous_encoder_waits_for_the_other_direction():
    lr = Learner("x", 0.0)
    for i in range(4):
        assert lr.feed(cc(20, 65), 0.02 * i) is None  # offset +1, or sign-magnitude -1
    assert lr.poll(0.5) is None and "other way" in (lr.hint or "")
    # turned the other way: 1 next to 65 is sign-magnitude
    b = lr.feed(cc(20, 1), 0.6)
    assert b is not None and b.encoding == "relative_sign_magnitude" and lr.hint is None
    # nobody turns it back: after the confirm time the common reading wins
    lr = Learner("x", 0.0)
    for i in range(3):
        lr.feed(cc(20, 65), 0.02 * i)
    assert lr.poll(1.0) is None
    assert lr.poll(2.0) == Binding("x", "cc", 20, 1, encoding="relative_binary_offset")


def test_learn_absolute_knob_is_decided_early_when_it_keeps_moving():
    lr = Learner("strength", 0.0)
    got = None
    for i, v in enumerate(range(40, 40 + LEARN_ENOUGH)):
        got = lr.feed(cc(70, v), 0.01 * i)
        assert got is None or i == LEARN_ENOUGH - 1
    assert got == Binding("strength", "cc", 70, 1)


def test_conflicts_and_replacement():
    bs = default_bindings()
    new = Binding("y", "cc", 16, 1)
    clash = conflicts(bs, new)
    assert [c.control for c in clash] == ["x"]
    assert not conflicts(bs, Binding("y", "cc", 16, 2))  # other channel
    assert [c.control for c in conflicts(bs, Binding("y", "cc", 16, None))] == ["x"]  # any
    assert [c.control for c in conflicts(bs, Binding("y", "cc14", 0, 1))] == ["mode"]  # 0+32
    assert not conflicts(bs, Binding("x", "cc", 16, 1))  # re-learning the same control
    replaced = with_binding(bs, new)
    assert [b.control for b in replaced if b.type == "cc" and b.number == 16] == ["y"]
    assert len(replaced) == len(bs)
    assert CONTROL_INDEX["y"] >= 0
