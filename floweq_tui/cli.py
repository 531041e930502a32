"""The `floweq-tui` command: the live instrument by default, plus subcommands.

Each subcommand lives in its own module and registers itself here; heavy imports (textual,
torch, sounddevice) happen only inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


class CliError(Exception):
    """An error to print as one line (no traceback) with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floweq-tui",
        description="A live five-band equalizer for the terminal, steered through a learned "
        "latent space of real engineers' EQ settings, with MIDI knobs.",
    )
    parser.add_argument("--version", action="version", version=f"floweq-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import modelcli

    modelcli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"floweq-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
