"""The shared blocks between the engine process and everything else.

Two flat float64 arrays in ``multiprocessing.shared_memory``:

* controls: written by the UI, MIDI and automation; the audio thread only reads them, once
  per block, and re-derives the EQ whenever any value differs from what it last applied
  (no sequence counter, so a torn or reordered write is corrected on the next block);
* meters: written by the audio thread once per block; everyone else only reads.

Each layout is one table of specs (like mido's message specs): a name, a default, a range
and a kind. Indices are fixed by the table order and mirrored in _dsp.pyx (checked by a test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .params import DEFAULTS as PARAM_DEFAULTS
from .params import PARAMS

MODES = ("traverse", "semantic", "manual")

# ---------------------------------------------------------------- automation (modulators)
N_LFOS = 4
"""Modulators (``lfo1`` .. ``lfo4``), each a set of slots in the controls block."""
MOD_TARGETS: tuple[str, ...] = (
    "x", "y", "z", "interpolate", "strength", "in_gain", "out_gain", *(f"p{i}" for i in range(13)),
    "path_pos",
)  # fmt: skip
"""What a modulator can move (index = the ``lfoN_target`` value). p0-p12 act in Manual mode;
path_pos moves the point along the path (Traverse mode)."""
N_WAYPOINTS = 8
"""Waypoint slots of the path (``path_wpK_x/y/z``, K = 0..7)."""
REC_POINTS = 128
"""Points of the motion recording's loop table (``rec_v0`` .. ``rec_v127``)."""
REC_STATES: tuple[str, ...] = ("off", "armed", "recording", "playing")
REC_TARGETS2: tuple[str, ...] = ("none", *MOD_TARGETS)
"""What a recording's second lane can move (index = the ``rec_target2`` value): none, or a
modulator target (``rec_target2`` = its MOD_TARGETS index + 1), so a take holds a gesture over
two controls at once (a drag on the latent map: x and y; two knobs moved together)."""
MOD_SHAPES: tuple[str, ...] = (
    "sine", "triangle", "saw_up", "saw_down", "square", "sample_hold", "smooth_random"
)  # fmt: skip
FIGURES: tuple[str, ...] = ("orbit", "figure8", "walk")
"""Latent figures moving x and y together (the ``fig_shape`` value)."""
TEMPO_SOURCES: tuple[str, ...] = ("internal", "midi", "link")


def _note_values() -> tuple[tuple[str, float], ...]:
    """Synced rates: (name, length in quarter notes), 8 bars down to 1/32, dotted and triplet."""
    out: list[tuple[str, float]] = [(f"{n}bar", 4.0 * n) for n in (8, 4, 2, 1)]
    for d in (2, 4, 8, 16, 32):
        beats = 4.0 / d
        out += [(f"1/{d}.", beats * 1.5), (f"1/{d}", beats), (f"1/{d}t", beats * 2 / 3)]
    return tuple(sorted(out, key=lambda nv: -nv[1]))


NOTE_VALUES: tuple[tuple[str, float], ...] = _note_values()
"""The synced rates, slow to fast (index = the ``lfoN_note`` value), so a knob sweeps them."""
NOTE_INDEX: dict[str, int] = {n: i for i, (n, _) in enumerate(NOTE_VALUES)}


