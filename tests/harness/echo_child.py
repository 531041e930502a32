"""A tiny child process for the runtime tests: echoes, fails, sleeps or dies on request."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from floweq_tui.runtime import Channel


@dataclass(frozen=True)
class EchoStatus:
    """A typed status, attached to every reply."""

    pid: int
    served: int


def echo_main(conn: Any, start_error: str = "") -> None:
    """Serve echo/fail/sleep/die until told to stop."""
    served = [0]
    chan = Channel(conn, status=lambda: EchoStatus(os.getpid(), served[0]))
    if start_error:
        chan.failed(ValueError(start_error))
        return

    def echo(**kw: Any) -> Any:
        served[0] += 1
        return kw

    def fail(why: str) -> None:
        raise RuntimeError(f"asked to fail:\n  {why}")

    def sleep(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def die(code: int) -> None:
        os._exit(code)

    handlers = {"echo": echo, "fail": fail, "sleep": sleep, "die": die}
    chan.ready({"hello": "parent"})
    while chan.wait(0.5) and chan.serve(handlers):
        pass
