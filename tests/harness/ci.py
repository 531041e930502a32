"""Under CI, a test that skips because a real part is missing fails instead.

The real parts are the ones the suite exists to exercise: a JACK server, torch, the data
in ../shared, tmux, ruff, ``aalink`` (Ableton Link, the ``link`` extra), the installed
``floweq-tui`` console script and the `autoeq` consumer of our exports (in its own venv,
tests/harness/consumers.py). On a developer's
machine without them those tests skip with a reason; under CI (``CI`` set to true, as CI
services do and ``.ci/run`` does) the same skip is reported as a failure, so a clean run
cannot be green because everything real was skipped. ``tests/conftest.py`` registers the
hooks below; a skip is recognised by its reason (``REQUIRED``).
"""

from __future__ import annotations

import os
import re

import pytest

REQUIRED: dict[str, re.Pattern[str]] = {
    "JACK": re.compile(r"jackd is not installed|jackd missing|cannot start a .*JACK"),
    "torch": re.compile(r"torch not installed|No module named 'torch'"),
    "../shared": re.compile(r"\.\./shared"),
    "tmux": re.compile(r"tmux is not installed"),
    "ruff": re.compile(r"ruff is not installed"),
    "floweq-tui": re.compile(r"install the package"),
    "autoeq": re.compile(r"autoeq consumer not installed"),
    "aalink": re.compile(r"aalink is not installed"),
}
"""Part -> the pattern its skip reasons match (keep skip reasons saying what is missing)."""

_COLLECT_KEY = pytest.StashKey[list[str]]()


def under_ci() -> bool:
    """True when the environment says this is a CI run (CI=true/1/yes)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def required_part(reason: str) -> str | None:
    """The required real part a skip reason says is missing, or None."""
    for part, pattern in REQUIRED.items():
        if pattern.search(reason):
            return part
    return None


def _skip_reason(longrepr: object) -> str:
    """A skip report's reason: pytest stores it as (file, line, "Skipped: reason")."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def message(part: str, reason: str) -> str:
    """The failure text for a required part missing under CI."""
    return f"CI requires {part}, but the test skipped: {reason.removeprefix('Skipped: ')}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ARG001
    """A test (or its setup) that skips for a missing required part fails under CI."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and under_ci()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report.longrepr)
    part = required_part(reason)
    if part is not None:
        report.outcome = "failed"
        report.longrepr = message(part, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # noqa: ARG001
    """A module that skips as a whole (importorskip) for a missing required part: noted
    here and failed at the end of the session (a collection error would stop the run)."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and under_ci()):
        return
    reason = _skip_reason(report.longrepr)
    part = required_part(reason)
    if part is not None:
        config = collector.config
        config.stash.setdefault(_COLLECT_KEY, []).append(
            f"{report.nodeid}: {message(part, reason)}"
        )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ARG001
    """List the modules skipped whole for a missing required part under CI."""
    missing = config.stash.get(_COLLECT_KEY, [])
    if missing:
        terminalreporter.section("required real parts missing (CI)", red=True)
        for line in missing:
            terminalreporter.line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a whole module skipped for a missing required part under CI."""
    if session.config.stash.get(_COLLECT_KEY, []) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