@dataclass(frozen=True)
class ControlSpec:
    """One control: its slot in the shared block, default and range, and how a person steps
    and reads it (the UI's steps, value texts and key help come from here)."""

    name: str
    default: float
    min: float
    max: float
    kind: str = "float"  # "float", "bool", "int", "enum"; "data": a table slot, not a knob
    label: str = ""
    unit: str = ""
    fine: float = 0.0
    """The fine step (+ / -, arrows); 0 for a control that is toggled or chosen, not stepped."""
    coarse: float = 0.0
    """The coarse step (> / <, shift+arrows)."""
    log: bool = False
    """Steps are octaves: a step multiplies the value by 2**step (frequencies, Q, times)."""
    fmt: str = ""
    """The value's text: a format spec, or "freq" for compact hertz ("650", "1.20k")."""

    def stepped(self, value: float, direction: int, coarse: bool = False) -> float:
        """``value`` one fine (or coarse) step up (+1) or down (-1), before clamping.

        A linear step lands on a multiple of the fine step (a control without steps moves by 1).
        """
        step = (self.coarse if coarse else self.fine) or 1.0
        if self.log:
            return value * 2.0 ** (direction * step)
        fine = self.fine or 1.0
        return round((value + direction * step) / fine) * fine

    def text(self, value: float) -> str:
        """The value as the UI shows it, without the unit ("+0.25", "1.20k", "0.71")."""
        if self.fmt == "freq":
            return format_freq(value)
        return format(value, self.fmt or "g")


def format_freq(hz: float) -> str:
    """Compact hertz: "650", "1.20k", "12.0k"."""
    if hz >= 10000:
        return f"{hz / 1000:.1f}k"
    if hz >= 1000:
        return f"{hz / 1000:.2f}k"
    return f"{hz:.0f}"


# steps and texts shared by several controls (keyword arguments of ControlSpec)
_LATENT: dict[str, Any] = dict(fine=0.05, coarse=0.25, fmt="+.2f")
_UNIT: dict[str, Any] = dict(fine=0.05, coarse=0.25, fmt=".2f")
_GAIN: dict[str, Any] = dict(fine=0.5, coarse=3.0, fmt="+.1f")
_PARAM_STEPS: dict[str, dict[str, Any]] = {
    "gain": _GAIN,
    "freq": dict(fine=1 / 12, coarse=1 / 2, log=True, fmt="freq"),  # a semitone, half an octave
    "q": dict(fine=1 / 6, coarse=1 / 2, log=True, fmt=".2f"),  # x1.12, x1.41
}
_AUTO_TIME: dict[str, Any] = dict(fine=1 / 4, coarse=1.0, log=True, fmt=".2g")  # x1.19, x2
_AUTO_RANGE: dict[str, Any] = dict(fine=1.0, coarse=6.0, fmt=".0f")

_RATE: dict[str, Any] = dict(fine=1 / 12, coarse=1.0, log=True, fmt=".3g")
_RATIO: dict[str, Any] = dict(fine=1 / 12, coarse=1.0, log=True, fmt=".3g")
_PHASE: dict[str, Any] = dict(fine=15.0, coarse=90.0, fmt=".0f")
_BPM: dict[str, Any] = dict(fine=1.0, coarse=10.0, fmt=".1f")
_BAR = NOTE_INDEX["1bar"]


def _lfo_specs(p: str, label: str) -> tuple[ControlSpec, ...]:
    """One modulator's slots: on, target, shape, sync, rate (Hz), note, depth, phase, unipolar."""
    return (
        ControlSpec(f"{p}_on", 0, 0, 1, "bool", f"{label} on"),
        ControlSpec(f"{p}_target", 0, 0, len(MOD_TARGETS) - 1, "enum", f"{label} target"),
        ControlSpec(f"{p}_shape", 0, 0, len(MOD_SHAPES) - 1, "enum", f"{label} shape"),
        ControlSpec(f"{p}_sync", 0, 0, 1, "bool", f"{label} sync"),
        ControlSpec(f"{p}_rate", 1.0, 0.01, 20.0, "float", f"{label} rate", "Hz", **_RATE),
        ControlSpec(f"{p}_note", _BAR, 0, len(NOTE_VALUES) - 1, "enum", f"{label} note"),
        ControlSpec(f"{p}_depth", 0.5, -1.0, 1.0, "float", f"{label} depth", **_UNIT),
        ControlSpec(f"{p}_phase", 0.0, 0.0, 360.0, "float", f"{label} phase", "deg", **_PHASE),
        ControlSpec(f"{p}_unipolar", 0, 0, 1, "bool", f"{label} unipolar"),
    )


