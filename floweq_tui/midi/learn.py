"""MIDI learn in the service: the state machine around the pure :class:`~.mapping.Learner`.

start -> WAITING; the first link that sends feeds the learner (other links are ignored
until the learn ends) and the learner's hint (an ambiguous relative encoder: "turn it the
other way") is mirrored into the state; :meth:`Learn.poll` (the service's timer) decides a
knob whose listening window is over, or ends in TIMEOUT. A decided binding that another
control's binding would also answer stops in CONFLICT with nothing committed, until
:meth:`Learn.commit` (replace) or :meth:`Learn.cancel`; otherwise it is committed at once
(DONE, with ``saved``/``error`` from the mapping file). While a learn waits or asks,
incoming messages drive no control (:attr:`Learn.active`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace as evolve

from ..controls import CONTROL_INDEX
from .links import Link
from .mapping import Binding, Event, Learner, MappingError, conflicts
from .state import Conflict, LearnPhase, LearnState

LEARN_TIMEOUT = 60.0
"""Seconds a learn waits for a message unless told otherwise."""


class Learn:
    """One learn at a time, for the service (not thread-safe: the service loop owns it).

    ``bindings_for(controller)`` gives a controller's current bindings (to find conflicts);
    ``commit(link, binding)`` stores a binding for the link's controller and returns '' or
    why it could not be saved.
    """

    def __init__(
        self,
        bindings_for: Callable[[str], list[Binding]],
        commit: Callable[[Link, Binding], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bindings_for = bindings_for
        self._store = commit
        self.clock = clock
        self.state = LearnState()
        self.learner: Learner | None = None
        self.link: Link | None = None
        """The link that learns (the first one that sent), None until one did."""
        self.deadline = 0.0
        self.pending: tuple[Link, Binding] | None = None
        """A decided binding awaiting the answer to a conflict."""

    @property
    def active(self) -> bool:
        """Incoming messages belong to the learn (it waits, or asks about a conflict)."""
        return self.learner is not None or self.pending is not None

    def start(self, control: str, timeout: float | None = None) -> LearnState:
        """Listen for the next knob or button for ``control`` (any learn before is dropped)."""
        if control not in CONTROL_INDEX:
            raise MappingError(f"no control named {control!r}")
        now = self.clock()
        self.learner = Learner(control, now)
        self.link = None
        self.pending = None
        self.deadline = now + (LEARN_TIMEOUT if timeout is None else float(timeout))
        self.state = LearnState(LearnPhase.WAITING, control=control)
        return self.state

    def cancel(self) -> LearnState:
        """Drop a waiting learn or an unanswered conflict (Esc); an ended learn stays."""
        self.learner = None
        self.pending = None
        if self.state.phase in (LearnPhase.WAITING, LearnPhase.CONFLICT):
            self.state = evolve(self.state, phase=LearnPhase.CANCELLED)
        return self.state

    def feed(self, link: Link, ev: Event) -> None:
        """A message from ``link`` while the learn is active."""
        if self.learner is None:
            return  # a conflict awaits the user's answer: ignore input meanwhile
        if self.link is not None and link is not self.link:
            return
        self.link = link
        result = self.learner.feed(ev, self.clock())
        if result is not None:
            self._decided(link, result)
        else:
            self._hint()

    def poll(self) -> None:
        """The timer: decide a knob whose window is over, or time the learn out."""
        if self.learner is None:
            return
        now = self.clock()
        result = self.learner.poll(now)
        if result is not None and self.link is not None:
            self._decided(self.link, result)
        elif now >= self.deadline:
            self.learner = None
            self._hint()
            self.state = evolve(self.state, phase=LearnPhase.TIMEOUT)
        else:
            self._hint()

    def commit(self, replace: bool = False) -> LearnState:
        """Answer a conflict: replace the other binding(s), or keep them (= cancel)."""
        if self.pending is None:
            return self.state
        if not replace:
            return self.cancel()
        link, binding = self.pending
        self.pending = None
        error = self._store(link, binding)
        self.state = evolve(
            self.state,
            phase=LearnPhase.DONE,
            replaced=self.state.conflicts,
            saved=not error,
            error=error,
        )
        return self.state

    def _hint(self) -> None:
        """Mirror the learner's hint (relative-encoder detection) into the state."""
        hint = (self.learner.hint if self.learner is not None else None) or ""
        if hint != self.state.hint:
            self.state = evolve(self.state, hint=hint)

    def _decided(self, link: Link, binding: Binding) -> None:
        self.learner = None
        clash = conflicts(self.bindings_for(link.controller), binding)
        base = LearnState(
            LearnPhase.WAITING,
            control=binding.control,
            controller=link.controller,
            binding=binding,
            source=binding.source(),
        )
        if clash:
            self.pending = (link, binding)
            found = tuple(Conflict(c.control, c.source()) for c in clash)
            self.state = evolve(base, phase=LearnPhase.CONFLICT, conflicts=found)
            return
        error = self._store(link, binding)
        self.state = evolve(base, phase=LearnPhase.DONE, saved=not error, error=error)
