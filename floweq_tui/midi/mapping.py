"""MIDI mapping, pure: bindings, decoding (7/14-bit, NRPN, relative, buttons), soft takeover,
feedback encoding and learn. No ports, no processes, no clocks (time is passed in).

A message enters as an :class:`Event` (``kind`` "cc" or "note", channel 1-16, number, value;
a note off is a note with value 0). :meth:`Mapper.feed` turns it into control writes; the
caller collapses writes per control and applies them to the shared controls block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

from ..controls import CONTROL_INDEX, CONTROL_SPECS, clamp_control
from .state import KnobInfo

TYPES = ("cc", "cc14", "nrpn", "note")
ENCODINGS = (
    "absolute",
    "relative_twos",
    "relative_binary_offset",
    "relative_sign_magnitude",
)
ENCODING_LABELS = {
    "relative_twos": "rel 2s",
    "relative_binary_offset": "rel offset",
    "relative_sign_magnitude": "rel sign",
}
"""Short names of the relative encodings, as :meth:`Binding.source` shows them."""
BUTTONS = ("toggle", "momentary")
TAKEOVER_TOLERANCE = 3 / 127
"""A knob within this fraction of its range of the value picks it up (about 3 steps of 7 bits)."""

# NRPN / RPN controller numbers
CC_DATA_MSB, CC_DATA_LSB, CC_INC, CC_DEC = 6, 38, 96, 97
CC_NRPN_LSB, CC_NRPN_MSB, CC_RPN_LSB, CC_RPN_MSB = 98, 99, 100, 101
_NRPN_CCS = frozenset((CC_DATA_MSB, CC_DATA_LSB, CC_INC, CC_DEC, CC_NRPN_LSB, CC_NRPN_MSB))


class MappingError(ValueError):
    """A binding or mapping that is not valid (one-line message)."""


class Event(NamedTuple):
    """One channel message that can drive a control."""

    kind: str  # "cc", "note" or "pc" (Program Change)
    channel: int  # 1-16
    number: int  # 0-127 (pc: the program)
    value: int  # 0-127 (note: velocity, 0 = off; pc: 0)


CC_BANK_MSB, CC_BANK_LSB = 0, 32
PROGRAM = "program"
"""The control a Program Change writes: bank (MSB*128 + LSB) * 128 + program. The MIDI
process acts on it (recalls that preset) rather than only storing it."""


def event_from_mido(msg: Any) -> Event | None:
    """A mido message as an Event, or None for everything else (clock, sysex, bend...)."""
    t = getattr(msg, "type", None)
    try:
        if t == "control_change":
            return Event("cc", msg.channel + 1, msg.control, msg.value)
        if t == "note_on":
            return Event("note", msg.channel + 1, msg.note, msg.velocity)
        if t == "note_off":
            return Event("note", msg.channel + 1, msg.note, 0)
        if t == "program_change":
            return Event("pc", msg.channel + 1, msg.program, 0)
    except (AttributeError, TypeError):
        return None
    return None


def event_from_bytes(data: Iterable[int]) -> Event | None:
    """Raw MIDI bytes (one message) as an Event, or None if they are anything else or garbage."""
    try:
        b = list(data)
        if len(b) == 2 and all(isinstance(x, int) for x in b) and b[0] & 0xF0 == 0xC0:
            if 0xC0 <= b[0] <= 0xCF and 0 <= b[1] < 128:
                return Event("pc", (b[0] & 0x0F) + 1, b[1], 0)
            return None
        if len(b) != 3 or not all(isinstance(x, int) for x in b):
            return None
        status, d1, d2 = b
        if not 0x80 <= status <= 0xEF or not (0 <= d1 < 128 and 0 <= d2 < 128):
            return None
    except TypeError:
        return None
    kind, ch = status & 0xF0, (status & 0x0F) + 1
    if kind == 0xB0:
        return Event("cc", ch, d1, d2)
    if kind == 0x90:
        return Event("note", ch, d1, d2)
    if kind == 0x80:
        return Event("note", ch, d1, 0)
    return None


def _spec(control: str) -> Any:
    return CONTROL_SPECS[CONTROL_INDEX[control]]


def is_button_control(control: str) -> bool:
    """Controls driven by buttons by default (on/off and choices)."""
    return _spec(control).kind in ("bool", "enum", "int")


@dataclass
class Binding:
    """One MIDI source driving one control.

    ``channel`` is 1-16 or None (any). ``min``/``max`` are in control units (None: the
    control's own range); ``invert`` swaps the direction. ``step`` is the change per encoder
    tick (relative encodings, NRPN increment) as a fraction of min..max. ``button`` makes a
    cc or note a button ("toggle": each press flips on/off, or steps to the next choice for
    mode/model; "momentary": max while held); notes are always buttons (toggle by default).
    ``takeover``: soft takeover for absolute knobs on continuous controls.
    """

    control: str
    type: str = "cc"
    number: int = 0
    channel: int | None = None
    min: float | None = None
    max: float | None = None
    invert: bool = False
    encoding: str = "absolute"
    step: float = 0.01
    button: str | None = None
    takeover: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.control not in CONTROL_INDEX:
            raise MappingError(f"no control named {self.control!r}")
        if self.type not in TYPES:
            raise MappingError(f"type must be one of {', '.join(TYPES)}, not {self.type!r}")
        top = {"cc": 127, "cc14": 31, "nrpn": 16383, "note": 127}[self.type]
        if not isinstance(self.number, int) or isinstance(self.number, bool):
            raise MappingError(f"number must be an integer, not {self.number!r}")
        if not 0 <= self.number <= top:
            raise MappingError(f"{self.type} number must be 0-{top}, not {self.number}")
        if self.channel is not None and (
            not isinstance(self.channel, int)
            or isinstance(self.channel, bool)
            or not 1 <= self.channel <= 16
        ):
            raise MappingError(f"channel must be 1-16 or 'any', not {self.channel!r}")
        if self.encoding not in ENCODINGS:
            raise MappingError(
                f"encoding must be one of {', '.join(ENCODINGS)}, not {self.encoding!r}"
            )
        if self.encoding != "absolute" and self.type != "cc":
            raise MappingError("relative encodings apply to type 'cc' only")
        if self.button is not None and self.button not in BUTTONS:
            raise MappingError(f"button must be one of {', '.join(BUTTONS)}, not {self.button!r}")
        if self.button is not None and self.type not in ("cc", "note"):
            raise MappingError("buttons are type 'cc' or 'note'")
        spec = _spec(self.control)
        for name in ("min", "max"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise MappingError(f"{name} must be a number, not {v!r}")
            if not spec.min <= v <= spec.max:
                raise MappingError(
                    f"{name} {v} is outside {self.control}'s range {spec.min:g}..{spec.max:g}"
                )
            setattr(self, name, float(v))
        if isinstance(self.step, bool) or not isinstance(self.step, (int, float)):
            raise MappingError(f"step must be a number, not {self.step!r}")
        if not 0 < self.step <= 1:
            raise MappingError(f"step must be in (0, 1] (a fraction of the range), not {self.step}")
        self.step = float(self.step)
        for name in ("invert", "takeover"):
            if not isinstance(getattr(self, name), bool):
                raise MappingError(f"{name} must be true or false")

    # ------------------------------------------------------------ derived

    @property
    def lo(self) -> float:
        return _spec(self.control).min if self.min is None else self.min

    @property
    def hi(self) -> float:
        return _spec(self.control).max if self.max is None else self.max

    @property
    def is_button(self) -> bool:
        return self.type == "note" or self.button is not None

    @property
    def button_mode(self) -> str:
        return self.button or "toggle"

    @property
    def uses_takeover(self) -> bool:
        return (
            self.takeover
            and not self.is_button
            and self.encoding == "absolute"
            and _spec(self.control).kind == "float"
        )

    @property
    def max_raw(self) -> int:
        return 16383 if self.type in ("cc14", "nrpn") else 127

    def source(self) -> str:
        """'cc 16 ch1', 'note 36 any', 'cc 20 ch1 rel 2s', ... for display."""
        ch = "any" if self.channel is None else f"ch{self.channel}"
        rel = ENCODING_LABELS.get(self.encoding, "")
        return f"{self.type} {self.number} {ch}" + (f" {rel}" if rel else "")

    def overlaps(self, other: Binding) -> bool:
        """True if some message could drive both bindings."""
        if not (self.channel is None or other.channel is None or self.channel == other.channel):
            return False
        same = self.type == other.type and self.number == other.number
        return bool(self._cc_numbers() & other._cc_numbers()) or (
            same and self.type in ("nrpn", "note")
        )

    def _cc_numbers(self) -> set[int]:
        if self.type == "cc":
            return {self.number}
        if self.type == "cc14":
            return {self.number, self.number + 32}
        return set()

    def to_dict(self) -> dict[str, Any]:
        """Only what differs from the defaults, plus control/type/number/channel."""
        out: dict[str, Any] = {}
        defaults = Binding.__dataclass_fields__
        for k, v in asdict(self).items():
            if k in ("control", "type", "number", "channel") or v != defaults[k].default:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Binding:
        if not isinstance(d, dict):
            raise MappingError("a binding must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise MappingError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if "control" not in d:
            raise MappingError("a binding needs a control")
        d = dict(d)
        if d.get("channel") in ("any", "*", 0):
            d["channel"] = None
        try:
            return cls(**d)
        except TypeError as exc:
            raise MappingError(str(exc)) from None


def _b(control: str, type_: str, number: int, channel: int | None = 1, **kw: Any) -> Binding:
    return Binding(control=control, type=type_, number=number, channel=channel, **kw)


DEFAULT_KNOBS: tuple[tuple[int, str], ...] = (
    (16, "x"),
    (17, "y"),
    (18, "z"),
    (19, "interpolate"),
    (20, "strength"),
    (21, "in_gain"),
    (22, "out_gain"),
    (23, "glide_ms"),
)
DEFAULT_BUTTONS: tuple[tuple[int, int, str], ...] = (
    # (CC on channel 1 sending 127/0, note on channel 10 (pads), control)
    (32, 36, "mode"),
    (33, 37, "model"),
    (34, 38, "bypass"),
    (35, 39, "mute"),
    (36, 40, "extend"),
    (37, 41, "auto_gain"),
)


def default_bindings() -> list[Binding]:
    """The mapping for a generic 8-knob controller (see docs/midi.md for why these numbers).

    Knobs: CC 16-23 on channel 1 (absolute, soft takeover). Buttons: CC 32-37 on channel 1
    (127 pressed / 0 released) and pads sending notes 36-41 on channel 10, all toggles
    (mode and model step to the next choice).
    """
    out = [_b(c, "cc", n) for n, c in DEFAULT_KNOBS]
    for cc, note, c in DEFAULT_BUTTONS:
        out.append(_b(c, "cc", cc, button="toggle"))
        out.append(_b(c, "note", note, channel=10))
    return out


def default_mapping_table() -> list[dict[str, str]]:
    """The default mapping as rows for a UI or docs: control, label, source(s)."""
    rows: dict[str, list[str]] = {}
    for b in default_bindings():
        rows.setdefault(b.control, []).append(b.source())
    return [
        {"control": c, "label": _spec(c).label, "source": ", ".join(s)} for c, s in rows.items()
    ]


# =================================================================== decoding


def relative_ticks(encoding: str, value: int) -> int:
    """Encoder ticks (+ clockwise) from one relative CC value."""
    v = value & 0x7F
    if encoding == "relative_twos":  # 1..63 up, 127 = -1 .. 64 = -64
        return v - 128 if v >= 64 else v
    if encoding == "relative_binary_offset":  # 64 = 0, 65 = +1, 63 = -1
        return v - 64
    if encoding == "relative_sign_magnitude":  # bit 6 = negative (Mackie V-Pot), 1 = +1, 65 = -1
        return -(v & 0x3F) if v & 0x40 else v & 0x3F
    raise MappingError(f"not a relative encoding: {encoding!r}")


def encode_relative(encoding: str, ticks: int) -> int:
    """The CC value that carries ``ticks`` (inverse of :func:`relative_ticks`, for tests)."""
    ticks = max(-63, min(63, ticks))
    if encoding == "relative_twos":
        return ticks & 0x7F
    if encoding == "relative_binary_offset":
        return 64 + ticks
    if encoding == "relative_sign_magnitude":
        return (0x40 | -ticks) if ticks < 0 else ticks
    raise MappingError(f"not a relative encoding: {encoding!r}")


@dataclass
class KnobState:
    """Where an absolute knob is (control units) and whether it holds the value."""

    knob: float | None = None
    picked: bool = False
    sent: int | None = None  # last raw value sent as feedback (or received)


@dataclass
class _Channel14:
    msb: dict[int, int] = field(default_factory=dict)  # cc14: MSB per controller number
    nrpn: int | None = None  # selected NRPN parameter (MSB<<7 | LSB), None if RPN/none
    nrpn_msb: int | None = None
    nrpn_lsb: int | None = None
    data_msb: int | None = None


Getter = Callable[[str], float]


class Mapper:
    """Decodes events for one controller's bindings. Not thread-safe (one owner)."""

    def __init__(self, bindings: Iterable[Binding] = (), model_count: int = 64) -> None:
        self.model_count = max(1, int(model_count))
        self.set_bindings(bindings)

    def set_bindings(self, bindings: Iterable[Binding]) -> None:
        self.bindings: list[Binding] = list(bindings)
        self.state: list[KnobState] = [KnobState() for _ in self.bindings]
        self._channels: dict[int, _Channel14] = {}
        self._bank: dict[int, list[int]] = {}  # per channel: [MSB, LSB] of Bank Select
        self._after_msb: set[int] = set()  # channels whose last message was a bank MSB
        index: dict[tuple[str, int], list[int]] = {}
        for i, b in enumerate(self.bindings):
            index.setdefault((b.type, b.number), []).append(i)
        self._index = index
        self._by_control: dict[str, list[int]] = {}
        for i, b in enumerate(self.bindings):
            self._by_control.setdefault(b.control, []).append(i)

    @property
    def controls(self) -> list[str]:
        return list(self._by_control)

    def _find(self, type_: str, number: int, channel: int) -> list[int]:
        found = self._index.get((type_, number))
        if not found:
            return []
        bs = self.bindings
        return [i for i in found if bs[i].channel is None or bs[i].channel == channel]

    # ------------------------------------------------------------ input

    def feed(self, ev: Event, get: Getter) -> list[tuple[str, float]]:
        """Writes (control, value) caused by one event; ``get`` reads a control's value now."""
        out: list[tuple[str, float]] = []
        after_msb = ev.channel in self._after_msb
        self._after_msb.discard(ev.channel)
        if ev.kind == "pc":
            msb, lsb = self._bank.get(ev.channel, [0, 0])
            out.append((PROGRAM, float(((msb << 7 | lsb) << 7) | ev.number)))
            return out
        if ev.kind == "note":
            for i in self._find("note", ev.number, ev.channel):
                self._button(i, ev.value > 0, get, out)
            return out
        if ev.kind != "cc":
            return out
        ch, n, v = ev.channel, ev.number, ev.value
        if n == CC_BANK_MSB:
            self._bank.setdefault(ch, [0, 0])[0] = v
            self._after_msb.add(ch)
        elif (
            n == CC_BANK_LSB
            and (after_msb or not self._find("cc", n, ch))
            and not self._find("cc14", CC_BANK_MSB, ch)  # CC 0/32 as one 14-bit knob
        ):
            # Bank Select LSB: right after its MSB (the order the MIDI spec gives) it is a
            # bank change, never also the button CC 32 may be (the default Mode button);
            # alone it is a bank change only when no binding uses CC 32 here
            self._bank.setdefault(ch, [0, 0])[1] = v
            return out
        st = self._channels.get(ch)
        if st is None:
            st = self._channels[ch] = _Channel14()
        if n in _NRPN_CCS or n in (CC_RPN_LSB, CC_RPN_MSB):
            if self._nrpn(st, ch, n, v, get, out):
                return out
        if n < 32 and self._index.get(("cc14", n)):
            st.msb[n] = v
            for i in self._find("cc14", n, ch):
                self._absolute(i, v << 7, get, out)
        elif 32 <= n < 64 and self._index.get(("cc14", n - 32)):
            msb = st.msb.get(n - 32)
            if msb is not None:
                for i in self._find("cc14", n - 32, ch):
                    self._absolute(i, (msb << 7) | v, get, out)
        for i in self._find("cc", n, ch):
            b = self.bindings[i]
            if b.button is not None:
                self._button(i, v >= 64, get, out)
            elif b.encoding == "absolute":
                self._absolute(i, v, get, out)
            else:
                self._relative(i, relative_ticks(b.encoding, v), get, out)
        return out

    def _nrpn(
        self, st: _Channel14, ch: int, n: int, v: int, get: Getter, out: list[tuple[str, float]]
    ) -> bool:
        """Track NRPN selection and data entry; True if the CC was consumed by an NRPN."""
        if n == CC_NRPN_MSB:
            st.nrpn_msb, st.data_msb = v, None
        elif n == CC_NRPN_LSB:
            st.nrpn_lsb, st.data_msb = v, None
        elif n in (CC_RPN_MSB, CC_RPN_LSB):
            st.nrpn_msb = st.nrpn_lsb = st.nrpn = st.data_msb = None
            return False
        if n in (CC_NRPN_MSB, CC_NRPN_LSB):
            if st.nrpn_msb is not None and st.nrpn_lsb is not None:
                st.nrpn = (st.nrpn_msb << 7) | st.nrpn_lsb
            elif st.nrpn_msb is not None:
                st.nrpn = st.nrpn_msb << 7
            else:
                st.nrpn = st.nrpn_lsb
            return True
        if st.nrpn is None:
            return False
        targets = self._find("nrpn", st.nrpn, ch)
        if n == CC_DATA_MSB:
            st.data_msb = v
            for i in targets:
                self._absolute(i, v << 7, get, out)
        elif n == CC_DATA_LSB:
            if st.data_msb is not None:
                for i in targets:
                    self._absolute(i, (st.data_msb << 7) | v, get, out)
        else:  # increment / decrement (the data byte, if any, is the count)
            count = max(1, v)
            for i in targets:
                self._relative(i, count if n == CC_INC else -count, get, out)
        return True

    def _write(self, i: int, value: float, out: list[tuple[str, float]]) -> None:
        b = self.bindings[i]
        value = clamp_control(b.control, value)
        out.append((b.control, value))
        # other absolute bindings on the same control no longer hold the value
        for j in self._by_control[b.control]:
            if j != i:
                self.state[j].picked = False

    def _absolute(self, i: int, raw: int, get: Getter, out: list[tuple[str, float]]) -> None:
        b = self.bindings[i]
        s = self.state[i]
        s.sent = raw
        frac = raw / b.max_raw
        if b.invert:
            frac = 1.0 - frac
        lo, hi = b.lo, b.hi
        target = lo + frac * (hi - lo)
        prev, s.knob = s.knob, target
        if not b.uses_takeover or s.picked:
            s.picked = True
            self._write(i, target, out)
            return
        cur = min(max(get(b.control), min(lo, hi)), max(lo, hi))
        near = abs(target - cur) <= TAKEOVER_TOLERANCE * abs(hi - lo)
        crossed = prev is not None and (prev - cur) * (target - cur) <= 0
        if near or crossed:
            s.picked = True
            self._write(i, target, out)

    def _relative(self, i: int, ticks: int, get: Getter, out: list[tuple[str, float]]) -> None:
        if ticks == 0:
            return
        b = self.bindings[i]
        if b.invert:
            ticks = -ticks
        lo, hi = min(b.lo, b.hi), max(b.lo, b.hi)
        span = b.hi - b.lo
        cur = get(b.control)
        new = min(max(cur + ticks * b.step * span, lo), max(hi, lo))
        spec = _spec(b.control)
        if spec.kind != "float" and round(new) == round(cur):  # a choice moves by whole steps
            new = cur + (1 if ticks * span > 0 else -1)
            new = min(max(new, lo), hi)
        self._write(i, new, out)
        self.state[i].knob = new

    def _button(self, i: int, pressed: bool, get: Getter, out: list[tuple[str, float]]) -> None:
        b = self.bindings[i]
        lo, hi = b.lo, b.hi
        if b.invert:
            lo, hi = hi, lo
        if b.button_mode == "momentary":
            self._write(i, hi if pressed else lo, out)
            return
        if not pressed:
            return
        spec = _spec(b.control)
        cur = get(b.control)
        if spec.kind in ("enum", "int") and abs(b.hi - b.lo) > 1:
            top = b.hi
            if b.control == "model":
                top = min(top, self.model_count - 1)
            nxt = cur + 1 if cur + 1 <= top else b.lo
            self._write(i, nxt, out)
        else:
            mid = (lo + hi) / 2
            self._write(i, lo if (cur - mid) * (hi - lo) > 0 else hi, out)

    # ------------------------------------------------------------ takeover and feedback

    def external_change(self, control: str) -> None:
        """The control changed elsewhere: its absolute knobs must pick it up again."""
        for i in self._by_control.get(control, ()):
            self.state[i].picked = False

    def knobs(self, get: Getter, controller: str = "") -> dict[str, KnobInfo]:
        """Per control with an absolute binding: knob position, value, picked up or not."""
        out: dict[str, KnobInfo] = {}
        for i, b in enumerate(self.bindings):
            if b.is_button or b.encoding != "absolute":
                continue
            s = self.state[i]
            out[b.control] = KnobInfo(
                knob=s.knob,
                value=get(b.control),
                picked_up=s.picked or not b.uses_takeover,
                source=b.source(),
                controller=controller,
            )
        return out

    def raw_for(self, b: Binding, value: float) -> int:
        """A control value as the binding's raw MIDI value (0..127 or 0..16383)."""
        if b.is_button:
            mid = (b.lo + b.hi) / 2
            on = (value - mid) * (b.hi - b.lo) > 0 if b.hi != b.lo else value != 0
            if _spec(b.control).kind in ("enum", "int") and abs(b.hi - b.lo) > 1:
                on = value != b.lo
            return 127 if on != b.invert else 0
        span = b.hi - b.lo
        frac = 0.0 if span == 0 else (value - b.lo) / span
        frac = min(max(frac, 0.0), 1.0)
        if b.invert:
            frac = 1.0 - frac
        return int(round(frac * b.max_raw))

    def feedback(self, control: str, value: float) -> list[list[int]]:
        """Raw messages that show ``value`` on the controller (changed ones only)."""
        msgs: list[list[int]] = []
        for i in self._by_control.get(control, ()):
            b = self.bindings[i]
            raw = self.raw_for(b, value)
            s = self.state[i]
            if s.sent == raw:
                continue
            s.sent = raw
            ch = (b.channel or 1) - 1
            if b.type == "note":
                msgs.append([0x90 | ch, b.number, raw])
            elif b.type == "cc":
                msgs.append([0xB0 | ch, b.number, raw])
            elif b.type == "cc14":
                msgs.append([0xB0 | ch, b.number, raw >> 7])
                msgs.append([0xB0 | ch, b.number + 32, raw & 0x7F])
            else:  # nrpn
                msgs += [
                    [0xB0 | ch, CC_NRPN_MSB, b.number >> 7],
                    [0xB0 | ch, CC_NRPN_LSB, b.number & 0x7F],
                    [0xB0 | ch, CC_DATA_MSB, raw >> 7],
                    [0xB0 | ch, CC_DATA_LSB, raw & 0x7F],
                ]
        return msgs


# =================================================================== learn


LEARN_WINDOW = 0.3
"""Seconds of one knob's messages looked at before deciding how it speaks."""
LEARN_CONFIRM = 1.5
"""How long an encoder whose encoding is still ambiguous may take to turn the other way."""
LEARN_ENOUGH = 8
"""Messages after which an absolute knob is decided without waiting out the window."""

_SMALL_UP = range(1, 16)  # +1..+15: two's complement or sign-magnitude, clockwise
_TWOS_DOWN = range(113, 128)  # -15..-1 in two's complement
_OFFSET_DOWN = range(49, 64)  # -15..-1 in binary offset
_HIGH_SMALL = range(65, 80)  # +1..+15 binary offset, or -1..-15 sign-magnitude


def guess_encoding(values: Iterable[int]) -> tuple[str, bool]:
    """Tell an absolute knob from a relative encoder by the values one turn sent.

    Returns (encoding, sure). An absolute knob sends a value only when it changes, so two
    equal values in a row mean an encoder sending ticks; its values must then all be small
    ticks in some encoding. Which one: 113-127 is only two's complement (-15..-1), 49-63 only
    binary offset (-15..-1), 1-15 together with 65-79 only sign-magnitude. 1-15 alone (two's
    complement or sign-magnitude turned clockwise) and 65-79 alone (binary offset clockwise
    or sign-magnitude counter-clockwise) are ambiguous: the most common reading is returned
    with ``sure`` False, and turning the other way settles it.
    """
    vals = [int(v) & 0x7F for v in values]
    repeats = any(a == b for a, b in zip(vals, vals[1:], strict=False))
    ticks = [v for v in vals if v not in (0, 64)]  # zero ticks say nothing
    known = (*_SMALL_UP, *_TWOS_DOWN, *_OFFSET_DOWN, *_HIGH_SMALL)
    if not repeats or not ticks or any(v not in known for v in ticks):
        return "absolute", len(vals) >= 2
    if any(v in _TWOS_DOWN for v in ticks):
        return "relative_twos", True
    if any(v in _OFFSET_DOWN for v in ticks):
        return "relative_binary_offset", True
    up, high = any(v in _SMALL_UP for v in ticks), any(v in _HIGH_SMALL for v in ticks)
    if up and high:
        return "relative_sign_magnitude", True
    return ("relative_twos" if up else "relative_binary_offset"), False


class Learner:
    """Turns the next mappable message(s) into a binding for ``control``.

    A note makes a button; a CC on an on/off control makes a CC button at once. For a
    continuous control the learner listens to the knob for ``window`` seconds (or
    ``LEARN_ENOUGH`` messages): CC n+32 following CC n (n < 32) makes it 14-bit, repeated
    tick values make it a relative encoder (:func:`guess_encoding`; an ambiguous encoder
    gets up to ``confirm`` seconds to turn the other way, with :attr:`hint` saying so), and
    anything else a 7-bit absolute knob. CC 99/98 then data entry makes an NRPN binding.
    Clock, sysex and everything else never reach here (they are not Events). Time is
    passed in (seconds).
    """

    def __init__(
        self,
        control: str,
        now: float,
        window: float = LEARN_WINDOW,
        confirm: float = LEARN_CONFIRM,
    ) -> None:
        if control not in CONTROL_INDEX:
            raise MappingError(f"no control named {control!r}")
        self.control = control
        self.started = now
        self.window = window
        self.confirm = max(confirm, window)
        self.hint: str | None = None
        self._pending: tuple[Event, float] | None = None
        self._values: list[int] = []
        self._nrpn: dict[int, list[int | None]] = {}

    def _cc(self, number: int, channel: int, type_: str = "cc") -> Binding:
        button = "toggle" if is_button_control(self.control) and type_ == "cc" else None
        return Binding(self.control, type_, number, channel, button=button)

    def _decide(self, now: float, final: bool = False) -> Binding | None:
        """The pending knob's binding once its messages tell enough (or time is up)."""
        if self._pending is None:
            return None
        first, t0 = self._pending
        encoding, sure = guess_encoding(self._values)
        elapsed = now - t0
        if encoding == "absolute":
            if not (final or elapsed >= self.window or len(self._values) >= LEARN_ENOUGH):
                return None
        elif not (sure or final or elapsed >= self.confirm):
            self.hint = "relative encoder: turn it the other way to tell its encoding"
            return None
        self._pending = None
        self.hint = None
        return Binding(self.control, "cc", first.number, first.channel, encoding=encoding)

    def feed(self, ev: Event, now: float) -> Binding | None:
        done = self.poll(now)
        if done is not None:
            return done
        if ev.kind == "note":
            if ev.value > 0:
                return Binding(self.control, "note", ev.number, ev.channel)
            return None
        if ev.kind != "cc":
            return None
        n = ev.number
        sel = self._nrpn.setdefault(ev.channel, [None, None])
        if n == CC_NRPN_MSB:
            sel[0] = ev.value
            return None
        if n == CC_NRPN_LSB:
            sel[1] = ev.value
            return None
        if n in (CC_DATA_MSB, CC_DATA_LSB, CC_INC, CC_DEC):
            if sel[0] is not None or sel[1] is not None:
                param = ((sel[0] or 0) << 7) | (sel[1] or 0)
                return Binding(self.control, "nrpn", param, ev.channel)
            return None  # data entry without a selected NRPN (or an RPN): not a source
        if n in (CC_RPN_LSB, CC_RPN_MSB):
            return None
        if self._pending is not None:
            first, _ = self._pending
            if first.channel == ev.channel and first.number < 32 and n == first.number + 32:
                self._pending = None
                self.hint = None
                return Binding(self.control, "cc14", first.number, ev.channel)
            if first.channel == ev.channel and n == first.number:
                self._values.append(ev.value)  # the same knob still moving
                return self._decide(now)
            return self._decide(now, final=True)  # another knob: the first one is it
        if is_button_control(self.control):
            return self._cc(n, ev.channel)
        self._pending = (ev, now)
        self._values = [ev.value]
        return None

    def poll(self, now: float) -> Binding | None:
        """The pending knob becomes the binding once its window (or confirm time) is over."""
        return self._decide(now)


def conflicts(bindings: Iterable[Binding], new: Binding) -> list[Binding]:
    """Bindings of *other* controls that the same message would also drive."""
    return [b for b in bindings if b.control != new.control and b.overlaps(new)]


def with_binding(bindings: Iterable[Binding], new: Binding) -> list[Binding]:
    """``bindings`` with ``new`` added, replacing every binding it overlaps (any control)."""
    return [b for b in bindings if not b.overlaps(new)] + [new]