CONTROL_SPECS: tuple[ControlSpec, ...] = (
    ControlSpec("mode", 0, 0, 2, "enum", "Mode"),
    ControlSpec("model", 0, 0, 63, "int", "Model"),
    ControlSpec("x", 0.0, -2.0, 2.0, "float", "x", **_LATENT),
    ControlSpec("y", 0.0, -2.0, 2.0, "float", "y", **_LATENT),
    ControlSpec("z", 0.0, -2.0, 2.0, "float", "z", **_LATENT),
    ControlSpec("extend", 0, 0, 1, "bool", "Extend"),
    ControlSpec("anchor_a", 0, 0, 63, "int", "Anchor A"),
    ControlSpec("anchor_b", 1, 0, 63, "int", "Anchor B"),
    ControlSpec("interpolate", 0.0, 0.0, 1.0, "float", "Interpolate", **_UNIT),
    *(
        ControlSpec(
            f"p{p.index}", p.default, p.min, p.max, "float", p.label, p.unit, **_PARAM_STEPS[p.kind]
        )
        for p in PARAMS
    ),
    *(ControlSpec(f"active{b}", 1, 0, 1, "bool", f"Band {b} active") for b in range(5)),
    ControlSpec("strength", 1.0, 0.0, 1.0, "float", "Strength", **_UNIT),
    ControlSpec("in_gain", 0.0, -24.0, 24.0, "float", "Input gain", "dB", **_GAIN),
    ControlSpec("out_gain", 0.0, -24.0, 24.0, "float", "Output gain", "dB", **_GAIN),
    ControlSpec("auto_gain", 0, 0, 1, "bool", "Auto gain"),
    ControlSpec("auto_time", 1.0, 0.05, 10.0, "float", "Auto gain time", "s", **_AUTO_TIME),
    ControlSpec("auto_range", 12.0, 0.0, 24.0, "float", "Auto gain range", "dB", **_AUTO_RANGE),
    ControlSpec("bypass", 0, 0, 1, "bool", "Bypass"),
    ControlSpec("mute", 0, 0, 1, "bool", "Panic mute"),
    ControlSpec(
        "glide_ms", 20.0, 0.0, 1000.0, "float", "Glide", "ms", fine=5.0, coarse=50.0, fmt=".0f"
    ),
    # tempo (docs/automation.md; written by the tempo sources, read by the engine per block)
    ControlSpec("bpm", 120.0, 20.0, 300.0, "float", "Tempo", "BPM", **_BPM),
    ControlSpec("beat_origin", 0.0, -1e12, 1e12, "float", "Beat origin"),
    ControlSpec("beat_time", 0.0, -1e12, 1e12, "float", "Beat time", "s"),
    ControlSpec("transport", 1, 0, 1, "bool", "Transport"),
    ControlSpec("tempo_source", 0, 0, len(TEMPO_SOURCES) - 1, "enum", "Tempo source"),
    # modulators: the centre is the target control's own value
    *(spec for k in range(1, N_LFOS + 1) for spec in _lfo_specs(f"lfo{k}", f"LFO {k}")),
    # a latent figure moving x and y together
    ControlSpec("fig_on", 0, 0, 1, "bool", "Figure on"),
    ControlSpec("fig_shape", 0, 0, len(FIGURES) - 1, "enum", "Figure"),
    ControlSpec("fig_sync", 0, 0, 1, "bool", "Figure sync"),
    ControlSpec("fig_rate", 0.25, 0.01, 20.0, "float", "Figure rate", "Hz", **_RATE),
    ControlSpec("fig_note", _BAR, 0, len(NOTE_VALUES) - 1, "enum", "Figure note"),
    ControlSpec("fig_depth", 0.25, 0.0, 1.0, "float", "Figure depth", **_UNIT),
    ControlSpec("fig_ratio", 1.0, 0.25, 4.0, "float", "Figure y:x rate", **_RATIO),
    ControlSpec("fig_aspect", 1.0, 0.0, 2.0, "float", "Figure y:x depth", **_UNIT),
    ControlSpec("fig_phase", 0.0, 0.0, 360.0, "float", "Figure phase", "deg", **_PHASE),
    # a path ("SuperKnob"): path_pos 0-1 moves x, y, z along a smooth curve through the
    # first path_n waypoints (control units), evaluated by the engine (path_kernel.c)
    ControlSpec("path_on", 0, 0, 1, "bool", "Path on"),
    ControlSpec(
        "path_pos", 0.0, 0.0, 1.0, "float", "Path position", fine=0.02, coarse=0.1, fmt=".2f"
    ),  # fmt: skip
    ControlSpec("path_n", 0, 0, N_WAYPOINTS, "int", "Path waypoints"),
    *(
        ControlSpec(f"path_wp{k}_{a}", 0.0, -2.0, 2.0, "data", f"Waypoint {k + 1} {a}")
        for k in range(N_WAYPOINTS)
        for a in "xyz"
    ),
    # motion recording: a loop of rec_beats beats from beat rec_start, rec_n points of
    # rec_target (fractions of its range), and as many of rec_target2 when rec_lanes is 2;
    # written by the recorder, played by the engine
    ControlSpec("rec_play", 0, 0, 1, "bool", "Motion play"),
    ControlSpec("rec_arm", 0, 0, 1, "bool", "Motion record (arm)"),
    ControlSpec("rec_overdub", 0, 0, 1, "bool", "Motion overdub"),
    ControlSpec("rec_target", 0, 0, len(MOD_TARGETS) - 1, "enum", "Motion target"),
    ControlSpec("rec_bars", 1, 1, 8, "int", "Motion bars"),
    ControlSpec("rec_state", 0, 0, len(REC_STATES) - 1, "enum", "Motion state"),
    ControlSpec("rec_start", 0.0, -1e12, 1e12, "data", "Motion start beat"),
    ControlSpec("rec_beats", 4.0, 1.0, 64.0, "data", "Motion length", "beats"),
    ControlSpec("rec_n", 0, 0, REC_POINTS, "data", "Motion points"),
    *(
        ControlSpec(f"rec_v{k}", 0.0, 0.0, 1.0, "data", f"Motion point {k}")
        for k in range(REC_POINTS)
    ),
    # the second lane: rec_target2 (none, or a target) is what the next take records along
    # with rec_target; rec_lanes (1 or 2) is what the loop holds (set when a take ends, so
    # choosing a second target never plays an empty lane); rec_w0 .. the lane's rec_n points
    ControlSpec("rec_target2", 0, 0, len(REC_TARGETS2) - 1, "enum", "Motion target 2"),
    ControlSpec("rec_lanes", 1, 1, 2, "data", "Motion lanes"),
    *(
        ControlSpec(f"rec_w{k}", 0.0, 0.0, 1.0, "data", f"Motion point {k} (target 2)")
        for k in range(REC_POINTS)
    ),
    # preset morphs (docs/presets.md): a change of morph_seq starts a morph, in the engine,
    # from the sound in effect to whatever the controls say, over morph_beats (at the tempo in
    # effect) when above 0, else over morph_ms; 0 = an ordinary recall through the glide
    ControlSpec(
        "morph_ms",
        0.0,
        0.0,
        60000.0,
        "float",
        "Morph time",
        "ms",
        fine=50.0,
        coarse=500.0,
        fmt=".0f",
    ),  # fmt: skip
    ControlSpec(
        "morph_beats",
        0.0,
        0.0,
        64.0,
        "float",
        "Morph beats",
        "beats",
        fine=0.25,
        coarse=1.0,
        fmt=".2f",
    ),  # fmt: skip
    ControlSpec("morph_seq", 0.0, 0.0, 1e9, "int", "Morph counter"),
    # presets by MIDI (docs/presets.md): the program recalled last (Bank Select * 128 +
    # Program Change; -1 none), and three buttons the MIDI process acts on (never stored)
    ControlSpec("program", -1, -1, 16384 * 128 - 1, "int", "Program"),
    ControlSpec("preset_next", 0, 0, 1, "bool", "Next preset"),
    ControlSpec("preset_prev", 0, 0, 1, "bool", "Previous preset"),
    ControlSpec("preset_save", 0, 0, 1, "bool", "Save preset here"),
    # tap tempo: a button (MIDI learn); a press is a tap, read by the MIDI service
    ControlSpec("tap", 0, 0, 1, "bool", "Tap tempo"),
    # A/B (docs/presets.md, floweq_tui/ab.py): the controls above are the slot being heard
    # and edited; the other slot's sound (a twin of each sound control, "ab_" + name) runs
    # in a second cascade while ab_on, and a flip of ab_slot (with the twins swapped in)
    # crossfades between the two in ab_fade_ms
    ControlSpec("ab_on", 0, 0, 1, "bool", "A/B on"),
    ControlSpec("ab_slot", 0, 0, 1, "bool", "A/B slot"),
    ControlSpec(
        "ab_fade_ms",
        30.0,
        1.0,
        50.0,
        "float",
        "A/B crossfade",
        "ms",
        fine=1.0,
        coarse=10.0,
        fmt=".0f",
    ),  # fmt: skip
    ControlSpec("ab_match", 0, 0, 1, "bool", "A/B loudness match"),
    ControlSpec("ab_copy", 0, 0, 1, "bool", "A/B copy to other"),  # an action: writers copy
)
SOUND_CONTROLS: tuple[str, ...] = tuple(s.name for s in CONTROL_SPECS[:28])
"""What an A/B slot holds: mode, model, latent point, anchors, the 13 parameters, the band
switches and strength (slots 0-27, contiguous, mirrored in _dsp.pyx)."""
assert SOUND_CONTROLS[-1] == "strength"
AB_TWIN_START = len(CONTROL_SPECS)
CONTROL_SPECS = CONTROL_SPECS + tuple(
    ControlSpec(f"ab_{s.name}", s.default, s.min, s.max, s.kind, f"A/B other: {s.label}", s.unit)
    for s in CONTROL_SPECS[:28]
)

