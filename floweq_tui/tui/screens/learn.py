"""MIDI learn: a small modal that waits for a knob or button, and a yes/no for conflicts.

The MIDI process is asked from a worker thread (``asyncio.to_thread``), so a slow or dead
MIDI process never blocks the UI; learn_status is polled on a timer.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...midi.state import LearnPhase, LearnState
from ..midi_view import conflict_question, control_label
from ..offthread import off_thread

POLL_S = 0.1
WAIT_SHOWN_S = 3.0  # the waiting time shows from then on
ENDED = (LearnPhase.DONE, LearnPhase.CANCELLED, LearnPhase.TIMEOUT, LearnPhase.ERROR)


class ConfirmScreen(ModalScreen[bool]):
    """A question answered with y (or enter on Yes) / n / Esc."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    AUTO_FOCUS = "#no"  # enter keeps the old binding

    def __init__(self, question: str, yes: str = "Replace (y)", no: str = "Keep (n)") -> None:
        super().__init__()
        self.question = question
        self.labels = (yes, no)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(self.question, id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button(self.labels[0], id="yes", variant="warning")
                yield Button(self.labels[1], id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class LearnScreen(ModalScreen[LearnState]):
    """Shown while learn waits; dismisses with the final :class:`LearnState` (DONE,
    CANCELLED, TIMEOUT, KEPT after a conflict, or ERROR when the MIDI process failed)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel learn")]

    def __init__(self, midi: Any, control: str) -> None:
        super().__init__()
        self.midi = midi
        self.control = control
        self.started = time.monotonic()
        self._busy = False
        self._finished = False
        self._asking = False

    def compose(self) -> ComposeResult:
        with Vertical(id="learn-box", classes="dialog"):
            yield Static(
                f"[b]MIDI learn[/b]: turn a knob a few steps or press a button for "
                f"[b]{control_label(self.control)}[/b]…  Esc cancels",
                id="learn-text",
            )
            yield Static("", id="learn-wait")

    def on_mount(self) -> None:
        self.timer = self.set_interval(POLL_S, self.poll)

    async def _call(self, name: str, *args: Any, **kw: Any) -> LearnState:
        try:
            return await off_thread(getattr(self.midi, name), *args, **kw)
        except Exception as exc:  # the MIDI process died or answered an error
            error = str(exc).splitlines()[0] if str(exc) else name
            return LearnState(LearnPhase.ERROR, control=self.control, error=error)

    def _finish(self, result: LearnState) -> None:
        if not self._finished:
            self._finished = True
            self.timer.stop()
            self.dismiss(result)

    async def poll(self) -> None:
        if self._busy or self._finished or self._asking:
            return
        self._busy = True
        try:
            st = await self._call("learn_status")
        finally:
            self._busy = False
        if self._finished or self._asking:
            return
        phase = st.phase
        if phase is LearnPhase.WAITING:
            waited = time.monotonic() - self.started
            parts = [st.hint] if st.hint else []
            if waited >= WAIT_SHOWN_S:  # a learn that takes a while says so
                parts.append(f"waiting {waited:.0f} s")
            self.query_one("#learn-wait", Static).update(" · ".join(parts))
        elif phase is LearnPhase.CONFLICT:
            self._asking = True
            self.conflict = st
            self.app.push_screen(ConfirmScreen(conflict_question(st)), self._answered)
        elif phase in ENDED:
            self._finish(st)
        else:  # idle: someone else ended it
            self._finish(replace(st, phase=LearnPhase.CANCELLED))

    def _answered(self, yes: bool | None) -> None:
        self.run_worker(self._resolve(bool(yes)), exclusive=True)

    async def _resolve(self, yes: bool) -> None:
        if yes:
            st = await self._call("learn_commit", replace=True)
        else:
            await self._call("learn_cancel")
            st = replace(self.conflict, phase=LearnPhase.KEPT)
        self._finish(st)

    async def action_cancel(self) -> None:
        if self._finished:
            return
        self._asking = True  # stop polling
        await self._call("learn_cancel")
        self._finish(LearnState(LearnPhase.CANCELLED, control=self.control))
