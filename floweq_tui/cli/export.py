"""`floweq-tui export FORMAT OUT` (the EQ for other programs) and `floweq-tui import FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import CliError, add_control_options, control_values


def register(sub: argparse._SubParsersAction) -> None:
    """Add `export` and `import` to the top-level parser."""
    from ..eqfile import FORMATS

    e = sub.add_parser(
        "export",
        help="write the EQ for AutoEq/Equalizer APO, CamillaDSP, PipeWire or EasyEffects",
        description="Write the EQ the given controls make (as `render` reads them) as a file "
        "for another program, with a preamp equal to the curve's peak so it never clips. "
        "Formats: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()),
    )
    e.add_argument("format", metavar="FORMAT", choices=list(FORMATS), help=", ".join(FORMATS))
    e.add_argument("output", metavar="OUT", help="file to write (atomically); '-' for stdout")
    e.add_argument("-f", "--force", action="store_true", help="replace OUT if it exists")
    e.add_argument(
        "-r", "--samplerate", type=int, default=48000, metavar="HZ",
        help="the rate the curve is matched at (default 48000)",
    )  # fmt: skip
    e.add_argument("-c", "--channels", type=int, default=2, metavar="N", help="default: 2")
    add_control_options(e)
    e.set_defaults(func=cmd_export)

    i = sub.add_parser(
        "import",
        help="read an AutoEq/Equalizer APO parametric EQ into a preset",
        description="Read a parametric EQ file (AutoEq/APO: Preamp, PK, LSC, HSC, LS, HS; also "
        "our own CamillaDSP, PipeWire and EasyEffects exports). Five or fewer compatible "
        "bands load exactly; more are fitted into the five bands (least squares on the dB "
        "curve, 20 Hz-20 kHz) and the largest error is reported.",
    )
    i.add_argument("input", metavar="FILE", help="the file to read")
    i.add_argument("--name", metavar="NAME", help="preset name (default: the file's name)")
    i.add_argument(
        "-r", "--samplerate", type=int, default=48000, metavar="HZ",
        help="the rate the curves are compared at (default 48000)",
    )  # fmt: skip
    i.add_argument(
        "--print", dest="print_only", action="store_true",
        help="print the 13 parameters only; save no preset",
    )  # fmt: skip
    i.set_defaults(func=cmd_import)


def cmd_export(args: argparse.Namespace) -> int:
    from .. import eqfile
    from ..eqmath import check_rate
    from ..paths import write_text_atomic
    from ..render import eq_in_effect
    from ..vae import core_models

    try:
        check_rate(args.samplerate)
    except ValueError as exc:
        raise CliError(f"--samplerate: {exc}") from None
    if not 1 <= args.channels <= 8:
        raise CliError("--channels must be 1-8")
    models = core_models()
    values = control_values(args, models.names, models.anchor_labels)
    if models.error:
        print(f"floweq-tui: warning: {models.error}", file=sys.stderr)
    state = eq_in_effect(values, args.samplerate)
    curve = eqfile.curve_for(state.params, state.active, state.strength, args.samplerate)
    text = eqfile.export_text(args.format, curve, args.samplerate, args.channels)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if (out.exists() or out.is_symlink()) and not args.force:
        raise CliError(f"{out} exists: add --force to replace it")
    if not out.parent.is_dir():
        raise CliError(f"cannot write {out}: directory {out.parent} does not exist")
    try:
        write_text_atomic(out, text)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(
        f"exported {len(curve.filters)} bands ({args.format}), preamp {curve.preamp:.1f} dB "
        f"-> {out}"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .. import eqfile
    from ..eqmath import check_rate

    try:
        check_rate(args.samplerate)
    except ValueError as exc:
        raise CliError(f"--samplerate: {exc}") from None
    try:
        result = eqfile.import_curve(eqfile.read_curve(args.input), args.samplerate)
    except eqfile.EqFileError as exc:
        raise CliError(str(exc)) from None
    how = "exactly" if result.exact else f"fitted, largest error {result.max_error_db:.2f} dB"
    params = ",".join(f"{v:g}" for v in result.params)
    print(f"read {result.n_filters} filters ({how}); preamp {result.preamp:.1f} dB")
    print(f"--params={params}")
    return 0
