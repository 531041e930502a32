"""The automation screen in the real terminal: the installed `floweq-tui` in an 80x24 tmux
pane on the silent clock, a modulator from the command line, the screen opened with A, a
waypoint added with w, and the session saving it all on q."""

from __future__ import annotations

import json

import pytest
from test_tui_tmux import TMUX, _quit, floweq_tui_command, start_pane  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
]


def test_tmux_automation_screen(tmp_path, floweq_tui_command) -> None:  # noqa: F811
    args = "--silent --mode traverse --lfo x:sine:1/4:0.5 --bpm 120"
    with start_pane(tmp_path, args, floweq_tui_command) as p:
        p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
        p.keys("A")
        screen = p.wait(lambda t: "AUTOMATION" in t and "Motion" in t, 20, "the automation screen")
        assert "LFO 1   on  x        sine   note 1/4" in screen, screen
        # the engine moves the point: the map's title follows it (→ x,y)
        p.wait(lambda t: "→" in t and "◉" in t, 20, "the moving point")
        p.keys("Down", "Down", "Down", "Down", "Down", "w")  # Path row: add the point
        p.wait(lambda t: "1 pts" in t, 20, "a waypoint")
        p.keys("Escape")
        p.wait(lambda t: "BANDS" in t, 20, "back to the instrument")
        _quit(p)
        saved = json.loads((p.cfg / "floweq-tui" / "session.json").read_text())["controls"]
        assert saved["lfo1_on"] == 1 and saved["path_n"] == 1 and saved["bpm"] == 120
