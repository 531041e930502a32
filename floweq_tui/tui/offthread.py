"""Run a blocking call (a pipe request to the MIDI process, an engine restart) on a daemon
thread and await its result, so the UI loop never waits on another process.

Not ``asyncio.to_thread``: its executor threads are joined when the loop closes, so a call
stuck on a hung process would hold up quitting. A daemon thread never does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


async def off_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def run() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting coroutine
            ok, value = False, exc
        else:
            ok, value = True, result
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop closed meanwhile (the app quit)
            pass

    threading.Thread(
        target=run, name=f"floweq-ui-{getattr(fn, '__name__', 'call')}", daemon=True
    ).start()
    return await fut
