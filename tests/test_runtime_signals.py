"""Signals a front end waits for (runtime/signals.py): real signals to this process and to a
child Python, taken without a lock, none lost, the wait woken by them and not its timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from conftest import package_env

from floweq_tui.runtime.signals import SignalWait

LONG = 60.0
"""A wait's timeout that a signal must cut short (the checks allow half of it)."""


def test_a_signal_during_the_wait_wakes_it() -> None:
    with SignalWait([signal.SIGUSR2]) as signals:
        sender = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR2))
        start = time.monotonic()
        sender.start()
        assert signals.wait(LONG)
        woke = time.monotonic()
        sender.join()
        assert woke - start < LONG / 2  # woken by the signal, not the timeout
        [(sig, t)] = signals.drain()
        assert sig == signal.SIGUSR2 and start <= t <= woke
        assert signals.drain() == [] and not signals.wait(0)


def test_a_signal_before_the_wait_is_kept() -> None:
    with SignalWait([signal.SIGUSR2]) as signals:
        os.kill(os.getpid(), signal.SIGUSR2)  # (handled at once: before the wait starts)
        start = time.monotonic()
        assert signals.wait(LONG)
        assert time.monotonic() - start < LONG / 2
        assert [s for s, _ in signals.drain()] == [signal.SIGUSR2]


def test_the_handler_runs_while_the_main_thread_holds_a_lock() -> None:
    """What hung a headless instrument in CI: its SIGTERM handler (threading.Event.set)
    waited for the lock of the Event.wait it had interrupted. This handler takes none."""
    lock = threading.Lock()
    with SignalWait([signal.SIGUSR2]) as signals, lock:
        os.kill(os.getpid(), signal.SIGUSR2)  # the handler runs here, inside `with lock`
        time.sleep(0)  # (a bytecode boundary at least)
        assert signals.wait(LONG)
    assert [s for s, _ in signals.drain()] == [signal.SIGUSR2]


def test_close_puts_the_previous_handlers_back() -> None:
    def mine(signum, frame) -> None:  # noqa: ARG001
        pass

    before = signal.signal(signal.SIGUSR2, mine)
    try:
        with SignalWait([signal.SIGUSR2]):
            assert signal.getsignal(signal.SIGUSR2) is not mine
        assert signal.getsignal(signal.SIGUSR2) is mine
    finally:
        signal.signal(signal.SIGUSR2, before)


HAMMER = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from floweq_tui.runtime.signals import SignalWait

    signals = SignalWait([signal.SIGUSR1, signal.SIGTERM])
    print(os.getpid(), flush=True)
    got = 0
    while True:
        signals.wait(0.001)
        came = signals.drain()
        got += sum(1 for s, _ in came if s == signal.SIGUSR1)
        if any(s == signal.SIGTERM for s, _ in came):
            break
    print("stopped", got, flush=True)
    """
)


def test_a_storm_of_signals_then_a_stop_always_stops() -> None:
    """20000 signals at every moment of the loop (some while it sleeps, some while it reads
    the pipe or drains), then SIGTERM: the loop stops, in a child Python so that a hang is a
    clean failure, not a stuck suite."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HAMMER], stdout=subprocess.PIPE, text=True, env=package_env()
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        for _ in range(20000):
            os.kill(pid, signal.SIGUSR1)
        os.kill(pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    word, got = out.split()
    assert word == "stopped" and int(got) > 0  # (pending signals merge: fewer than sent)
