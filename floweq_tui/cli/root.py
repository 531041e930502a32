"""The composition root: command-line arguments in, a started engine and its session out.

The one place where the instrument is put together. `floweq-tui` hands the result to the
Textual UI, `--headless` to the headless loop; neither front end sees argparse, and both get
the same restored session and the same shutdown (session saved, engine stopped).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import sources
from ..engine import Engine, EngineConfig, EngineError
from ..instance import InstanceLock, InstanceLocked
from ..session import Session
from ..vae import core_models
from .options import CliError, control_values, engine_config, preset_values

EngineFactory = Callable[[EngineConfig, dict[str, float]], Any]
"""Builds an unstarted engine from its config and initial controls (tests pass a fake)."""


def _real_engine(config: EngineConfig, controls: dict[str, float]) -> Engine:
    return Engine(config, **controls)


@dataclass
class Runtime:
    """What a front end runs: a started engine, the session, the model family."""

    engine: Any
    session: Session
    family: Any
    notice: str = ""
    """One line to show at start ("" when all is well)."""
    lock: InstanceLock | None = None
    """This instance's claim on the config directory (None with --allow-second)."""
    preset: str | None = None
    """The preset recalled at start (``--preset``), or None."""

    def close(self) -> None:
        """Save the session, then stop the engine (always, even if saving fails)."""
        try:
            if self.engine.controls is not None:
                self.session.save(self.engine.controls.as_dict())
        except OSError as exc:
            print(f"floweq-tui: session not saved: {exc}", file=sys.stderr)
        finally:
            self.engine.stop()
            if self.lock is not None:
                self.lock.release()


def load_family() -> Any:
    """The model family for display (curves, anchors, encoder), or None if unavailable."""
    try:
        from .. import vae

        return vae.load_family()
    except Exception:
        return None


def compose(args: argparse.Namespace, make_engine: EngineFactory = _real_engine) -> Runtime:
    """Validate the options, restore the session (the command line wins), start the engine."""
    cfg = engine_config(args)
    lock = None if args.allow_second else InstanceLock()
    if lock is not None:
        try:
            lock.acquire()
        except InstanceLocked as exc:
            raise CliError(str(exc)) from None
    try:
        return _compose(args, cfg, make_engine, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _compose(
    args: argparse.Namespace, cfg: EngineConfig, make_engine: EngineFactory, lock: Any
) -> Runtime:
    if cfg.source not in ("demo", "input", "silence"):
        try:
            sources.info(cfg.source)
        except sources.SourceError as exc:
            raise CliError(str(exc)) from None
    models = core_models()
    given = control_values(args, models.names, models.anchor_labels)
    preset_notice = preset_values(args, models.names, models.anchor_labels)[1]
    session = Session.load(models.names, models.anchor_labels)
    engine = make_engine(cfg, {**session.restored, **given})
    try:
        engine.start()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    notice = "; ".join(n for n in (session.notice, preset_notice) if n)
    preset = getattr(args, "preset", None) or None
    return Runtime(engine, session, load_family(), notice, lock, preset)
