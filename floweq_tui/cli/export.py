"""`floweq-tui export FORMAT OUT` (the EQ for other programs) and `floweq-tui import FILE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

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
        "our own CamillaDSP, PipeWire and EasyEffects exports) into a Manual-mode preset, "
        "placed on the latent map by the encoder. Five or fewer compatible bands load "
        "exactly; more are fitted into the five bands (least squares on the dB curve, "
        "20 Hz-20 kHz) and the largest error is reported. The preamp becomes the output gain.",
    )
    i.add_argument("input", metavar="FILE", help="the file to read")
    i.add_argument("--name", metavar="NAME", help="preset name (default: the file's name)")
    i.add_argument("-f", "--force", action="store_true", help="replace a preset NAME")
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
    n = result.n_filters
    if result.exact:
        how = f"{n} filter{'s' if n != 1 else ''} loaded exactly"
    else:
        how = f"{n} filters fitted into the 5 bands"
    err = f"largest error {result.max_error_db:.2f} dB (20 Hz-20 kHz)"
    params = ",".join(f"{v:.6g}" for v in result.params)
    if args.print_only:
        print(f"{how}, {err}; preamp {result.preamp:.1f} dB")
        print(f"--params={params}")
        return 0
    preset, where = _import_preset(args, result)
    print(f"imported {preset.name!r}: {how}, {err}; preamp {result.preamp:.1f} dB as output gain")
    print(f"{where} -> {preset.path}")
    return 0


def _import_preset(args: argparse.Namespace, result: object) -> tuple[object, str]:
    """Save the imported curve as a Manual-mode preset, its point on the map from the encoder."""
    from .. import presets
    from ..controls import CONTROL_SPECS, MODES, clamp_control
    from ..vae import core_models, load_family

    name = args.name or Path(args.input).stem
    try:
        presets.check_name(name)
    except presets.PresetError as exc:
        raise CliError(f"{exc} (choose one with --name)") from None
    r: Any = result
    models = core_models()
    controls = {s.name: float(s.default) for s in CONTROL_SPECS}
    controls["model"] = float(models.default_index)
    controls["mode"] = float(MODES.index("manual"))
    for i, v in enumerate(r.params):
        controls[f"p{i}"] = float(v)
    for b, on in enumerate(r.active):
        controls[f"active{b}"] = 1.0 if on else 0.0
    controls["out_gain"] = clamp_control("out_gain", r.preamp)
    where = "not on the map (no model)"
    try:
        model = load_family().default
        z = [float(v) for v in np.atleast_1d(model.encode(r.params))]
        extend = any(abs(v) > 2.0 for v in z)
        for key, v in zip(("x", "y", "z"), z, strict=False):
            controls[key] = clamp_control(key, v / 2.0 if extend else v)
        controls["extend"] = 1.0 if extend else 0.0
        point = ", ".join(f"{v:+.2f}" for v in z)
        where = f"on the map of {model.name} at ({point})"
    except Exception as exc:  # the map is a bonus: the preset's curve is exact without it
        where = f"not on the map ({' '.join(str(exc).split()) or type(exc).__name__})"
    preset = presets.Preset.from_controls(
        name, controls, models.names, models.anchor_labels, r.params
    )
    try:
        preset.path = presets.save(preset, overwrite=args.force)
    except presets.PresetError as exc:
        more = " (use --force to replace it)" if "already exists" in str(exc) else ""
        raise CliError(f"{exc}{more}") from None
    except OSError as exc:
        raise CliError(f"preset not saved: {exc}") from None
    return preset, where
