"""The audio engine, split along its process boundary.

- :mod:`.config`: the typed state both sides share (EngineConfig, EngineStatus, EngineState,
  EngineError);
- :mod:`.client`: :class:`Engine`, the parent side (start, controls, meters, requests,
  supervision of the engine and MIDI processes);
- :mod:`.process`: the engine process itself (the stream or silent clock, the dispatch table).
"""

from .client import ENGINE, MIDI, Engine, EngineProcess
from .config import EXIT_DEVICE_LOST, EngineConfig, EngineError, EngineState, EngineStatus

__all__ = [
    "ENGINE",
    "EXIT_DEVICE_LOST",
    "MIDI",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineProcess",
    "EngineState",
    "EngineStatus",
]
