"""`A`: the automation screen: the panel of modulators, figure, path and motion recording
over the latent map (the centre, the moving point and the path)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from ..automation_control import AutomationControl
from ..automation_panel import AutomationPanel
from ..latent_map import LatentMap
from ..messages import AutomationCommand, ValueAdjusted

LOOK_S = 0.1
"""The screen looks at the engine this often (it draws only what changed)."""


class AutomationScreen(Screen[None]):
    DEFAULT_CSS = """
    AutomationScreen #auto-panel { height: 8; }
    AutomationScreen #auto-map { width: 1fr; height: 1fr; border-top: hkey $panel-lighten-2; }
    """
    BINDINGS = [Binding("escape,A", "app.pop_screen", "Back", show=True)]

    def __init__(self, auto: AutomationControl) -> None:
        super().__init__()
        self.auto = auto

    def compose(self) -> ComposeResult:
        yield AutomationPanel(self.auto.adjust, id="auto-panel")
        yield LatentMap(id="auto-map")
        yield Footer()

    def on_mount(self) -> None:
        self.panel = self.query_one(AutomationPanel)
        self.lmap = self.query_one("#auto-map", LatentMap)
        self.panel.focus()
        self.look()
        self.set_interval(LOOK_S, self.look)

    def look(self) -> None:
        """Feed the panel and the map (each redraws only when its inputs changed)."""
        self.panel.feed(self.auto.rows())
        feed_map(self.lmap, self.auto)

    def on_value_adjusted(self, message: ValueAdjusted) -> None:
        message.stop()
        self.look()

    def on_automation_command(self, message: AutomationCommand) -> None:
        self.auto.command(message.name)
        self.look()


def feed_map(lmap: LatentMap, auto: AutomationControl) -> None:
    """The latent map's inputs as the main screen draws them, plus the moving point and path."""
    ctrl = auto.ctrl
    point, encoded = ctrl.point()
    rng = 4.0 if (ctrl.get("extend") >= 0.5 and ctrl.mode == 0) else 2.0
    ab = (int(ctrl.get("anchor_a")), int(ctrl.get("anchor_b"))) if ctrl.mode == 1 else None
    lmap.feed(ctrl.dims, rng, point, tuple(ctrl.anchors()), ab, encoded)
    lmap.feed_motion(auto.moving_point(), tuple(auto.path_line()))
