"""Every key binding, in one table: the app's bindings, the help screen and the docs."""

from __future__ import annotations

from textual.binding import Binding

from ..controls import CONTROL_SPEC


def step(name: str, coarse: bool = False) -> str:
    """A control's fine (or coarse) step as key help shows it ("0.05", "0.5 dB")."""
    spec = CONTROL_SPEC[name]
    size = spec.coarse if coarse else spec.fine
    return f"{size:g}" + (f" {spec.unit}" if spec.unit else "")


# (keys, action, description, footer label or ""); the step sizes come from CONTROL_SPECS
APP_KEYS: list[tuple[str, str, str, str]] = [
    ("left", "nudge('x', -1)", f"x - {step('x')} (Traverse)", ""),
    ("right", "nudge('x', 1)", f"x + {step('x')}", ""),
    ("down", "nudge('y', -1)", f"y - {step('y')}", ""),
    ("up", "nudge('y', 1)", f"y + {step('y')}", ""),
    ("shift+left", "nudge('x', -1, True)", f"x - {step('x', True)} (coarse)", ""),
    ("shift+right", "nudge('x', 1, True)", f"x + {step('x', True)} (coarse)", ""),
    ("shift+down", "nudge('y', -1, True)", f"y - {step('y', True)} (coarse)", ""),
    ("shift+up", "nudge('y', 1, True)", f"y + {step('y', True)} (coarse)", ""),
    ("pagedown,z", "nudge('z', -1)", f"z - {step('z')} (3-D models)", ""),
    ("pageup,Z", "nudge('z', 1)", f"z + {step('z')}", ""),
    ("m", "cycle_mode", "Cycle mode Traverse > Semantic > Manual", "Mode"),
    ("T", "set_mode(0)", "Traverse mode", ""),
    ("S", "set_mode(1)", "Semantic mode", ""),
    ("M", "set_mode(2)", "Manual mode (starts from the decoded curve)", ""),
    ("1", "dims(1)", "Model with 1 latent dimension", ""),
    ("2", "dims(2)", "Model with 2 latent dimensions", ""),
    ("3", "dims(3)", "Model with 3 latent dimensions", ""),
    ("v", "beta(1)", "Next beta (0, 0.001, 0.01, 0.02)", ""),
    ("V", "beta(-1)", "Previous beta", ""),
    ("e", "toggle('extend')", "Extend the latent range to +-4", "Ext"),
    ("left_square_bracket", "anchor('anchor_a', -1)", "Anchor A: previous label", ""),
    ("right_square_bracket", "anchor('anchor_a', 1)", "Anchor A: next label", ""),
    ("left_curly_bracket", "anchor('anchor_b', -1)", "Anchor B: previous label", ""),
    ("right_curly_bracket", "anchor('anchor_b', 1)", "Anchor B: next label", ""),
    ("comma", "nudge('interpolate', -1)", f"Interpolate towards A (-{step('interpolate')})", ""),
    ("full_stop", "nudge('interpolate', 1)", f"Interpolate towards B (+{step('interpolate')})", ""),
    ("r", "nudge('strength', -1)", f"Strength - {step('strength')}", ""),
    ("R", "nudge('strength', 1)", f"Strength + {step('strength')}", ""),
    ("i", "nudge('in_gain', -1)", f"Input gain - {step('in_gain')}", ""),
    ("I", "nudge('in_gain', 1)", f"Input gain + {step('in_gain')}", ""),
    ("o", "nudge('out_gain', -1)", f"Output gain - {step('out_gain')}", ""),
    ("O", "nudge('out_gain', 1)", f"Output gain + {step('out_gain')}", ""),
    ("a", "toggle('auto_gain')", "Auto gain on/off", "Auto"),
    ("b", "toggle('bypass')", "Bypass on/off", "Byp"),
    ("space,exclamation_mark", "toggle('mute')", "Panic mute on/off", "Mute"),
    ("A", "automation", "Automation: modulators, figure, path, motion recording", ""),
    ("t", "tap", "Tap tempo (the first tap is a downbeat; the source becomes internal)", ""),
    ("f", "spectrum", "Live output spectrum behind the curve on/off", ""),
    ("w", "ab_toggle", "A/B: hear the other slot (a crossfade; the first press arms A/B)", ""),
    ("W", "ab_copy", "A/B: copy the slot you hear into the other one", ""),
    (
        "L",
        "toggle('ab_match')",
        "A/B loudness match on/off (both at the input's loudness)",
        "",
    ),
    ("X", "export", "Export the EQ for AutoEq/APO, CamillaDSP, PipeWire, EasyEffects", ""),
    ("c", "match", "Match to a reference file (from a file or the live input)", ""),
    ("C", "clear_match", "Hide the match's target curve", ""),
    ("l", "midi_learn", "MIDI learn the selected value (then move a knob / press a button)", ""),
    ("P", "presets", "Presets: browse, recall (morph), save, rename, copy, delete", ""),
    ("ctrl+r", "restart_engine", "Restart the engine process (the controls are kept)", ""),
    ("question_mark", "help", "Help: every key", "Help"),
    ("q", "quit", "Quit (stops the engine, saves the session)", "Quit"),
    ("ctrl+c", "quit", "Quit", ""),
]

