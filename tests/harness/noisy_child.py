"""A child process that writes to its fds 1 and 2 the way C libraries do (libc ``write``),
floods them, or dies of an uncaught Python exception: for the child-output tests."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

from floweq_tui.runtime import Channel

_libc = ctypes.CDLL(None, use_errno=True)


def c_write(text: str, fd: int = 2) -> int:
    """Write ``text`` with libc's ``write`` (as libjack and rtmidi do): Python never sees it."""
    data = text.encode()
    return int(_libc.write(fd, data, len(data)))


def noisy_main(conn: Any) -> None:
    """Serve c_write/py_print/flood until told to stop."""
    chan = Channel(conn)

    def py_print(text: str) -> None:
        print(text, file=sys.stderr)

    def flood(lines: int, width: int = 100) -> int:
        """``lines`` numbered lines of ``width`` bytes, one libc write each."""
        for i in range(lines):
            c_write(f"flood {i:08d} ".ljust(width - 1, "x") + "\n")
        return lines * width

    chan.ready(os.getpid())
    handlers = {"c_write": c_write, "py_print": py_print, "flood": flood}
    while chan.wait(0.5) and chan.serve(handlers):
        pass


def crash_main(conn: Any, text: str) -> None:  # noqa: ARG001
    """Die at once of an uncaught exception (multiprocessing prints its traceback)."""
    raise RuntimeError(text)
