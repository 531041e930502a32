"""Match to a reference file: a small form, then listening (or reading), then the fit.

The input is a file, or the next N seconds of the engine's input read from the meters
block's input ring (``tui/capture.py``: shared memory only, the audio is never disturbed).
Files are read and the fit runs off the UI thread. Dismisses with the
:class:`floweq_tui.match.MatchResult`, or None when cancelled; a bad file or a silent input
is said in one line and the form stays open.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ... import match
from ..capture import RingRecorder
from ..offthread import off_thread

POLL_S = 0.05
STILL_S = 2.0
"""The ring not moving for this long means the engine's input is not running."""
MAX_LISTEN_S = 60.0


class MatchScreen(ModalScreen[Any]):
    """The match form; dismisses with a MatchResult or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#match-ref"

    def __init__(self, meters: Any, samplerate: float, model: Any, reference: str = "") -> None:
        super().__init__()
        self.meters = meters
        self.samplerate = float(samplerate or 48000)
        self.model = model
        self.reference = reference
        self.reference_used = reference
        """The reference of the last match started (the form's default next time)."""
        self.busy = False
        self.recorder: RingRecorder | None = None
        self._moved_at = 0.0
        self._timer: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(id="match-box", classes="dialog"):
            yield Static("[b]Match to a reference[/b]: the EQ that makes the input sound like it")
            yield Input(self.reference, placeholder="reference audio file", id="match-ref")
            yield Input(placeholder="input file (empty: the live input)", id="match-in")
            yield Input("5", placeholder="seconds of live input", id="match-secs")
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
        if self._timer is not None:
            self._timer.stop()
        self.dismiss(None)

    def start(self) -> None:
        if self.busy:
            return
        ref = self.query_one("#match-ref", Input).value.strip()
        src = self.query_one("#match-in", Input).value.strip()
        if not ref:
            self.say("give a reference audio file")
            return
        seconds = 0.0
        if not src:
            try:
                seconds = float(self.query_one("#match-secs", Input).value)
            except ValueError:
                seconds = -1.0
            if not match.MIN_SECONDS <= seconds <= MAX_LISTEN_S:
                self.say(f"seconds of live input: {match.MIN_SECONDS:g}-{MAX_LISTEN_S:g}")
                return
        self.busy = True
        self.reference_used = ref
        if src:
            self.run_worker(self._finish(ref, src, None), exclusive=True)
            return
        self.recorder = RingRecorder(self.meters, self.samplerate, seconds)
        self._moved_at = time.monotonic()
        self._timer = self.set_interval(POLL_S, self._poll)
        self.say(f"listening to the input: 0.0 / {seconds:g} s")

    def _poll(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        before = rec.got
        done = rec.poll()
        now = time.monotonic()
        if rec.got > before:
            self._moved_at = now
        if done:
            self._timer.stop()
            self.run_worker(self._finish(self.query_one("#match-ref", Input).value.strip(),
                                         None, rec), exclusive=True)  # fmt: skip
        elif now - self._moved_at > STILL_S:
            self._timer.stop()
            self.busy, self.recorder = False, None
            self.say("the engine's input is not running (no new samples): nothing to match")
        else:
            secs = rec.got / rec.samplerate
            self.say(f"listening to the input: {secs:.1f} / {rec.need / rec.samplerate:g} s")

    async def _finish(self, ref: str, src: str | None, rec: RingRecorder | None) -> None:
        self.say("matching…")
        try:
            if rec is not None:
                audio, rate = rec.audio(), rec.samplerate
            else:
                audio, rate = await off_thread(match.read_mono, src, "INPUT")
            ref_audio, ref_rate = await off_thread(match.read_mono, ref, "REFERENCE")
            fit = "both" if self.model is not None else "params"
            result = await off_thread(
                match.match, audio, rate, ref_audio, ref_rate, fit=fit, model=self.model,
                samplerate=self.samplerate,
            )  # fmt: skip
        except match.MatchError as exc:
            self.busy, self.recorder = False, None
            self.say(str(exc))
            return
        self.dismiss(result)
