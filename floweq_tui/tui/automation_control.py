"""What the automation panel and keys do to the engine, without Textual: step its fields,
build the path from points on the map, drive the motion recorder, and say what the latent
map draws (the moving point and the path)."""

from __future__ import annotations

from typing import Any

from ..automation.path import Waypoint, path_controls, path_polyline, waypoint
from ..automation.path import waypoints_from_controls as _waypoints
from ..automation.recorder import ARMED, RECORDING, MotionRecorder
from ..controls import CONTROL_SPEC, N_WAYPOINTS
from .automation_rows import Row, automation_rows
from .controller import Controller


class _LiveControls:
    """The engine's controls block as it is now (a restarted engine may bring a new one)."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl

    def __getitem__(self, name: str) -> float:
        return self.ctrl.get(name)

    def __setitem__(self, name: str, value: float) -> None:
        self.ctrl.set(name, value)


class AutomationControl:
    """The UI's automation model over a :class:`Controller`."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl
        self.live = _LiveControls(ctrl)
        self.recorder = MotionRecorder(self.live)
        self._line: tuple[tuple[Waypoint, ...], list[tuple[float, float]]] | None = None

    # ------------------------------------------------------------ the panel

    def rows(self) -> list[Row]:
        return automation_rows(self.live, self.ctrl.engine.meters, tuple(self.path_labels()))

    def adjust(self, control: str, direction: int, coarse: bool = False) -> None:
        """Step (or toggle) one of the panel's controls; switching the path on moves to
        Traverse, where the path is heard; arming records from the next bar."""
        spec = CONTROL_SPEC[control]
        if control == "path_on" and self.ctrl.get("path_on") < 0.5 and self.ctrl.mode != 0:
            self.ctrl.set_mode(0)
            self.ctrl.notice("path: switched to Traverse")
        if control == "rec_arm":
            self.arm()
            return
        if spec.kind == "bool":
            self.ctrl.toggle(control)
        else:
            self.ctrl.nudge(control, direction, coarse)

    # ------------------------------------------------------------ the path

    def waypoints(self) -> list[Waypoint]:
        return _waypoints(self.live)

    def _scale(self) -> float:
        return 2.0 if (self.ctrl.get("extend") >= 0.5 and self.ctrl.mode == 0) else 1.0

    def add_waypoint(self, point: tuple[float, ...], label: str = "") -> bool:
        """Append a waypoint (a latent point as the map shows it); False when full."""
        pts = self.waypoints()
        if len(pts) >= N_WAYPOINTS:
            self.ctrl.notice(f"path: at most {N_WAYPOINTS} waypoints (d drops the last)")
            return False
        pts.append(waypoint(point, label, self._scale()))
        for k, v in path_controls(pts).items():
            self.ctrl.set(k, v)
        self.ctrl.notice(f"path: waypoint {len(pts)} {label or ''}".rstrip())
        return True

    def add_current(self) -> bool:
        """The point now: in Manual mode the manual setting placed by the encoder."""
        point, encoded = self.ctrl.point()  # latent units, as the map shows them
        return self.add_waypoint(point, "manual" if encoded else "point")

    def add_anchor(self) -> bool:
        """Semantic anchor A (chosen with [ ]) as the next waypoint."""
        anchors = self.ctrl.anchors()
        i = int(self.ctrl.get("anchor_a"))
        if not 0 <= i < len(anchors):
            self.ctrl.notice("path: this model has no anchors")
            return False
        label, _, z = anchors[i]
        return self.add_waypoint(tuple(z), label)

    def drop(self) -> None:
        n = len(self.waypoints())
        if n:
            self.ctrl.set("path_n", n - 1)

    def path_labels(self) -> list[str]:
        """Each waypoint's anchor label when it sits on one (else "")."""
        scale = self._scale()
        anchors = [(label, tuple(v / scale for v in z)) for label, _, z in self.ctrl.anchors()]
        out = []
        for w in self.waypoints():
            name = ""
            for label, z in anchors:
                zz = (*z, 0.0, 0.0)[:3]
                if max(abs(a - b) for a, b in zip(w.xyz, zz, strict=True)) < 1e-6:
                    name = label
                    break
            out.append(name)
        return out

    def path_line(self) -> list[tuple[float, float]]:
        """The path as the map draws it (latent units as shown), [] without one."""
        pts = tuple(self.waypoints())
        if self.ctrl.get("path_on") < 0.5 or not pts:
            return []
        if self._line is None or self._line[0] != pts:
            self._line = (pts, path_polyline(pts))
        s = self._scale()
        return [(x * s, y * s) for x, y in self._line[1]]

    def moving_point(self) -> tuple[float, float] | None:
        """The point the modulators, the path or the recording move now (latent units as the
        map shows them), or None while nothing moves it (Traverse only)."""
        if self.ctrl.mode != 0:
            return None
        c, m = self.live, self.ctrl.engine.meters
        moving = (
            m["mods_running"] >= 0.5
            or (c["path_on"] >= 0.5 and c["path_n"] >= 1)
            or (c["rec_play"] >= 0.5 and c["rec_n"] >= 2)
        )
        if not moving:
            return None
        s = self._scale()
        return (round(m["mod_x"] * s, 3), round(m["mod_y"] * s, 3))

    # ------------------------------------------------------------ motion recording

    def arm(self) -> None:
        """Record from the next bar; again while armed or recording: cancel the take."""
        if self.recorder.state in (ARMED, RECORDING) or self.ctrl.get("rec_arm") >= 0.5:
            self.recorder.cancel()
            self.ctrl.notice("motion: take cancelled")
        else:
            self.recorder.arm()
            target = self.recorder.targets
            self.ctrl.notice(f"motion: armed, records {target} from the next bar")

    def undo(self) -> None:
        self.ctrl.notice("motion: undone" if self.recorder.undo() else "motion: nothing to undo")

    def clear(self) -> None:
        self.recorder.clear()
        self.ctrl.notice("motion: cleared (u undoes)")

    def tick(self) -> bool:
        """Let the recorder look at the beat; True while a take is armed or running (the
        app then looks often)."""
        if self.recorder.busy:
            self.recorder.tick(self.ctrl.engine.meters["beat"])
        elif self.ctrl.get("rec_play") >= 0.5 or self.ctrl.get("rec_state") != 0:
            self.recorder.tick(self.ctrl.engine.meters["beat"])  # play/stop state
        return self.recorder.busy

    def command(self, name: str) -> None:
        """A key's command: waypoint, anchor, drop, arm, undo, clear."""
        actions: dict[str, Any] = {
            "waypoint": self.add_current,
            "anchor": self.add_anchor,
            "drop": self.drop,
            "arm": self.arm,
            "undo": self.undo,
            "clear": self.clear,
        }
        actions[name]()
