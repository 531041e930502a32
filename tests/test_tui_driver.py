"""The UI's terminal output: frames written by the UI thread when the terminal takes them at
once, the rest handed to the writer thread in order, a stopped reader never holding the
writer up (a real pseudo-terminal, its reader stopped and started again)."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
import tty

import pytest

pytest.importorskip("textual")

from floweq_tui.tui import driver  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or driver.LinuxDriver is None,
    reason="the Linux terminal driver",
)


def _read_all(master: int, want: int, deadline_s: float = 30.0) -> bytes:
    got = bytearray()
    while len(got) < want:
        ready, _, _ = select.select([master], [], [], deadline_s)
        assert ready, f"the terminal got {len(got)} of {want} bytes"
        got += os.read(master, 65536)
    return bytes(got)


def test_writes_reach_a_stopped_terminal_in_order_without_holding_the_writer() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)  # (no output processing: the bytes arrive as written)
    file = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    direct = driver._open_direct(slave)
    assert direct is not None
    writer = driver.HandOffWriter(file, direct)
    writer.start()
    # frames of braille (3 bytes each: a write the terminal takes in part ends inside one),
    # 20 x 12 KB: more than the terminal holds while nobody reads it
    frames = [f"\x1b[{i};1H" + chr(0x2800 + i) * 4000 for i in range(20)]
    returned = threading.Event()

    def ui() -> None:
        for frame in frames:
            writer.write(frame)
        returned.set()

    try:
        threading.Thread(target=ui, daemon=True).start()
        assert returned.wait(30), "a write waited for the stopped terminal"
        assert writer._sent > writer._done, "all of it fitted: the test wrote too little"
        want = "".join(frames).encode()
        assert _read_all(master, len(want)) == want
        # once the thread has written all it had, frames go straight to the terminal again
        assert _wait(lambda: writer._sent == writer._done)
        writer.write("done")
        assert _read_all(master, 4) == b"done"
    finally:
        writer.stop()
        file.close()
        os.close(master)
    assert writer._direct == -1


def _wait(cond, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_terminal_that_cannot_be_opened_again_keeps_textuals_writer() -> None:
    r, w = os.pipe()
    try:
        assert driver._open_direct(w) is None  # (not a terminal)
    finally:
        os.close(r)
        os.close(w)
