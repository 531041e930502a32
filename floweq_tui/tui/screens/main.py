"""The instrument: status, curve + latent map, control groups, bands, meters, footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from ..bands import BandsView
from ..control_group import ControlGroup
from ..controller import Controller
from ..curve import CurveView
from ..latent_map import LatentMap
from ..meters import LineView
from ..rows import KeptLines

GROUP_TITLES = {
    "mode": "MODE",
    "latent": "LATENT",
    "semantic": "SEMANTIC",
    "level": "LEVEL",
    "auto": "AUTO GAIN",
}
NARROW, SHORT, TINY = 70, 19, 14


class KeptRow(KeptLines, Horizontal):
    """A row of widgets; its own lines (background) are drawn once, not with every frame."""


class KeptFooter(KeptLines, Footer):
    """The footer; its own lines (background) are drawn once, not with every frame (Textual
    asks every widget on the screen for all its lines whenever a line under it changes)."""


class MainScreen(KeptLines, Screen[None]):
    def __init__(self, ctrl: Controller) -> None:
        super().__init__()
        self.ctrl = ctrl
        self.ready = False

    def compose(self) -> ComposeResult:
        yield LineView(id="status")
        with KeptRow(id="top"):
            yield CurveView(id="curve")
            yield LatentMap(id="map")
        with KeptRow(id="groups"):
            for key, items in self.ctrl.groups().items():
                yield ControlGroup(GROUP_TITLES[key], items, id=f"g-{key}")
        yield BandsView(self.ctrl, id="bands")
        yield LineView(id="meters")
        yield KeptFooter()

    def on_mount(self) -> None:
        self.query_one("#g-semantic", ControlGroup).enabled = lambda: self.ctrl.mode == 1
        self.query_one("#g-latent", ControlGroup).enabled = lambda: self.ctrl.mode == 0
        self.query_one("#g-latent", ControlGroup).focus()
        self.apply_size(self.size.width, self.size.height)
        self.curve = self.query_one("#curve", CurveView)
        self.lmap = self.query_one("#map", LatentMap)
        self.groups = list(self.query(ControlGroup))
        self.bands = self.query_one("#bands", BandsView)
        self.status_line = self.query_one("#status", LineView)
        self.meters_line = self.query_one("#meters", LineView)
        self.ready = True
        self.app.refresh_from_engine(force=True)  # type: ignore[attr-defined]

    def on_resize(self, event: object) -> None:
        self.apply_size(self.size.width, self.size.height)

    def apply_size(self, width: int, height: int) -> None:
        """Degrade below 80x24: hide the map when narrow, bands then groups when short."""
        self.set_class(width < NARROW, "narrow")
        for footer in self.query(Footer):
            footer.compact = width < 80
        self.set_class(height < SHORT, "short")
        self.set_class(height < TINY, "tiny")