CONTROL_INDEX: dict[str, int] = {s.name: i for i, s in enumerate(CONTROL_SPECS)}
CONTROL_SPEC: dict[str, ControlSpec] = {s.name: s for s in CONTROL_SPECS}
N_CONTROLS = len(CONTROL_SPECS)
CONTROL_DEFAULTS: NDArray[np.float64] = np.array([s.default for s in CONTROL_SPECS])
CONTROL_MINS: NDArray[np.float64] = np.array([s.min for s in CONTROL_SPECS])
CONTROL_MAXS: NDArray[np.float64] = np.array([s.max for s in CONTROL_SPECS])
assert np.allclose(CONTROL_DEFAULTS[CONTROL_INDEX["p0"] : CONTROL_INDEX["p0"] + 13], PARAM_DEFAULTS)

RING_FRAMES = 8192
"""Length of the rings of recent input and output samples (mono mixes) in the meters block."""

METER_NAMES: tuple[str, ...] = (
    "callbacks",  # blocks processed
    "frames",  # frames processed
    "xruns",  # callbacks whose status flagged an under/overflow
    "cpu",  # last block's processing time / block period
    "cpu_max",  # worst of the above since start
    "callback_us",  # last block's processing time in microseconds
    "peak_in",  # linear peak of the last block, input (after input gain)
    "peak_out",  # linear peak of the last block, output
    "lufs_in",  # short-term loudness (3 s) before the EQ, LUFS (-inf as -200)
    "lufs_out",  # short-term loudness after the EQ (before auto gain)
    "auto_gain_db",  # auto gain applied now
    "limited",  # samples the output limiter had to reduce
    "limiter_db",  # gain reduction of the limiter now (<= 0)
    "nan_resets",  # blocks that held NaN/Inf and were silenced
    "controls_applied",  # how many control changes the audio thread applied
    "block_of_last_change",  # callback count at which the last change was applied
    "mode",  # the mode in effect
    "model",  # the model in effect
    "zx",  # the latent point in effect
    "zy",
    "zz",
    *(f"p{i}" for i in range(13)),  # the 13 parameters in effect (before strength)
    "source_pos",  # frame position in the file/demo source
    "ring_pos",  # frames ever written to the rings (position = ring_pos % RING_FRAMES)
    "samplerate",
    "blocksize",
    "channels",
    "state",  # 0 stopped, 1 running on a device, 2 silent clock, 3 error
    "heartbeat",  # monotonic seconds, written by the audio thread each block
    "beat",  # beat position (quarter notes since the song's start) at the block start
    "bpm_now",  # the tempo in effect
    *(f"lfo{k}_value" for k in range(1, N_LFOS + 1)),  # each running modulator's target now
    "mod_x",  # x and y in effect after modulators and figure (the moving point, control units)
    "mod_y",
    "mods_running",  # modulators (and figure) switched on
)
METER_INDEX: dict[str, int] = {n: i for i, n in enumerate(METER_NAMES)}
N_METERS = len(METER_NAMES)
METERS_SIZE = N_METERS + 2 * RING_FRAMES
"""Meters, then the input ring, then the output ring (all float64)."""