GROUP_BINDINGS = [
    Binding("n", "select(1)", "Next value", show=False),
    Binding("p", "select(-1)", "Previous value", show=False),
    Binding("plus,equals_sign", "step(1, False)", "Value +", show=False),
    Binding("minus,underscore", "step(-1, False)", "Value -", show=False),
    Binding("greater_than_sign", "step(1, True)", "Value ++", show=False),
    Binding("less_than_sign", "step(-1, True)", "Value --", show=False),
    Binding("enter", "step(1, False)", "Toggle/step", show=False),
]
"""The keys of a focused control group or the bands (their widgets' BINDINGS)."""

GROUP_KEYS: list[tuple[str, str]] = [
    ("tab / shift+tab", "focus the next / previous group"),
    ("n / p", "select the next / previous value in the focused group"),
    ("+ / -  (or = / _)", "step the selected value up / down (fine)"),
    ("> / <", "step the selected value up / down (coarse)"),
    ("enter", "toggle / step up the selected value"),
    ("mouse scroll", "step the value under the pointer"),
    ("mouse click / drag on the map", "set the latent point (switches to Traverse)"),
    ("ctrl+p", "command palette: every action, searchable"),
]

PANEL_KEYS: list[tuple[str, str, str]] = [
    ("up,k", "row(-1)", "previous modulator"),
    ("down,j", "row(1)", "next modulator"),
    ("left,h", "field(-1)", "previous field"),
    ("right", "field(1)", "next field"),
    ("plus,equals_sign", "step(1, False)", "field + (fine)"),
    ("minus,underscore", "step(-1, False)", "field - (fine)"),
    ("greater_than_sign", "step(1, True)", "field + (coarse)"),
    ("less_than_sign", "step(-1, True)", "field - (coarse)"),
    ("enter", "toggle", "the row on/off (the motion row: play/stop)"),
    ("w", "command('waypoint')", "path: add the current point as a waypoint"),
    ("W", "command('anchor')", "path: add anchor A (chosen with [ ]) as a waypoint"),
    ("d", "command('drop')", "path: drop the last waypoint"),
    ("t", "command('arm')", "motion: record from the next bar (again: cancel)"),
    ("u", "command('undo')", "motion: undo the last take or overdub"),
    ("x", "command('clear')", "motion: clear the loop"),
]
"""The panel's keys (also listed by the help screen)."""

KEY_NAMES = {
    "left_square_bracket": "[", "right_square_bracket": "]", "left_curly_bracket": "{",
    "right_curly_bracket": "}", "comma": ",", "full_stop": ".", "question_mark": "?",
    "exclamation_mark": "!", "pagedown": "pgdn", "pageup": "pgup", "plus": "+", "minus": "-",
    "equals_sign": "=", "underscore": "_", "greater_than_sign": ">", "less_than_sign": "<",
}  # fmt: skip
"""Textual key names as help shows them."""


def display(keys: str) -> str:
    """Comma-separated Textual key names as help shows them: "pagedown,z" -> "pgdn z"."""
    return " ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def app_bindings() -> list[Binding]:
    out = []
    for keys, action, desc, footer in APP_KEYS:
        out.append(
            Binding(
                keys,
                action,
                footer or desc,
                show=bool(footer),
                key_display=display(keys).split(" ")[0] if footer else None,
                priority=keys in ("ctrl+c",),
                tooltip=desc,
            )
        )
    return out


def help_rows() -> list[tuple[str, str]]:
    return [(display(k), d) for k, _, d, _ in APP_KEYS] + GROUP_KEYS


def panel_rows() -> list[tuple[str, str]]:
    """The automation screen's keys (``A``), for help and docs."""
    return [(display(k), d) for k, _, d in PANEL_KEYS] + [
        ("l", "MIDI learn the selected field"),
        ("esc / A", "back to the instrument"),
    ]


def midi_rows() -> list[tuple[str, str]]:
    """The default MIDI mapping, (control label, knob / button), for help and docs."""
    from ..midi import default_mapping_table

    return [(row["label"], row["source"]) for row in default_mapping_table()]
