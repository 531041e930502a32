"""Match to a reference file: a small form, then reading, then the fit.

The input is a file, or the last N seconds of the engine's input, taken at once from its
input history block (``tui/capture.py``: shared memory only, the audio is never
disturbed). Files are read and the fit runs off the UI thread. Dismisses with the
:class:`floweq_tui.match.MatchResult`, or None when cancelled; a bad file, or an input too
short or silent, is said in one line and the form stays open.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..capture import MIN_HEARD_S, CaptureError, Heard, history_seconds, last_seconds
from ..offthread import off_thread

MIN_LISTEN_S = MIN_HEARD_S


class MatchScreen(ModalScreen[Any]):
    """The match form; dismisses with a MatchResult or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#match-ref"

    def __init__(self, history: Any, samplerate: float, model: Any, reference: str = "") -> None:
        super().__init__()
        self.history = history
        """The engine's input history (``controls.History``), or None if it keeps none."""
        self.samplerate = float(samplerate or 48000)
        self.model = model
        self.reference = reference
        self.reference_used = reference
        """The reference of the last match started (the form's default next time)."""
        self.note = ""
        """What the last match from the live input said besides its result (less heard)."""
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="match-box", classes="dialog"):
            yield Static("[b]Match to a reference[/b]: the EQ that makes the input sound like it")
            yield Input(self.reference, placeholder="reference audio file", id="match-ref")
            yield Input(placeholder="input file (empty: the live input)", id="match-in")
            yield Input("5", placeholder="last seconds of live input", id="match-secs")
            with Horizontal(id="match-buttons"):
                yield Button("Match (enter)", id="match-go", variant="primary")
                yield Button("Cancel (esc)", id="match-cancel")
            yield Static("", id="match-msg")

    def say(self, text: str) -> None:
        self.query_one("#match-msg", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "match-go":
            self.start()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def start(self) -> None:
        if self.busy:
            return
        ref = self.query_one("#match-ref", Input).value.strip()
        src = self.query_one("#match-in", Input).value.strip()
        if not ref:
            self.say("give a reference audio file")
            return
        heard: Heard | None = None
        if not src:
            most = math.floor(history_seconds(self.history))
            try:
                seconds = float(self.query_one("#match-secs", Input).value)
            except ValueError:
                seconds = -1.0
            if most < MIN_LISTEN_S:
                self.say("the engine keeps no input history (history_seconds is 0)")
                return
            if not MIN_LISTEN_S <= seconds <= most:
                self.say(f"last seconds of live input: {MIN_LISTEN_S:g}-{most:g}")
                return
            try:
                heard = last_seconds(self.history, seconds)
            except CaptureError as exc:
                self.say(str(exc))
                return
        self.busy = True
        self.reference_used = ref
        self.note = heard.note() if heard is not None else ""
        self.run_worker(self._finish(ref, src or None, heard), exclusive=True)

    async def _finish(self, ref: str, src: str | None, heard: Heard | None) -> None:
        self.say(
            f"matching… ({heard.note()})" if heard is not None and heard.short else "matching…"
        )
        # imported on the worker: scipy's optimiser takes a while to load, and the UI starts
        # faster without it until a match is asked for
        match = await off_thread(importlib.import_module, "floweq_tui.match")
        try:
            if heard is not None:
                audio, rate = heard.audio, heard.samplerate
            else:
                audio, rate = await off_thread(match.read_mono, src, "INPUT")
            ref_audio, ref_rate = await off_thread(match.read_mono, ref, "REFERENCE")
            fit = "both" if self.model is not None else "params"
            result = await off_thread(
                match.match, audio, rate, ref_audio, ref_rate, fit=fit, model=self.model,
                samplerate=self.samplerate,
            )  # fmt: skip
        except match.MatchError as exc:
            self.busy = False
            self.say(str(exc))
            return
        self.dismiss(result)
