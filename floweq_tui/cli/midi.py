"""`floweq-tui midi`: list MIDI ports; show, import or export the mapping file."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import API_CHOICES, CliError


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "midi",
        help="list MIDI ports; show, import or export MIDI mappings",
        description="List the MIDI ports of every API that works here (ALSA, JACK), marking "
        "the one floweq-tui would take as the controller. With an option, show the default "
        "mapping or import/export the mapping file instead.",
    )
    m.add_argument("--midi-api", choices=API_CHOICES, default=None, help="only this API")
    m.add_argument("--defaults", action="store_true", help="print the default mapping")
    m.add_argument("--export", metavar="PATH", help="write the mapping file to PATH (TOML)")
    m.add_argument(
        "--import", dest="import_", metavar="PATH",
        help="merge the controllers in PATH into the mapping file",
    )  # fmt: skip
    m.set_defaults(func=cmd_midi)


def cmd_midi(args: argparse.Namespace) -> int:
    from ..midi import ports, store
    from ..midi.mapping import MappingError, default_mapping_table

    if args.defaults:
        for row in default_mapping_table():
            print(f"{row['label']:<12} {row['control']:<12} {row['source']}")
        return 0
    if args.export or args.import_:
        try:
            current = store.load()
            if args.import_:
                if not Path(args.import_).is_file():
                    raise CliError(f"cannot import {args.import_}: no such file")
                new = store.load(args.import_)
                for name, bindings in new.controllers.items():
                    current.set(name, bindings)
                path = store.save(current)
                print(f"imported {len(new.controllers)} controller(s) into {path}")
            if args.export:
                print(f"exported to {store.save(current, args.export)}")
        except (MappingError, OSError) as exc:
            raise CliError(str(exc)) from None
        return 0
    api = None if args.midi_api in (None, "auto") else args.midi_api
    print(ports.format_ports(api))
    print(f"mapping file: {store.default_path()}")
    return 0
