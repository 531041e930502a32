"""The instrument's command-line options and how they become engine settings and controls.

Shared by the instrument, `--headless`, `render` (and later `export`/`match`), so every
command reads an EQ the same way and reports a bad value as one line.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from typing import Any

from ..automation import ModSpecError, Scene, SceneError, load_scene, parse_lfo
from ..controls import CONTROL_INDEX, CONTROL_SPECS, MODES, N_LFOS, TEMPO_SOURCES, clamp_control
from ..engine import EngineConfig, EngineError
from ..params import ParamError, validate


class CliError(Exception):
    """An error to print as one line (no traceback) with exit status 2."""


_NEGATIVE = re.compile(r"^-(\d|\.\d)")


def join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``--params -5.4,120,...`` -> ``--params=-5.4,120,...`` for every option that takes a value.

    argparse reads a value that starts with '-' as another option unless it is a plain number,
    and most EQ settings start with a negative gain; this keeps the spelling users type.
    """
    takes_value: set[str] = set()

    def collect(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    collect(sub)
            elif action.option_strings and action.nargs is None and action.const is None:
                takes_value.update(action.option_strings)

    collect(parser)
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in takes_value and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Device, rate, block size, channels, latency, source (the live instrument only)."""
    g = p.add_argument_group("audio")
    g.add_argument(
        "-d", "--device", metavar="DEV",
        help="output device: index or name substring (see `floweq-tui devices`)",
    )  # fmt: skip
    g.add_argument("--input-device", metavar="DEV", help="input device for --source input")
    g.add_argument(
        "-r", "--samplerate", type=int, default=48000, metavar="HZ", help="default: 48000"
    )
    g.add_argument(
        "-b", "--blocksize", type=int, default=128, metavar="N", help="frames per block (128)"
    )
    g.add_argument("-c", "--channels", type=int, default=2, metavar="N", help="default: 2")
    g.add_argument(
        "--latency", default="low", metavar="S",
        help="'low', 'high' or seconds, as in sounddevice (default: low)",
    )  # fmt: skip
    g.add_argument(
        "-s", "--source", default="demo", metavar="SRC",
        help="'demo' (built in, default), 'input' (live input through the EQ), 'silence', "
        "or an audio file (WAV/FLAC/OGG, looped)",
    )  # fmt: skip
    g.add_argument(
        "--silent", action="store_true",
        help="run on the silent real-time clock even if an audio device exists",
    )  # fmt: skip
    g.add_argument(
        "--history", type=float, default=30.0, metavar="S",
        help="seconds of input kept for matching the live input (default 30; 0 = none)",
    )  # fmt: skip


def add_control_options(p: argparse.ArgumentParser) -> None:
    """The equalizer's controls (the instrument, headless and render alike)."""
    g = p.add_argument_group("equalizer")
    g.add_argument(
        "--preset", metavar="NAME",
        help="start from a saved preset (`floweq-tui preset list`); other options go on top",
    )  # fmt: skip
    g.add_argument("--mode", choices=MODES, help="default: traverse")
    g.add_argument("--model", metavar="NAME", help="e.g. vae_d2_b0.001 (see `floweq-tui models`)")
    g.add_argument("-x", type=float, metavar="X", help="latent x in [-2, 2]")
    g.add_argument("-y", type=float, metavar="Y", help="latent y in [-2, 2]")
    g.add_argument("-z", type=float, metavar="Z", help="latent z in [-2, 2]")
    g.add_argument("--extend", action="store_true", help="double the latent range to [-4, 4]")
    g.add_argument("--anchor-a", metavar="LABEL", help="semantic anchor A, e.g. 'warm'")
    g.add_argument("--anchor-b", metavar="LABEL", help="semantic anchor B, e.g. 'bright'")
    g.add_argument("--interpolate", type=float, metavar="T", help="from A (0) to B (1)")
    g.add_argument(
        "--params", metavar="P,...",
        help="the 13 manual parameters, comma separated (manual mode)",
    )  # fmt: skip
    g.add_argument("--strength", type=float, metavar="S", help="0 = flat, 1 = full (default 1)")
    g.add_argument("--in-gain", type=float, metavar="DB", help="input gain in dB")
    g.add_argument("--out-gain", type=float, metavar="DB", help="output gain in dB")
    g.add_argument("--auto-gain", action="store_true", help="loudness-matched auto gain on")
    g.add_argument("--glide-ms", type=float, metavar="MS", help="glide time (default 20 ms)")
    g.add_argument(
        "--morph-ms", type=float, metavar="MS",
        help="preset recalls morph from the sound now over MS milliseconds (default 0: the glide)",
    )  # fmt: skip
    g.add_argument(
        "--morph-beats", type=float, metavar="N",
        help="preset recalls morph over N beats at the tempo in effect (wins over --morph-ms)",
    )  # fmt: skip
    a = p.add_argument_group("automation (docs/automation.md)")
    a.add_argument(
        "--lfo", action="append", metavar="TARGET:SHAPE:RATE[:DEPTH]",
        help=f"a modulator (up to {N_LFOS}, repeatable), e.g. x:sine:4bar:0.5 or "
        "p12:tri:0.2hz; RATE is <number>hz or a note value (1/4, 1/8t, 1/8., 2bar)",
    )  # fmt: skip
    a.add_argument("--bpm", type=float, metavar="BPM", help="the internal tempo (default 120)")
    a.add_argument(
        "--tempo-source", choices=TEMPO_SOURCES, default=None,
        help="who sets the tempo: internal (--bpm, tap tempo), midi (MIDI clock from any "
        "input), link (Ableton Link, the 'link' extra)",
    )  # fmt: skip
    a.add_argument("--scene", metavar="FILE.toml", help="a scene file: modulators, path, recording")


API_CHOICES = ("auto", "alsa", "jack")


def add_midi_options(p: argparse.ArgumentParser) -> None:
    """--midi-in, --midi-out, --midi-api, --no-midi on the instrument's parser."""
    g = p.add_argument_group("MIDI")
    g.add_argument(
        "--midi-in", metavar="PORT",
        help="controller input: port name substring (default: the first hardware port; "
        "'none': only the virtual input 'floweq-tui')",
    )  # fmt: skip
    g.add_argument(
        "--midi-out", metavar="PORT",
        help="feedback output: port name substring (default: the controller's own output; "
        "'none': no feedback to the controller)",
    )  # fmt: skip
    g.add_argument(
        "--midi-api", choices=API_CHOICES, default=None,
        help="MIDI API (default auto: JACK when the audio runs on JACK, else ALSA, else JACK; "
        "or set FLOWEQ_MIDI_API)",
    )  # fmt: skip
    g.add_argument("--no-midi", action="store_true", help="no MIDI at all")
    g.add_argument(
        "--clock-out", action="store_true",
        help="send MIDI clock (24 ppqn, Start/Stop) for the tempo in effect on the virtual "
        "output port (JACK MIDI)",
    )  # fmt: skip


def midi_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The EngineConfig MIDI fields from the parsed options (absent options: defaults)."""
    api = getattr(args, "midi_api", None)
    return {
        "midi": not getattr(args, "no_midi", False),
        "midi_in": getattr(args, "midi_in", None),
        "midi_out": getattr(args, "midi_out", None),
        "midi_api": None if api in (None, "auto") else api,
        "midi_clock_out": bool(getattr(args, "clock_out", False)),
    }


def control_values(
    args: argparse.Namespace, model_names: list[str], anchor_labels: list[str]
) -> dict[str, float]:
    """The controls given on the command line, as shared-block values (validated); a
    ``--preset`` first, the other options on top."""
    values: dict[str, float] = preset_values(args, model_names, anchor_labels)[0]
    if args.mode:
        values["mode"] = MODES.index(args.mode)
    if args.model:
        if args.model not in model_names:
            have = ", ".join(model_names) or "none"
            raise CliError(f"no model named {args.model!r} (have: {have})")
        values["model"] = model_names.index(args.model)
    names = ("x", "y", "z", "interpolate", "strength", "in_gain", "out_gain", "glide_ms",
             "morph_ms", "morph_beats")  # fmt: skip
    for name in names:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = _in_range(name, v)
    if args.extend:
        values["extend"] = 1
    if args.auto_gain:
        values["auto_gain"] = 1
    for name in ("anchor_a", "anchor_b"):
        label = getattr(args, name)
        if label:
            if label not in anchor_labels:
                raise CliError(f"no anchor {label!r} (have: {', '.join(anchor_labels) or 'none'})")
            values[name] = anchor_labels.index(label)
    if args.params:
        try:
            p = validate([float(v) for v in args.params.split(",")])
        except (ValueError, ParamError) as exc:
            raise CliError(f"--params: {exc}") from None
        for i, v in enumerate(p):
            values[f"p{i}"] = float(v)
        values.setdefault("mode", MODES.index("manual"))
    values.update(automation_values(args))
    return values


def preset_values(
    args: argparse.Namespace, model_names: list[str], anchor_labels: list[str]
) -> tuple[dict[str, float], str]:
    """(values, notice) of ``--preset NAME`` (empty without it); a missing or bad preset is
    a one-line CliError, a model or anchor it names that is not here a notice."""
    name = getattr(args, "preset", None)
    if not name:
        return {}, ""
    from .. import presets

    try:
        return presets.load(name).to_controls(model_names, anchor_labels)
    except presets.PresetError as exc:
        raise CliError(f"--preset: {exc}") from None


def automation_values(args: argparse.Namespace) -> dict[str, float]:
    """The modulator, figure and tempo slots from --scene, --lfo and --bpm (validated; the
    flags' modulators follow the scene's). Empty when none of them is given, so a restored
    session keeps its modulators."""
    texts = getattr(args, "lfo", None) or []
    path = getattr(args, "scene", None)
    bpm = getattr(args, "bpm", None)
    source = getattr(args, "tempo_source", None)
    if not texts and path is None and bpm is None and source is None:
        return {}
    try:
        scene = load_scene(path) if path is not None else None
        lfos = [parse_lfo(t) for t in texts]
        anchors: dict[str, tuple[float, ...]] = {}
        if scene is not None and scene.path is not None:
            if any(isinstance(p, str) and p != "current" for p in scene.path.points):
                anchors = _anchor_codes(getattr(args, "model", None))
        current = tuple(getattr(args, k, None) or 0.0 for k in ("x", "y", "z"))
        scale = 2.0 if getattr(args, "extend", False) else 1.0
        values = (scene or Scene()).controls(lfos, anchors, current, scale) if scene or lfos else {}
    except SceneError as exc:
        where = "" if str(exc).startswith(str(path)) else f"{path}: "
        raise CliError(f"--scene {where}{exc}") from None
    except ModSpecError as exc:
        raise CliError(f"--lfo {exc}") from None
    if bpm is not None:
        values["bpm"] = _in_range("bpm", bpm)
    if source is not None:
        values["tempo_source"] = float(TEMPO_SOURCES.index(source))
    return values


def _anchor_codes(model: str | None) -> dict[str, tuple[float, ...]]:
    """Anchor label -> latent code in the given (or the default) model, for a scene's path."""
    from ..vae import ModelError, load_family

    try:
        family = load_family(strict=False)
    except (ModelError, OSError, ValueError):
        return {}
    chosen = next((m for m in family if m.name == model), family.default)
    return {a.label: tuple(a.z) for a in chosen.anchors}


def _in_range(name: str, value: float) -> float:
    """The value if it lies in its control's range; else a one-line error naming the range."""
    spec = CONTROL_SPECS[CONTROL_INDEX[name]]
    flag = f"-{name}" if len(name) == 1 else f"--{name.replace('_', '-')}"
    unit = f" {spec.unit}" if spec.unit else ""
    if not math.isfinite(value) or not spec.min <= value <= spec.max:
        raise CliError(f"{flag} {value:g} is outside {spec.min:g} to {spec.max:g}{unit}")
    return clamp_control(name, value)


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """EngineConfig from the command line (validated, one-line errors)."""
    latency: float | str = args.latency
    try:
        latency = float(args.latency)
    except ValueError:
        if args.latency not in ("low", "high"):
            raise CliError(
                f"--latency must be 'low', 'high' or seconds, not {args.latency!r}"
            ) from None
    cfg = EngineConfig(
        samplerate=args.samplerate,
        blocksize=args.blocksize,
        channels=args.channels,
        output_device=_device(args.device),
        input_device=_device(args.input_device),
        latency=latency,
        source=args.source,
        silent=args.silent,
        history_seconds=args.history,
        **midi_fields(args),
    )
    try:
        cfg.validate()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    return cfg


def _device(spec: str | None) -> int | str | None:
    if spec is None:
        return None
    return int(spec) if spec.strip().isdigit() else spec