# ---------------------------------------------------------------- input history
HISTORY_SECONDS = 30.0
"""Default length of the input history block (``EngineConfig.history_seconds``)."""
HISTORY_MARGIN = 8192
"""The largest block the audio thread writes (the Processor's block limit at most this):
the ring holds two of these beyond its seconds, one for a block being written and not yet
counted, one for blocks that land while a reader copies."""
H_POS, H_FRAMES, H_RATE, H_MARGIN, H_START = range(5)
HISTORY_HEADER = 8
"""float64 slots before the samples: frames ever written (stored after the samples), the
ring's length in frames, the sample rate, the margin, and the count where that rate began."""
READ_TRIES = 3


def history_frames(seconds: float, samplerate: float) -> int:
    """Ring length for ``seconds`` at ``samplerate``: those frames plus twice the margin."""
    return int(np.ceil(max(seconds, 0.0) * samplerate)) + 2 * HISTORY_MARGIN


def history_size(frames: int) -> int:
    """float64 slots of a history block holding ``frames`` float32 samples."""
    return HISTORY_HEADER + (frames + 1) // 2


class History:
    """Read access to the input history block: the last seconds of the engine's input.

    The audio thread writes the mono mix of its input (after the input gain, before the EQ,
    the same signal as the meters' input ring) as float32 samples into a ring, then stores
    the count of frames ever written (``H_POS``). A reader only reads: it copies the span it
    wants, reads the count again and keeps only what the writer cannot have overwritten
    meanwhile (counting a block it may be writing and has not counted yet); a copy that
    lost part of its span (the reader was held up for a whole margin) is made again.
    """

    def __init__(self, array: NDArray[np.float64]) -> None:
        if array.ndim != 1 or array.shape[0] < HISTORY_HEADER + 1:
            raise ValueError("history block too small")
        self.array = array
        self.header = array[:HISTORY_HEADER]
        self.samples: NDArray[np.float32] = array[HISTORY_HEADER:].view(np.float32)

    @classmethod
    def format(cls, array: NDArray[np.float64], frames: int, samplerate: float) -> History:
        """Lay out an empty history of ``frames`` (``history_frames``) in a zeroed block."""
        h = cls(array)
        h.header[:] = 0.0
        h.header[H_FRAMES] = frames
        h.header[H_RATE] = samplerate
        h.header[H_MARGIN] = HISTORY_MARGIN
        return h

    @classmethod
    def empty(cls, seconds: float, samplerate: float) -> History:
        """A history of ``seconds`` in ordinary memory (offline processing, tests)."""
        frames = history_frames(seconds, samplerate)
        return cls.format(np.zeros(history_size(frames)), frames, samplerate)

    @property
    def written(self) -> int:
        """Frames the audio thread has written so far (ever, across rate changes)."""
        return int(self.header[H_POS])

    @property
    def samplerate(self) -> float:
        return float(self.header[H_RATE])

    @property
    def capacity(self) -> int:
        """Frames a read can give: the ring's length less twice the margin."""
        return max(0, int(self.header[H_FRAMES]) - 2 * int(self.header[H_MARGIN]))

    def available(self) -> int:
        """Frames a read can give now (heard at the current rate, within capacity)."""
        return max(0, min(self.written - int(self.header[H_START]), self.capacity))

    def last(self, frames: int) -> NDArray[np.float32]:
        """The last ``frames`` samples (fewer if fewer were heard), oldest first: a copy."""
        out = np.zeros(0, np.float32)
        for _ in range(READ_TRIES):
            out, whole = self._read(frames)
            if whole:
                break
        return out

    def _read(self, frames: int) -> tuple[NDArray[np.float32], bool]:
        """One copy of the last ``frames``: (what is intact, whether that is all of it)."""
        ring_len = int(self.header[H_FRAMES])
        margin = int(self.header[H_MARGIN])
        if ring_len <= 2 * margin or frames <= 0:
            return np.zeros(0, np.float32), True
        ring = self.samples[:ring_len]
        pos = self.written
        start = max(pos - min(frames, ring_len - 2 * margin), int(self.header[H_START]), 0)
        a, b = start % ring_len, pos - start
        if a + b <= ring_len:
            out = ring[a : a + b].copy()
        else:
            out = np.concatenate((ring[a:], ring[: a + b - ring_len]))
        # frames from (count now) + margin - ring_len on cannot have been overwritten while
        # copying (the writer may be a whole margin past its count); older ones may
        after = self.written
        keep_from = max(start, after + margin - ring_len, int(self.header[H_START]))
        drop = min(keep_from - start, len(out))
        return out[drop:], drop == 0


