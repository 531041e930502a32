"""`floweq-tui match INPUT REFERENCE`: the EQ that makes INPUT sound like REFERENCE.

Prints the fits (or one JSON object with ``--json``) and, with ``--save``, writes the result
into the session the instrument restores at start (or into a given file of that format).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from .options import CliError

ROUGH_DB = 3.0
"""A best fit further off than this gets a note (the material may simply differ)."""


def _smoothing(text: str) -> float:
    """Octaves as a number or a fraction: 1/3, 1/6, 0.5, 0 (no smoothing)."""
    try:
        v = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number of octaves: {text!r}") from None
    if not 0.0 <= v <= 4.0:
        raise argparse.ArgumentTypeError(f"smoothing must be 0-4 octaves, not {text}")
    return v


def _amount(text: str) -> float:
    """0-100 (%), with or without a % sign."""
    try:
        v = float(text.strip().rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not (math.isfinite(v) and 0.0 <= v <= 100.0):
        raise argparse.ArgumentTypeError(f"amount must be 0-100 %, not {text}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    """Add `match` to the top-level parser."""
    m = sub.add_parser(
        "match",
        help="find the EQ (13 parameters and a point on the map) that makes INPUT sound "
        "like REFERENCE",
        description="Compare the long-term average spectra of INPUT and REFERENCE (loudness "
        "normalised, smoothed), and fit the five bands and the nearest point of a model's "
        "latent map to the difference. Prints each fit and its residual in dB.",
    )
    m.add_argument("input", metavar="INPUT", help="the audio to be EQ'd (WAV/FLAC/OGG)")
    m.add_argument("reference", metavar="REFERENCE", help="the audio it should sound like")
    m.add_argument(
        "--amount", type=_amount, default=100.0, metavar="PCT",
        help="how much of the match to apply, 0-100 %% (scales the gains as strength does; "
        "default 100)",
    )  # fmt: skip
    m.add_argument(
        "--smoothing", type=_smoothing, default=1 / 3, metavar="OCT",
        help="spectral smoothing in octaves: 1/3 (default), 1/6, 1, 0 = none",
    )  # fmt: skip
    m.add_argument(
        "--fit", choices=("both", "params", "latent"), default="both",
        help="the 13 parameters, the point on the map, or both (default)",
    )  # fmt: skip
    m.add_argument("--model", metavar="NAME", help="model for the latent fit (default: default)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument(
        "--save", nargs="?", const="", default=None, metavar="FILE",
        help="save the result as a session: into the one the instrument restores at start "
        "(no FILE), or into FILE",
    )  # fmt: skip
    m.add_argument(
        "--preset", metavar="NAME",
        help="save the result as the preset NAME (docs/presets.md; --force replaces one)",
    )  # fmt: skip
    m.add_argument("--force", action="store_true", help="with --preset: replace a preset")
    m.set_defaults(func=cmd_match)


def _fmt_params(p: Any) -> str:
    from ..params import PARAMS

    out = []
    for spec, v in zip(PARAMS, p, strict=True):
        if spec.kind == "freq":
            out.append(f"{spec.key}={v:.0f}")
        elif spec.kind == "q":
            out.append(f"{spec.key}={v:.2f}")
        else:
            out.append(f"{spec.key}={v:+.1f}")
    return " ".join(out)


def cmd_match(args: argparse.Namespace) -> int:
    from .. import match

    try:
        model = None if args.fit == "params" else match.load_model(args.model)
        res = match.match_files(
            args.input,
            args.reference,
            amount=args.amount / 100.0,
            smoothing=args.smoothing,
            fit=args.fit,
            model=model,
        )
    except match.MatchError as exc:
        raise CliError(str(exc)) from None
    saved = _save(res, model, args.save) if args.save is not None else None
    if args.preset is not None:
        saved = _save_preset(res, model, args.preset, args.force)
    if args.json:
        out = res.to_json()
        out["saved"] = str(saved) if saved else None
        print(json.dumps(out))
        return 0
    print(
        f"target: reference is {res.level_db:+.1f} dB louder; smoothing "
        f"{res.smoothing:.3g} oct; amount {100 * res.amount:.0f} %; flat EQ error "
        f"{res.flat_error_db:.2f} dB"
    )
    if res.params is not None:
        print(
            f"params  error {res.params.error_db:.2f} dB (max {res.params.max_error_db:.1f}): "
            f"{_fmt_params(res.params.played)}"
        )
    if res.latent is not None and res.latent.z is not None:
        z = ", ".join(f"{v:+.2f}" for v in res.latent.z)
        print(
            f"latent  error {res.latent.error_db:.2f} dB (max {res.latent.max_error_db:.1f}): "
            f"{res.latent.model} at ({z})"
        )
    best = min(f.error_db for f in (res.params, res.latent) if f is not None)
    if best > ROUGH_DB:
        print(
            f"note: the best fit is {best:.1f} dB off: the two spectra differ more than five "
            "bands can follow (very different material?)"
        )
    if saved:
        print(f"saved -> {saved}")
    return 0


def _save(res: Any, model: Any, dest: str) -> Path:
    """Merge the result's controls into a session file (the instrument's by default)."""
    from .. import match
    from ..paths import keep_aside
    from ..session import load_session, save_session, session_path

    path = Path(dest) if dest else session_path()
    data, notice = load_session(path)
    if data is None:
        if notice:
            kept = keep_aside(path)
            print(f"floweq-tui: {notice}; kept as {kept}", file=sys.stderr)
        data = {"version": 1, "controls": {}}
    data["controls"].update(match.session_controls(res))
    if model is not None and res.latent is not None:
        data["model_name"] = model.name
        data["controls"].pop("model", None)  # restored by name
    try:
        save_session(data, path)
    except OSError as exc:
        raise CliError(f"cannot save {path}: {exc}") from None
    return path


def _save_preset(res: Any, model: Any, name: str, force: bool) -> Path:
    """The result as a preset (the sound it plays, on the default sound otherwise)."""
    from .. import match, presets
    from ..controls import CONTROL_SPECS
    from ..vae import core_models

    models = core_models()
    controls = {s.name: float(s.default) for s in CONTROL_SPECS}
    controls["model"] = float(models.default_index)
    controls.update(models.default_anchors)
    index = (
        models.names.index(model.name) if model is not None and model.name in models.names else None
    )
    controls.update(match.session_controls(res, index))
    try:
        preset = presets.Preset.from_controls(
            name, controls, models.names, models.anchor_labels,
            presets.params_in_effect(controls, models),
        )  # fmt: skip
        return presets.save(preset, overwrite=force)
    except presets.PresetError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot save the preset {name!r}: {exc}") from None
