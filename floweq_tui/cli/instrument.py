"""The instrument: `floweq-tui` (the Textual UI) and `floweq-tui --headless`.

Both build the same runtime in the composition root and hand it to a front end.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import signal
import sys
import threading
import traceback
from typing import IO

from ..runtime.child import log_path
from .root import compose

_stack_log: list[IO[str]] = []  # (open while the process runs: faulthandler writes to it)


def dump_stacks_on_usr2(slug: str) -> None:
    """``kill -USR2 PID`` appends every thread's Python stack to ``logs/SLUG.log``: a front
    end that does not stop can be looked into without a debugger or the terminal (which is
    Textual's). A thread's uncaught exception goes there too. Nothing happens where the
    log cannot be opened. (SIGUSR1 is headless's tap of tap tempo.)"""
    if _stack_log or not hasattr(signal, "SIGUSR2"):
        return
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        path = log_path(slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open on purpose)
        faulthandler.register(signal.SIGUSR2, file=file, all_threads=True)
        _stack_log.append(file)
        threading.excepthook = _log_thread_error


def _log_thread_error(args: threading.ExceptHookArgs) -> None:
    """A thread's uncaught exception, written to the log opened above rather than over the
    terminal (Textual's, while it runs)."""
    if args.exc_type is SystemExit or not _stack_log:
        return
    name = args.thread.name if args.thread is not None else "?"
    with contextlib.suppress(OSError, ValueError):
        file = _stack_log[0]
        file.write(f"thread {name}: uncaught {args.exc_type.__name__}\n")
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=file)
        file.flush()


def cmd_headless(args: argparse.Namespace) -> int:
    """Run the engine with no UI until SIGINT/SIGTERM/SIGHUP, printing a status line."""
    from .. import headless

    dump_stacks_on_usr2("headless")
    runtime = compose(args)
    try:
        return headless.run(runtime.engine, args.status_every, runtime.notice, runtime.preset)
    finally:
        runtime.close()


def cmd_ui(args: argparse.Namespace) -> int:
    """The terminal instrument (falls back to headless if the UI cannot start)."""
    try:
        from ..tui.app import FloweqApp
    except ImportError:
        print("floweq-tui: the terminal UI is not available; running headless", file=sys.stderr)
        return cmd_headless(args)
    dump_stacks_on_usr2("ui")
    runtime = compose(args)
    try:
        app = FloweqApp(runtime.engine, runtime.family, runtime.notice, preset=runtime.preset)
        return int(app.run() or 0)
    finally:
        runtime.close()