ENGINE_STATES = {0: "stopped", 1: "running", 2: "no audio device: silent clock", 3: "error"}
ENGINE_STATES[4] = "engine stalled"  # the parent's view only: never written in the slot


def clamp_control(name: str, value: float) -> float:
    """Clamp a value into its control's range (bools and ints rounded)."""
    spec = CONTROL_SPECS[CONTROL_INDEX[name]]
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: {value!r} is not a number")
    v = min(max(v, spec.min), spec.max)
    if spec.kind in ("bool", "int", "enum"):
        v = float(round(v))
    return v


class ControlValues(Protocol):
    """Anything that reads control values by name: a :class:`Controls` view, a dict."""

    def __getitem__(self, name: str) -> float: ...


def latent_point(
    controls: ControlValues, dims: int, anchors: Sequence[Sequence[float]] = ()
) -> tuple[float, ...]:
    """The latent point (``dims`` values) the controls steer the decoder to.

    Traverse: (x, y, z), doubled by Extend; Semantic: A + t (B - A) between the codes of
    anchors A and B (indices clamped to the ``anchors`` given; the origin without any);
    Manual: the origin (nothing is decoded). The audio path computes the same in C
    (``Processor._apply_controls`` in _dsp.pyx) and reports it as the meters zx, zy, zz;
    a test holds the two equal.
    """
    mode = int(min(max(controls["mode"], 0), 2))
    if mode == 0:
        scale = 2.0 if controls["extend"] >= 0.5 else 1.0
        return tuple(min(max(controls[k], -2.0), 2.0) * scale for k in ("x", "y", "z")[:dims])
    if mode == 1 and len(anchors):
        last = len(anchors) - 1
        za = anchors[min(int(max(controls["anchor_a"], 0)), last)]
        zb = anchors[min(int(max(controls["anchor_b"], 0)), last)]
        t = min(max(controls["interpolate"], 0.0), 1.0)
        return tuple(float(za[i]) + t * (float(zb[i]) - float(za[i])) for i in range(dims))
    return (0.0,) * dims


