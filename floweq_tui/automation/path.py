"""Paths (the "SuperKnob" of Morena & Perego): an ordered list of waypoints in the latent
map, and one control, ``path_pos`` 0-1, that moves the point along a smooth curve through
them. The curve itself is evaluated by the engine (``path_kernel.c``), from the waypoint
slots of the controls block that this module fills and reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..controls import N_WAYPOINTS
from .spec import ModSpecError

LATENT_MAX = 2.0
"""Waypoints are in control units, x, y and z each in -2..2 (as the x/y/z controls)."""


@dataclass(frozen=True)
class Waypoint:
    """One point of a path, in control units; ``label`` says where it came from."""

    x: float
    y: float
    z: float = 0.0
    label: str = ""

    @property
    def xyz(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.z)


def _clamp(v: float) -> float:
    return min(max(float(v), -LATENT_MAX), LATENT_MAX)


def waypoint(point: Sequence[float], label: str = "", scale: float = 1.0) -> Waypoint:
    """A waypoint from a latent point (1-3 values; divided by ``scale``: 2 with Extend, so the
    point stays where it is on the map), clamped to the controls' range."""
    vals = [float(v) / scale for v in point][:3]
    if not vals or not all(math.isfinite(v) for v in vals):
        raise ModSpecError(f"waypoint {list(point)!r} is not a point")
    vals += [0.0] * (3 - len(vals))
    return Waypoint(_clamp(vals[0]), _clamp(vals[1]), _clamp(vals[2]), label)


def path_controls(points: Sequence[Waypoint]) -> dict[str, float]:
    """The path's slots: ``path_n`` and the waypoints (unused slots zeroed)."""
    if len(points) > N_WAYPOINTS:
        raise ModSpecError(f"{len(points)} waypoints: a path holds at most {N_WAYPOINTS}")
    out: dict[str, float] = {"path_n": float(len(points))}
    for k in range(N_WAYPOINTS):
        p = points[k].xyz if k < len(points) else (0.0, 0.0, 0.0)
        for a, v in zip("xyz", p, strict=True):
            out[f"path_wp{k}_{a}"] = v
    return out


def waypoints_from_controls(c: Mapping[str, float]) -> list[Waypoint]:
    """The path's waypoints as the controls hold them."""
    n = int(min(max(c["path_n"], 0), N_WAYPOINTS))
    return [Waypoint(*(c[f"path_wp{k}_{a}"] for a in "xyz")) for k in range(n)]


def resolve_points(
    items: Sequence[str | Sequence[float]],
    anchors: Mapping[str, Sequence[float]],
    current: Sequence[float] | None = None,
    scale: float = 1.0,
) -> list[Waypoint]:
    """Waypoints from what a scene or a person names: an anchor label ("warm"), "current"
    (the point now), or a point [x, y(, z)] in control units."""
    out: list[Waypoint] = []
    for item in items:
        if isinstance(item, str):
            name = item.strip()
            if name == "current":
                if current is None:
                    raise ModSpecError("waypoint 'current': no current point here")
                out.append(waypoint(current, "current"))
            elif name in anchors:
                out.append(waypoint(anchors[name], name, scale))
            else:
                have = ", ".join(sorted(anchors)) or "none"
                raise ModSpecError(f"no anchor {name!r} for a waypoint (have: {have}, current)")
        elif isinstance(item, Sequence) and 1 <= len(item) <= 3:
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in item):
                raise ModSpecError(f"waypoint {list(item)!r} is not [x, y] or [x, y, z]")
            out.append(waypoint(item))
        else:
            raise ModSpecError(f"waypoint {item!r} is neither an anchor name nor [x, y(, z)]")
    if len(out) > N_WAYPOINTS:
        raise ModSpecError(f"{len(out)} waypoints: a path holds at most {N_WAYPOINTS}")
    return out


def path_polyline(points: Sequence[Waypoint], steps: int = 48) -> list[tuple[float, float]]:
    """(x, y) samples of the curve the engine follows (for drawing it on the map)."""
    from .. import _dsp

    if not points:
        return []
    wps = [p.xyz for p in points]
    return [_dsp.path_point(wps, i / steps)[:2] for i in range(steps + 1)]
