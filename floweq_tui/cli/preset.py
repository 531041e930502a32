"""`floweq-tui preset list|show|save|rm`: the preset files from the command line.

`save` stores the last session's sound (what the instrument played when it last closed)
with any equalizer options given on top, or another preset's (``--preset``) with them.
"""

from __future__ import annotations

import argparse
import sys

from .options import CliError, add_control_options, control_values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preset",
        help="list, show, save or remove presets (docs/presets.md)",
        description="Presets are TOML files in $XDG_DATA_HOME/floweq-tui/presets (one a "
        "preset). Recall one at start with `floweq-tui --preset NAME`, from the UI's browser "
        "(key P) or by MIDI Program Change.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="every preset, one a line (bad files reported)")
    ls.set_defaults(func=cmd_list)
    show = actions.add_parser("show", help="a preset's summary and its file")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=cmd_show)
    save = actions.add_parser(
        "save",
        help="save the last session's sound (with any equalizer options on top) as NAME",
        description="Save as NAME the sound of the last session (or of --preset), with the "
        "equalizer and automation options given here on top.",
    )
    save.add_argument("name", metavar="NAME")
    save.add_argument("-f", "--force", action="store_true", help="replace a preset NAME")
    add_control_options(save)
    save.set_defaults(func=cmd_save)
    rm = actions.add_parser("rm", help="remove a preset")
    rm.add_argument("name", metavar="NAME")
    rm.set_defaults(func=cmd_rm)


def cmd_list(args: argparse.Namespace) -> int:  # noqa: ARG001
    from .. import presets

    found, problems = presets.list_presets()
    for p in found:
        print(f"{p.name:<24} {p.describe()}")
    for line in problems:
        print(f"floweq-tui: skipped {line}", file=sys.stderr)
    if not found:
        print(f"no presets in {presets.presets_dir()}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .. import presets

    try:
        p = presets.load(args.name)
    except presets.PresetError as exc:
        raise CliError(str(exc)) from None
    print(f"# {p.describe()}")
    print(f"# {p.path}")
    print(p.path.read_text(encoding="utf-8") if p.path else presets.dumps(p), end="")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    from .. import presets
    from ..controls import CONTROL_SPECS
    from ..session import controls_from_session, load_session
    from ..vae import core_models

    try:
        presets.check_name(args.name)
    except presets.PresetError as exc:
        raise CliError(str(exc)) from None
    models = core_models()
    controls = {s.name: float(s.default) for s in CONTROL_SPECS}
    controls["model"] = float(models.default_index)
    data, _ = load_session()  # read only: a bad session file is the instrument's to keep aside
    if data is not None:
        controls.update(controls_from_session(data, models.names, models.anchor_labels))
    controls.update(control_values(args, models.names, models.anchor_labels))
    preset = presets.Preset.from_controls(
        args.name, controls, models.names, models.anchor_labels,
        presets.params_in_effect(controls, models),
    )  # fmt: skip
    try:
        path = presets.save(preset, overwrite=args.force)
    except presets.PresetError as exc:
        more = " (use --force to replace it)" if "already exists" in str(exc) else ""
        raise CliError(f"{exc}{more}") from None
    except OSError as exc:
        raise CliError(f"preset not saved: {exc}") from None
    print(f"saved {preset.name!r}: {preset.describe()} -> {path}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from .. import presets

    try:
        presets.delete(args.name)
    except presets.PresetError as exc:
        raise CliError(str(exc)) from None
    print(f"removed {args.name!r}")
    return 0
