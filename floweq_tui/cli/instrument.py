"""The instrument: `floweq-tui` (the Textual UI) and `floweq-tui --headless`.

Both build the same runtime in the composition root and hand it to a front end.
"""

from __future__ import annotations

import argparse
import sys

from .root import compose


def cmd_headless(args: argparse.Namespace) -> int:
    """Run the engine with no UI until SIGINT/SIGTERM/SIGHUP, printing a status line."""
    from .. import headless

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
    runtime = compose(args)
    try:
        app = FloweqApp(runtime.engine, runtime.family, runtime.notice)
        return int(app.run() or 0)
    finally:
        runtime.close()
