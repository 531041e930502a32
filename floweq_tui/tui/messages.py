"""Messages between the widgets and the app."""

from __future__ import annotations

from textual.message import Message


class PointPicked(Message):
    """The user clicked/dragged on the latent map: set the point (displayed units)."""

    def __init__(self, x: float, y: float | None) -> None:
        super().__init__()
        self.x = x
        self.y = y


class ValueAdjusted(Message):
    """A group changed a control: redraw now rather than at the next tick."""


class AutomationCommand(Message):
    """The automation panel asks for a path or recording command ("waypoint", "arm", ...)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
