"""MIDI control: a service process that maps knobs and buttons onto the shared controls.

UI-agnostic API (no textual here):

* :mod:`.mapping` -- pure: :class:`Binding`, :class:`Mapper` (decoding, soft takeover,
  feedback), :class:`Learner`, :func:`default_bindings`, :func:`default_mapping_table`;
* :mod:`.store` -- the TOML mapping file (per controller name), atomic writes;
* :mod:`.ports` -- API choice (ALSA / JACK), port listing and matching;
* :mod:`.service` -- the MIDI process itself;
* :mod:`.client` -- :class:`MidiProcess`, what ``Engine.midi`` is (status, knobs, learn).

Names are imported lazily so that ``floweq_tui.midi.cli`` stays cheap for the CLI parser.
See docs/midi.md.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "MidiError": "client",
    "MidiProcess": "client",
    "Binding": "mapping",
    "Event": "mapping",
    "Learner": "mapping",
    "Mapper": "mapping",
    "MappingError": "mapping",
    "default_bindings": "mapping",
    "default_mapping_table": "mapping",
    "MidiMap": "store",
    "default_path": "store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
