"""MIDI control: a service process that maps knobs and buttons onto the shared controls.

UI-agnostic API (no textual here):

* :mod:`.mapping` -- pure: :class:`Binding`, :class:`Mapper` (decoding, soft takeover,
  feedback), :class:`Learner`, :func:`default_bindings`, :func:`default_mapping_table`;
* :mod:`.store` -- the TOML mapping file (per controller name), atomic writes;
* :mod:`.ports` -- API choice (ALSA / JACK), port listing and matching;
* :mod:`.state` -- what crosses the process boundary, typed: :class:`LinkState`,
  :class:`LinkInfo`, :class:`KnobInfo`, :class:`LearnPhase`, :class:`LearnState`,
  :class:`MidiStatus`;
* :mod:`.links` -- the service's ports: the controller and virtual links, hot-plug;
* :mod:`.learn` -- the service's learn state machine;
* :mod:`.service` -- the MIDI process itself (drain, feedback, dispatch table, loop);
* :mod:`.client` -- :class:`MidiProcess`, what ``Engine.midi`` is (status, knobs, learn).

Names are imported lazily, so importing the package (as the CLI does) costs nothing.
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
    "Conflict": "state",
    "KnobInfo": "state",
    "LearnPhase": "state",
    "LearnState": "state",
    "LinkInfo": "state",
    "LinkState": "state",
    "MidiStatus": "state",
    "default_path": "store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
