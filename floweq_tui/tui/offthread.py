"""Run a blocking call (a pipe request to the MIDI process, an engine restart) on a daemon
thread and await its result, so the UI loop never waits on another process.

Not ``asyncio.to_thread``: its executor threads are joined when the loop closes, so a call
stuck on a hung process would hold up quitting. A daemon thread never does.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any


async def off_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        _run_and_hand_back(loop, fut, fn, args, kwargs)

    threading.Thread(
        target=run, name=f"floweq-ui-{getattr(fn, '__name__', 'call')}", daemon=True
    ).start()
    return await fut


class Lane:
    """One daemon thread kept for a call made again and again (the MIDI status poll, once
    a second): starting a thread costs the UI loop more than most such calls take, and a
    kept thread sleeps on its queue with no wake-ups. A call made while the lane is still
    busy with the previous one (a hung process) gets a thread of its own (:func:`off_thread`),
    so it never waits behind it either."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._busy = False

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the lane's thread; its result (or exception)."""
        if self._busy:
            return await off_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._busy = True  # (cleared by the lane's thread once the call returned)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put((loop, fut, fn, args, kwargs))
        return await fut

    def _run(self) -> None:
        while True:
            loop, fut, fn, args, kwargs = self._jobs.get()
            _run_and_hand_back(loop, fut, fn, args, kwargs, done=self._not_busy)

    def _not_busy(self) -> None:
        self._busy = False


def _run_and_hand_back(
    loop: asyncio.AbstractEventLoop,
    fut: asyncio.Future[Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    done: Callable[[], None] | None = None,
) -> None:
    """``fn(*args, **kwargs)`` here, its result or exception handed to ``fut`` on ``loop``
    (``done`` runs between the two)."""
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed to the awaiting coroutine
        ok, value = False, exc
    else:
        ok, value = True, result
    if done is not None:
        done()
    try:
        loop.call_soon_threadsafe(_settle, fut, ok, value)
    except RuntimeError:  # the loop closed meanwhile (the app quit)
        pass


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
