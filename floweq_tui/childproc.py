"""Small helpers shared by the engine and MIDI processes and their parents."""

from __future__ import annotations

import contextlib
from typing import Any


def one_line(error: object) -> str:
    """An exception or text as one clean line (for messages users read)."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        return error.__class__.__name__
    return text


def stop_child(proc: Any, conn: Any, timeout: float) -> None:
    """Ask a child process to stop over its pipe, then terminate, then kill; close the pipe."""
    if proc is not None:
        with contextlib.suppress(Exception):
            conn.send({"cmd": "stop"})
        proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()
