"""A MIDI clock from another process, for tests and benchmarks: ``clocksend.c`` built on demand.

The sender is C, timed on its own JACK thread (Clocks written at their exact frames), so the
reference is as accurate as JACK's frame clock; it reports each beat's CLOCK_MONOTONIC time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

SOURCE = Path(__file__).with_name("clocksend.c")


def build() -> Path:
    """The sender's binary (built once per source version into the temp directory)."""
    digest = hashlib.sha1(SOURCE.read_bytes()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"floweq-clocksend-{os.getuid()}-{digest}"
    if not out.exists():
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise RuntimeError("no C compiler (cc) to build the clock sender")
        tmp = out.with_suffix(f".{os.getpid()}")
        subprocess.run(
            [cc, "-O2", "-o", str(tmp), str(SOURCE), "-ldl", "-lm"],
            check=True, capture_output=True,
        )  # fmt: skip
        tmp.replace(out)
    return out


class ClockSender:
    """``clocksend NAME BPM [DEST]`` running; :attr:`beats` maps beat -> monotonic time."""

    def __init__(self, name: str, bpm: float, dest: str | None = None) -> None:
        args = [str(build()), name, f"{bpm}"] + ([dest] if dest else [])
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.beats: dict[int, float] = {}
        self.skipped: dict[int, int] = {}
        """Beat -> frames the server skipped for the sender since the Clock before the beat's
        (non-zero: the sender fell behind right at that beat, which no follower can foresee)."""
        self.port = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
            self.close()
            raise RuntimeError(f"the clock sender did not start: {err.strip()}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if parts and parts[0] == "ready":
                self.port = parts[1] if len(parts) > 1 else ""
                self._ready.set()
            elif len(parts) == 4 and parts[0] == "beat":
                self.beats[int(parts[1])] = float(parts[2])
                self.skipped[int(parts[1])] = int(parts[3])
        self._ready.set()

    def send(self, command: str) -> None:
        """One command (start, stop, continue, spp N, bpm X)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_beat(self, k: int, timeout: float = 30.0) -> float:
        """The time of beat ``k`` once it was sent."""
        end = time.monotonic() + timeout
        while k not in self.beats:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise TimeoutError(f"beat {k} not sent within {timeout} s")
            time.sleep(0.02)
        return self.beats[k]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("quit")
        try:
            self.proc.wait(5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
