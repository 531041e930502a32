"""Helpers for Pilot tests (App.run_test): waiting on the app without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


async def until(pilot: Any, cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until ``cond()`` holds; ``timeout`` only bounds a failure."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.03)


def screen_name(app: Any) -> str:
    return app.screen.__class__.__name__


def record_notices(app: Any) -> list[str]:
    """Every notice the app shows from now on, in order (they still show as usual)."""
    notes: list[str] = []
    show = app.notify

    def notify(message: Any, *args: Any, **kwargs: Any) -> Any:
        notes.append(str(message))
        return show(message, *args, **kwargs)

    app.notify = notify
    return notes
