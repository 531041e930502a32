"""The `floweq-tui` command: the live instrument by default, plus subcommands.

- :mod:`.options`: the shared options and how they become engine settings and controls;
- :mod:`.root`: the composition root (arguments -> started engine + session);
- :mod:`.instrument`: the UI and `--headless`;
- :mod:`.render`, :mod:`.models`, :mod:`.midi`, :mod:`.match`, :mod:`.export`: the other
  subcommands.

Heavy imports (textual, torch, sounddevice) happen only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import __version__
from . import export, match, midi, models, preset, render
from .options import (
    CliError,
    add_control_options,
    add_engine_options,
    add_midi_options,
    control_values,
    join_negative_values,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (the instrument's options plus every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="floweq-tui",
        description="A live five-band equalizer for the terminal, steered through a learned "
        "latent space of real engineers' EQ settings, with MIDI knobs. With no command it "
        "opens the instrument; with no sound card it runs on a silent clock.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands: devices, export, import, match, midi, models, preset, render, train "
        "(see `floweq-tui COMMAND --help`)",
    )
    parser.add_argument("--version", action="version", version=f"floweq-tui {__version__}")
    parser.add_argument(
        "--headless", action="store_true",
        help="run the engine without the terminal UI until SIGINT/SIGTERM/SIGHUP",
    )  # fmt: skip
    parser.add_argument(
        "--status-every", type=float, default=5.0, metavar="S",
        help="headless: print a status line every S seconds (default 5; 0 = never)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-second", action="store_true",
        help="run even if another floweq-tui uses the same config directory (both will "
        "play, and both will answer the same controller)",
    )  # fmt: skip
    add_engine_options(parser)
    add_control_options(parser)
    add_midi_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    models.register(sub)
    render.register(sub)
    midi.register(sub)
    match.register(sub)
    preset.register(sub)
    export.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `floweq-tui` console script."""
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, sys.argv[1:] if argv is None else argv))
    func: Any = getattr(args, "func", None)
    try:
        if func is None:
            from . import instrument

            func = instrument.cmd_headless if args.headless else instrument.cmd_ui
        return int(func(args) or 0)
    except CliError as exc:
        print(f"floweq-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


__all__ = ["CliError", "build_parser", "control_values", "main"]

if __name__ == "__main__":
    sys.exit(main())
