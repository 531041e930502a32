"""`floweq-tui render` (a file through the same processing, offline) and `floweq-tui devices`."""

from __future__ import annotations

import argparse
import sys

from ..controls import MODES
from .options import CliError, add_control_options, control_values


def register(sub: argparse._SubParsersAction) -> None:
    """Add `devices` and `render` to the top-level parser."""
    d = sub.add_parser("devices", help="list audio devices (index, name, host API, channels)")
    d.set_defaults(func=cmd_devices)

    r = sub.add_parser(
        "render",
        help="render an audio file through the EQ offline (faster than real time)",
        description="Render IN through the same processing as the live engine and write OUT "
        "(format from its extension: .wav, .flac, .ogg). Controls as for the live instrument.",
    )
    r.add_argument("input", metavar="IN", help="input audio file (WAV/FLAC/OGG)")
    r.add_argument("output", metavar="OUT", help="output audio file (written atomically)")
    r.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists")
    r.add_argument("-b", "--blocksize", type=int, default=512, metavar="N", help="default: 512")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_control_options(r)
    r.set_defaults(func=cmd_render)


def cmd_devices(args: argparse.Namespace) -> int:  # noqa: ARG001
    from .. import devices

    print(devices.format_table(devices.query()))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .. import sources
    from ..render import render_file
    from ..vae import core_models

    if args.blocksize < 1 or args.blocksize > 65536:
        raise CliError("--blocksize must be 1-65536")
    models = core_models()
    values = control_values(args, models.names, models.anchor_labels)
    if values.get("mode", 0) != MODES.index("manual"):  # the latent modes need their model
        if not models.names:
            raise CliError(models.error)
        if "model" not in values and models.default_name not in models.names:
            raise CliError(
                f"the default model {models.default_name} is unavailable ({models.error}); "
                "choose another with --model"
            )
    if models.error:
        print(f"floweq-tui: warning: {models.error}", file=sys.stderr)

    drawn = [False]  # once the bar is drawn, end its line before any message

    def bar(fraction: float) -> None:
        if args.quiet:
            return
        drawn[0] = True
        width = 30
        done = int(fraction * width)
        sys.stderr.write(f"\rrender [{'#' * done}{'.' * (width - done)}] {100 * fraction:5.1f}%")
        sys.stderr.flush()

    try:
        result = render_file(
            args.input, args.output, values, args.blocksize, progress=bar, force=args.force
        )
    except (sources.SourceError, ValueError) as exc:
        if drawn[0]:
            sys.stderr.write("\n")
        raise CliError(str(exc)) from None
    if not args.quiet:
        sys.stderr.write("\n")
    print(
        f"rendered {result.frames / result.samplerate:.1f} s ({result.channels} ch, "
        f"{result.samplerate} Hz) in {result.seconds:.2f} s, {result.x_realtime:.0f}x real time; "
        f"peak {result.peak:.3f}, limited {result.limited} samples -> {args.output}"
    )
    return 0
