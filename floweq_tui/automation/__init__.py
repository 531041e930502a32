"""Automation, the Python side: modulator specs, note values and scene files.

The modulators themselves run in the engine's C core (``mod_kernel.c``, per block and every
64 samples); everything here only turns what a person types (``--lfo x:sine:1/4:0.5``, a
scene file) into values of the controls block's slots (``floweq_tui.controls``).
"""

from .scene import Scene, SceneError, dump_scene, load_scene, parse_scene
from .spec import (
    FigureSpec,
    LfoSpec,
    ModSpecError,
    describe_running,
    parse_lfo,
    parse_rate,
    parse_target,
)

__all__ = [
    "FigureSpec",
    "LfoSpec",
    "ModSpecError",
    "Scene",
    "SceneError",
    "describe_running",
    "dump_scene",
    "load_scene",
    "parse_lfo",
    "parse_rate",
    "parse_scene",
    "parse_target",
]
