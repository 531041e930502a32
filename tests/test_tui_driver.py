"""The UI's terminal output: frames written by the UI thread when the terminal takes them at
once, the rest handed to the writer thread in order, a stopped reader never holding the
writer up (a real pseudo-terminal, its reader stopped and started again)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
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


def test_a_terminal_that_cannot_be_opened_again_gets_every_write_through_the_thread() -> None:
    r, w = os.pipe()
    try:
        assert driver._open_direct(w) is None  # (not a terminal)
    finally:
        os.close(r)
        os.close(w)
    master, slave = os.openpty()
    tty.setraw(slave)
    file = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    writer = driver.HandOffWriter(file)  # (no direct descriptor)
    writer.start()
    try:
        for i in range(50):
            writer.write(f"{i};")
        want = "".join(f"{i};" for i in range(50)).encode()
        assert _read_all(master, len(want)) == want
        assert writer._sent == 50
    finally:
        writer.stop()
        file.close()
        os.close(master)


def _writes_then_stop_return(writer: driver.HandOffWriter, n: int) -> bool:
    """``n`` frames written and the writer stopped, as the UI thread would: all returned?"""
    returned = threading.Event()

    def ui() -> None:
        for i in range(n):
            writer.write(f"frame {i}")
        writer.stop()
        returned.set()

    threading.Thread(target=ui, daemon=True).start()
    return returned.wait(30)


def test_a_terminal_that_hung_up_never_holds_the_ui() -> None:
    """The master closed (an SSH drop): each write fails with EIO. The thread lives on and
    drops them (Textual's died at the first, and the 31st write then waited for good);
    more than a queue's worth of writes return, and so does stop."""
    master, slave = os.openpty()
    file = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    direct = driver._open_direct(slave)
    assert direct is not None
    writer = driver.HandOffWriter(file, direct)
    writer.start()
    os.close(master)  # the hang-up
    try:
        assert _writes_then_stop_return(writer, 200), "a write or stop waited on a dead terminal"
        assert not writer.is_alive()
    finally:
        file.close()


def test_a_writer_whose_thread_ended_never_holds_the_ui() -> None:
    master, slave = os.openpty()
    file = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    writer = driver.HandOffWriter(file)
    writer.start()
    writer.stop()  # (as after a suspend: nothing takes writes any more)
    try:  # (more writes than the queue holds)
        assert _writes_then_stop_return(writer, 100), "a write waited on a writer that ended"
    finally:
        file.close()
        os.close(master)


@pytest.mark.skipif(driver.driver_class() is None, reason="the quiet driver")
def test_sigcont_without_a_suspend_leaves_application_mode_alone() -> None:
    """The kernel sends SIGCONT with the SIGHUP of a terminal hanging up. Textual's driver
    then restarted application mode on the dead terminal; ours resumes only a suspend of
    its own (SIGTSTP, handled on the event loop)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}

    async def build() -> driver.QuietLinuxDriver:  # (Textual's driver takes the running loop)
        return driver.QuietLinuxDriver(app=None, debug=False, mouse=False)

    quiet = asyncio.run(build())
    try:
        writer = object()
        quiet._writer_thread = writer
        quiet._sigcont_application(signal.SIGCONT, None)
        assert quiet._writer_thread is writer
    finally:
        for sig, handler in handlers.items():  # (the driver installed its own here)
            signal.signal(sig, handler)
        for fd in (quiet._wake_r, quiet._wake_w):
            os.close(fd)
