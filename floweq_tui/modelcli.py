"""`floweq-tui train` and `floweq-tui models` (filled in by the models work)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the model subcommands to the top-level parser."""
