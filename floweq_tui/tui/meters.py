"""The status line (mode, engine state, device) and the meters line (peaks, loudness,
auto gain, clip counter, CPU, xruns). Both are plain one-line texts, redrawn on change."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.style import Style
from textual.widget import Widget

from .rows import Row, RowsView

if TYPE_CHECKING:
    from ..engine import EngineStatus
    from .midi_view import MidiState

S_MODE = Style(color="#000000", bgcolor="#ffcc33", bold=True)
S_STATE_OK = Style(color="#7bd389", bold=True)
S_STATE_WARN = Style(color="#ffd23f", bold=True)
S_STATE_BAD = Style(color="#ff5f5f", bold=True)
S_INFO = Style(color="#a0a8b0")
S_BAD = Style(color="#ff5f5f", bold=True)


def dbfs(v: float) -> str:
    return f"{20 * math.log10(v):+.1f}" if v > 1e-6 else " -inf"


def lufs(v: float) -> str:
    return f"{v:.1f}" if v > -150 else "-inf"


MIDI_STYLES = {"ok": S_INFO, "warn": S_STATE_WARN, "bad": S_STATE_BAD, "off": S_INFO}


def status_parts(
    mode: str,
    state: str,
    st: EngineStatus,
    model: str,
    midi: MidiState | None = None,
    width: int = 0,
) -> list[tuple[str, Style]]:
    """The status line. ``midi`` is a :class:`~.midi_view.MidiState` (None: the engine has no
    MIDI); with a ``width`` the MIDI part shortens, then the rate/block part, to fit."""
    base = _status_base(mode, state, st, model, rate=2)
    if midi is None:
        return base
    style = MIDI_STYLES.get(midi.level, S_INFO)
    forms = midi.forms()
    options = [(2, f) for f in forms] + [(r, forms[-1]) for r in (1, 0, -1)]
    for rate, text in options:
        parts = base if rate == 2 else _status_base(mode, state, st, model, rate=rate)
        out = [*parts, (f" │ {text}", style)]
        if not width or sum(len(p) for p, _ in out) <= width:
            return out
    return out


def _status_base(
    mode: str, state: str, st: EngineStatus, model: str, rate: int
) -> list[tuple[str, Style]]:
    """``rate``: 2 "48 kHz 128 fr", 1 "48k/128", 0 also the host API's first word only,
    -1 no rate either."""
    device = st.device or "-"
    host, sr, bs = st.hostapi, st.samplerate, st.blocksize
    sstyle = (
        S_STATE_OK if state == "running" else (S_STATE_WARN if "silent" in state else S_STATE_BAD)
    )
    dev = device if device != "silent clock" or "silent" not in state else ""
    out = [(f" {mode.upper()} ", S_MODE), (" ", S_INFO), (state, sstyle)]
    if rate <= 0 and len(host) > 8:
        host = host.split()[0]  # "JACK Audio Connection Kit" -> "JACK"
    if dev:
        out.append((f" │ {dev}" + (f" ({host})" if host else ""), S_INFO))
    rate_text = ""
    if rate >= 2:
        rate_text = f" │ {sr / 1000:g} kHz {bs} fr"
    elif rate >= 0:
        rate_text = f" │ {sr / 1000:g}k/{bs}"
    out.append((f"{rate_text} │ {model}", S_INFO))
    return out


def meter_parts(
    m: dict[str, float], auto_on: bool, width: int = 80, tempo: str = ""
) -> list[tuple[str, Style]]:
    """The meter line; ``tempo`` (the controller's ``tempo_tag``) goes at its end when it fits."""
    parts = _meter_parts(m, auto_on, width)
    if tempo and sum(len(p) for p, _ in parts) + len(tempo) <= width:
        parts.append((tempo, S_INFO))
    return parts


def _meter_parts(m: dict[str, float], auto_on: bool, width: int) -> list[tuple[str, Style]]:
    clip = int(m.get("limited", 0))
    xr = int(m.get("xruns", 0))
    cpu = 100 * m.get("cpu", 0.0)
    ag = m.get("auto_gain_db", 0.0)
    if width < 78:  # compact: peak/loudness pairs, short names
        return [
            (f"in {dbfs(m.get('peak_in', 0))}/{lufs(m.get('lufs_in', -200))}", S_INFO),
            (f" out {dbfs(m.get('peak_out', 0))}/{lufs(m.get('lufs_out', -200))}", S_INFO),
            (f" ag {ag:+.1f}" if auto_on else " ag off", S_INFO),
            (f" clip {clip}", S_BAD if clip else S_INFO),
            (f" cpu {cpu:.0f}%", S_BAD if cpu > 70 else S_INFO),
            (f" xr {xr}", S_BAD if xr else S_INFO),
        ]
    return [
        (f" in {dbfs(m.get('peak_in', 0))}dB {lufs(m.get('lufs_in', -200))}LU", S_INFO),
        (f"  out {dbfs(m.get('peak_out', 0))}dB {lufs(m.get('lufs_out', -200))}LU", S_INFO),
        (f"  auto {ag:+.1f}dB" if auto_on else "  auto off", S_INFO),
        (f"  clip {clip}", S_BAD if clip else S_INFO),
        (f"  cpu {cpu:.1f}%", S_BAD if cpu > 70 else S_INFO),
        (f"  xruns {xr}", S_BAD if xr else S_INFO),
    ]


Parts = list[tuple[str, Style]]


class LineView(RowsView, Widget):
    """One line of styled parts, laid out for the width the line has when it is drawn.

    ``feed(layout)`` hands it ``layout(width) -> parts``. The line is laid out again in
    ``render`` at its width then, never at a width read earlier: before the first layout
    settles (or after a resize) the width the caller could read is not the one drawn.
    """

    DEFAULT_CSS = "LineView { height: 1; width: 1fr; }"
    ELLIPSIS = True

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self._layout: Callable[[int], Parts] = lambda width: []
        self._parts: Parts = []

    def feed(self, layout: Callable[[int], Parts]) -> None:
        """Take a new layout; redraw if it lays out differently at the current width."""
        self._layout = layout
        parts = layout(self.size.width)
        if parts != self._parts:
            self._parts = parts
            self.rows_changed()

    @property
    def plain(self) -> str:
        return "".join(p for p, _ in self._layout(self.size.width))

    def draw_rows(self) -> list[Row]:
        self._parts = self._layout(self.size.width)
        return [list(self._parts)]
