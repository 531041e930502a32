"""`floweq-tui midi` (list ports, show/import/export mappings) and the MIDI options."""

from __future__ import annotations

import argparse
from typing import Any

API_CHOICES = ("auto", "alsa", "jack")


def add_options(p: argparse.ArgumentParser) -> None:
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


def config_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The EngineConfig MIDI fields from the parsed options (absent options: defaults)."""
    api = getattr(args, "midi_api", None)
    return {
        "midi": not getattr(args, "no_midi", False),
        "midi_in": getattr(args, "midi_in", None),
        "midi_out": getattr(args, "midi_out", None),
        "midi_api": None if api in (None, "auto") else api,
    }


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
    from ..cli import CliError
    from . import ports, store
    from .mapping import MappingError, default_mapping_table

    if args.defaults:
        for row in default_mapping_table():
            print(f"{row['label']:<12} {row['control']:<12} {row['source']}")
        return 0
    if args.export or args.import_:
        try:
            current = store.load()
            if args.import_:
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


def midi_summary(engine: Any, timeout: float = 10.0) -> str:
    """One line about MIDI for the headless mode ('' when MIDI is off)."""
    midi = getattr(engine, "midi", None)
    if midi is None:
        return ""
    try:
        midi.ready(timeout)
        return midi.status().summary()
    except Exception as exc:
        return f"MIDI: {exc}"
