"""The `floweq-tui` command: the live instrument by default, plus subcommands.

Each subcommand lives in its own module and registers itself here; heavy imports (textual,
torch, sounddevice) happen only inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import __version__


class CliError(Exception):
    """An error to print as one line (no traceback) with exit status 2."""


def _add_engine_options(p: argparse.ArgumentParser) -> None:
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


def _add_control_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("equalizer")
    g.add_argument("--mode", choices=("traverse", "semantic", "manual"), help="default: traverse")
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


def control_values(
    args: argparse.Namespace, model_names: list[str], anchor_labels: list[str]
) -> dict[str, float]:
    """The controls given on the command line, as shared-block values (validated)."""
    from .controls import MODES, clamp_control
    from .params import ParamError, validate

    values: dict[str, float] = {}
    if args.mode:
        values["mode"] = MODES.index(args.mode)
    if args.model:
        if args.model not in model_names:
            have = ", ".join(model_names) or "none"
            raise CliError(f"no model named {args.model!r} (have: {have})")
        values["model"] = model_names.index(args.model)
    for name in ("x", "y", "z", "interpolate", "strength", "in_gain", "out_gain", "glide_ms"):
        v = getattr(args, name, None)
        if v is not None:
            try:
                values[name] = clamp_control(name, v)
            except ValueError as exc:
                raise CliError(str(exc)) from None
    if args.extend:
        values["extend"] = 1
    if args.auto_gain:
        values["auto_gain"] = 1
    for opt, name in (("anchor_a", "anchor_a"), ("anchor_b", "anchor_b")):
        label = getattr(args, opt)
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
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floweq-tui",
        description="A live five-band equalizer for the terminal, steered through a learned "
        "latent space of real engineers' EQ settings, with MIDI knobs. With no command it "
        "opens the instrument; with no sound card it runs on a silent clock.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands: devices, midi, models, render, train (see `floweq-tui COMMAND --help`)",
    )
    parser.add_argument("--version", action="version", version=f"floweq-tui {__version__}")
    parser.add_argument(
        "--headless", action="store_true",
        help="run the engine without the terminal UI until SIGINT/SIGTERM",
    )  # fmt: skip
    parser.add_argument(
        "--status-every", type=float, default=5.0, metavar="S",
        help="headless: print a status line every S seconds (default 5; 0 = never)",
    )  # fmt: skip
    _add_engine_options(parser)
    _add_control_options(parser)
    from .midi import cli as midi_cli  # MIDI

    midi_cli.add_options(parser)  # MIDI: --midi-in/--midi-out/--midi-api/--no-midi
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import modelcli, runcli

    modelcli.register(sub)
    runcli.register(sub)
    midi_cli.register(sub)  # MIDI: `floweq-tui midi`
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Any = getattr(args, "func", None)
    try:
        if func is None:
            from . import runcli

            func = runcli.cmd_headless if args.headless else runcli.cmd_ui
        return int(func(args) or 0)
    except CliError as exc:
        print(f"floweq-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
