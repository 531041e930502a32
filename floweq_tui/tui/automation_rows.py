"""The automation panel's content, without Textual: one row per modulator (LFO 1-4), the
figure, the path and the motion recording, each a list of fields naming the control a key
or MIDI learn changes and the text shown for it."""

from __future__ import annotations

from dataclasses import dataclass

from ..automation.recorder import loop_targets, targets_text
from ..automation.spec import rate_text
from ..controls import (
    CONTROL_SPEC,
    FIGURES,
    MOD_SHAPES,
    MOD_TARGETS,
    N_LFOS,
    REC_STATES,
    REC_TARGETS2,
    ControlValues,
)

SHAPE_SHORT = ("sine", "tri", "saw up", "saw dn", "square", "s&h", "smooth")
assert len(SHAPE_SHORT) == len(MOD_SHAPES)


@dataclass(frozen=True)
class Field:
    """One value in a row: ``control`` is what + / - step, enter toggles and MIDI learns."""

    name: str
    control: str
    text: str
    width: int


@dataclass(frozen=True)
class Row:
    key: str  # "lfo1" .. "lfo4", "fig", "path", "rec"
    title: str
    fields: tuple[Field, ...]
    live: str = ""
    """What is in effect now (the modulator's target value, the loop's state)."""


def _on(v: float) -> str:
    return "on" if v >= 0.5 else "off"


def _choice(names: tuple[str, ...], v: float) -> str:
    return names[int(min(max(v, 0), len(names) - 1))]


def _rate(c: ControlValues, p: str) -> Field:
    sync = c[f"{p}_sync"] >= 0.5
    ctl = f"{p}_note" if sync else f"{p}_rate"
    return Field("rate", ctl, rate_text(sync, c[ctl]), 8)


def lfo_row(c: ControlValues, m: ControlValues, k: int) -> Row:
    p = f"lfo{k}"
    on = c[f"{p}_on"] >= 0.5
    target = _choice(MOD_TARGETS, c[f"{p}_target"])
    fields = (
        Field("on", f"{p}_on", _on(c[f"{p}_on"]), 3),
        Field("target", f"{p}_target", target, 8),
        Field("shape", f"{p}_shape", _choice(SHAPE_SHORT, c[f"{p}_shape"]), 6),
        Field("sync", f"{p}_sync", "note" if c[f"{p}_sync"] >= 0.5 else "Hz", 4),
        _rate(c, p),
        Field("depth", f"{p}_depth", f"{c[f'{p}_depth']:+.2f}", 5),
        Field("phase", f"{p}_phase", f"{c[f'{p}_phase']:.0f}°", 4),
        Field("polar", f"{p}_unipolar", "uni" if c[f"{p}_unipolar"] >= 0.5 else "bi", 3),
    )
    live = ""
    if on and target in CONTROL_SPEC:
        live = CONTROL_SPEC[target].text(m[f"lfo{k}_value"])
    elif on:  # p0..p12 are the 13 parameters in Manual mode
        live = f"{m[f'lfo{k}_value']:.3g}"
    return Row(p, f"LFO {k}", fields, live)


def figure_row(c: ControlValues, m: ControlValues) -> Row:
    fields = (
        Field("on", "fig_on", _on(c["fig_on"]), 3),
        Field("shape", "fig_shape", _choice(FIGURES, c["fig_shape"]), 8),
        Field("sync", "fig_sync", "note" if c["fig_sync"] >= 0.5 else "Hz", 4),
        _rate(c, "fig"),
        Field("depth", "fig_depth", f"{c['fig_depth']:.2f}", 4),
        Field("ratio", "fig_ratio", f"y:x {c['fig_ratio']:.3g}", 7),
        Field("aspect", "fig_aspect", f"asp {c['fig_aspect']:.2f}", 8),
        Field("phase", "fig_phase", f"{c['fig_phase']:.0f}°", 4),
    )
    live = f"{m['mod_x']:+.2f},{m['mod_y']:+.2f}" if c["fig_on"] >= 0.5 else ""
    return Row("fig", "Figure", fields, live)


def path_row(c: ControlValues, m: ControlValues, labels: tuple[str, ...]) -> Row:
    n = int(c["path_n"])
    fields = (
        Field("on", "path_on", _on(c["path_on"]), 3),
        Field("pos", "path_pos", f"pos {c['path_pos']:.2f}", 8),
        Field("points", "path_n", f"{n} pts", 6),
    )
    shown = [labels[i] if i < len(labels) and labels[i] else f"#{i + 1}" for i in range(n)]
    return Row("path", "Path", fields, " > ".join(shown))


def rec_row(c: ControlValues, m: ControlValues) -> Row:
    state = _choice(REC_STATES, c["rec_state"])
    fields = (
        Field("record", "rec_arm", "REC" if c["rec_arm"] >= 0.5 else "rec", 3),
        Field("play", "rec_play", "play" if c["rec_play"] >= 0.5 else "stop", 4),
        Field("overdub", "rec_overdub", "odub" if c["rec_overdub"] >= 0.5 else "----", 4),
        Field("target", "rec_target", _choice(MOD_TARGETS, c["rec_target"]), 8),
        Field("target 2", "rec_target2", "+" + _choice(REC_TARGETS2, c["rec_target2"]), 8),
        Field("bars", "rec_bars", f"{int(c['rec_bars'])} bar", 5),
    )
    live = state
    if c["rec_n"] >= 2:
        beats = max(c["rec_beats"], 1.0)
        live += f" {targets_text(loop_targets(c))} {int(c['rec_n'])}pt/{beats:g}b"
    return Row("rec", "Motion", fields, live)


def automation_rows(c: ControlValues, m: ControlValues, labels: tuple[str, ...] = ()) -> list[Row]:
    """Every row of the panel, in order (``labels``: the path's waypoint labels)."""
    return [
        *(lfo_row(c, m, k) for k in range(1, N_LFOS + 1)),
        figure_row(c, m),
        path_row(c, m, labels),
        rec_row(c, m),
    ]
