"""One instrument per config directory: a second one would fight the first for the sound card,
the controller and the session file.

The lock is an ``flock`` on the config directory itself (nothing is created in it): the
kernel drops it when the process ends, however it ends (kill -9 included), so a stale lock
cannot block a restart. The holder's pid is noted in ``state_dir()/instance.pid`` for the
message a second instance prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .paths import config_dir, state_dir


class InstanceLocked(RuntimeError):
    """Another instance holds the lock (the message names its pid)."""


class InstanceLock:
    """Held from :meth:`acquire` until :meth:`release` or the end of the process."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.pidfile = state_dir() / "instance.pid"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise InstanceLocked saying who holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = self.pidfile.read_text(encoding="ascii").strip()
            except (OSError, UnicodeDecodeError):
                holder = ""
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise InstanceLocked(
                f"another floweq-tui{who} is running with {self.directory}; "
                "add --allow-second to run a second one anyway"
            ) from None
        self._fd = fd
        with contextlib.suppress(OSError):
            self.pidfile.parent.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        """Let the next instance start (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                if self.pidfile.read_text(encoding="ascii").strip() == str(os.getpid()):
                    self.pidfile.unlink()
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