class SharedBlock:
    """A named float64 shared-memory array; the creator owns (unlinks) it, others attach."""

    def __init__(self, size: int, name: str | None = None, create: bool = False) -> None:
        nbytes = size * 8
        if create:
            self._shm = shared_memory.SharedMemory(create=True, size=nbytes, name=name)
        else:
            self._shm = _attach(name)
            if self._shm.size < nbytes:
                self._shm.close()
                raise ValueError(f"shared block {name} is {self._shm.size} bytes, need {nbytes}")
        self.owner = create
        self.array: NDArray[np.float64] = np.ndarray(
            (size,), dtype=np.float64, buffer=self._shm.buf
        )
        self.name: str = self._shm.name
        self._closed = False

    def close(self) -> None:
        """Release the mapping (and unlink it if we created it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.array = np.zeros(0)
        try:
            self._shm.close()
        except BufferError:
            pass
        if self.owner:
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass


def _attach(name: str | None) -> shared_memory.SharedMemory:
    """Attach to an existing block without taking ownership of it.

    Python 3.13+ can skip the resource tracker. Before that, attaching registers the name
    with the tracker; the engine process is spawned by multiprocessing and shares its
    parent's tracker, where the name is already registered, so that is a no-op (and
    unregistering here would drop the owner's registration).
    """
    try:
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg]
    except TypeError:  # Python < 3.13: no track argument
        return shared_memory.SharedMemory(name=name)


class Controls:
    """Named access to a controls block (a view; writes are visible to the engine at once)."""

    def __init__(self, array: NDArray[np.float64]) -> None:
        if array.shape != (N_CONTROLS,):
            raise ValueError(f"controls block must hold {N_CONTROLS} values")
        self.array = array

    def __getitem__(self, name: str) -> float:
        return float(self.array[CONTROL_INDEX[name]])

    def __setitem__(self, name: str, value: float) -> None:
        self.array[CONTROL_INDEX[name]] = clamp_control(name, value)

    def update(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self[k] = v

    def as_dict(self) -> dict[str, float]:
        return {s.name: float(self.array[i]) for i, s in enumerate(CONTROL_SPECS)}

    @property
    def params(self) -> NDArray[np.float64]:
        i = CONTROL_INDEX["p0"]
        return self.array[i : i + 13].copy()


class Meters:
    """Named read access to a meters block, plus its sample rings."""

    def __init__(self, array: NDArray[np.float64]) -> None:
        if array.shape != (METERS_SIZE,):
            raise ValueError(f"meters block must hold {METERS_SIZE} values")
        self.array = array

    def __getitem__(self, name: str) -> float:
        return float(self.array[METER_INDEX[name]])

    def snapshot(self) -> dict[str, float]:
        """All scalar meters at once (copied), by name."""
        values = self.array[:N_METERS].copy()
        return {n: float(values[i]) for i, n in enumerate(METER_NAMES)}

    @property
    def params(self) -> NDArray[np.float64]:
        i = METER_INDEX["p0"]
        return self.array[i : i + 13].copy()

    def ring(self, which: str = "out", frames: int = RING_FRAMES) -> NDArray[np.float64]:
        """The last ``frames`` samples of the input or output ring, oldest first."""
        frames = min(frames, RING_FRAMES)
        base = N_METERS + (0 if which == "in" else RING_FRAMES)
        ring = self.array[base : base + RING_FRAMES]
        pos = int(self.array[METER_INDEX["ring_pos"]]) % RING_FRAMES
        return np.roll(ring, -pos)[-frames:].copy()
