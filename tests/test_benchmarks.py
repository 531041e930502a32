"""Every script in benchmarks/ runs as a user runs it, in its ``--quick`` mode.

Each one is started as ``python benchmarks/NAME.py --quick`` from the repository root, with
the environment that makes a child import the same floweq_tui as these tests (the installed
package in CI), so a benchmark that reaches into the source tree, or that lost its quick
mode, fails here. The scripts are found by listing benchmarks/, so a new one is covered
without editing this file; its last stdout line must be one JSON object without "error",
and the known ones are checked field by field.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import package_env
from harness.entry import console_script

import floweq_tui

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 300.0
"""Seconds a quick run may take before it counts as hung (they take 5-30 s)."""

NEEDS: dict[str, tuple[str, ...]] = {
    "soak.py": ("jackd",),
    "midi_latency.py": ("jackd",),
    "ui_soak.py": ("jackd", "tmux", "floweq-tui"),
    "idle.py": ("floweq-tui",),
    "tempo_sync.py": ("jackd",),
}
"""Real parts a benchmark needs (skipped without them, which fails under CI)."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_soak(r: dict[str, Any]) -> None:
    """The engine ran on a private server it started, and the machine's share is reported."""
    assert r["state_end"] == "running" and r["server"] == "started", r
    assert r["server_name"].startswith("soak_"), r["server_name"]
    assert r["callbacks"] > 0 and r["controls_applied"] > 0 and r["control_changes_sent"] > 0
    assert isinstance(r["xruns"], int) and isinstance(r["jack_xruns"], int)
    assert isinstance(r["timer_misses"], int)  # the log of a server it started is read
    if shutil.which("jack_metro"):
        assert isinstance(r["reference_misses"], int) and r["reference_client"], r
    ref, timer = r["reference_misses"] or 0, r["timer_misses"]
    assert r["xrun_allowance"] == 2 + 2 * (ref + timer), r  # as harness.jack.xrun_allowance
    assert r["within_allowance"] is (r["xruns"] <= r["xrun_allowance"])
    assert r["other_jack_clients"] == [], r["other_jack_clients"]  # a server of its own
    assert all(_number(r[k]) for k in ("callback_p99_us", "engine_cpu_percent", "seconds"))


def check_midi_latency(r: dict[str, Any]) -> None:
    """Quick mode's 20 CCs were sent, and most reached an audio block."""
    assert r["trials"] + r["misses"] == 20, r
    assert r["trials"] >= 10, r
    assert all(_number(r[k]) for k in ("median_ms", "p99_ms", "min_ms", "max_ms", "block_ms"))
    assert r["min_ms"] <= r["median_ms"] <= r["max_ms"]


def check_models_load(r: dict[str, Any]) -> None:
    """The shipped models were found and loaded."""
    assert r["models"] >= 1 and r["bytes"] > 0, r
    assert all(_number(r[k]) and r[k] > 0 for k in ("first_load_ms", "load_ms_median"))
    assert _number(r["numpy_decode_us"])


def check_ui_soak(r: dict[str, Any]) -> None:
    """The app came up on the private server, quit with q and left no process behind."""
    assert r["quit_with_q"] is True and r["processes_left"] == 0, r
    assert r["server"] == "started" and r["server_name"].startswith("uisoak_"), r
    assert "JACK" in r["status_line_end"] and "running" in r["status_line_end"], r
    assert isinstance(r["jack_xruns"], int) and _number(r["ui_cpu_percent"])


def check_idle(r: dict[str, Any]) -> None:
    """Every mode that could run here ran, was measured per process and quit cleanly."""
    assert r["benchmark"] == "idle_cpu" and r["modes"], r
    ran = {m: v for m, v in r["modes"].items() if v is not None}
    assert "headless-silent" in ran, r["modes"]  # needs neither tmux nor jackd
    for mode, v in ran.items():
        front = "ui" if mode.startswith("ui-") else "headless"
        assert v["quit_clean"] is True and v["processes_left"] == 0, (mode, v)
        assert "engine" in v["pids"].values() and front in v["pids"].values(), (mode, v)
        parts = [v[k] for k in (front, "engine", "midi", "other")]
        assert all(_number(x) for x in parts) and _number(v["total"]), (mode, v)
        assert r["total_cpu_percent"][mode] == v["total"]


def check_match(r: dict[str, Any]) -> None:
    """Known answers for every fit beside the flat baseline, and the speed with its ratio."""
    for fit in ("params", "latent", "flat"):
        assert all(_number(v) for v in r["curve_mae_db"][fit].values()), r
    assert r["curve_mae_db"]["params"]["median"] < r["curve_mae_db"]["flat"]["median"], r
    assert all(_number(r[k]) for k in ("match_cpu_ms_median", "workload_ms", "ratio")), r


def check_tempo_sync(r: dict[str, Any]) -> None:
    """Both sources measured: cycle starts counted, the error figures are numbers."""
    assert [x["source"] for x in r["results"]] == ["midi", "link"], r
    for x in r["results"]:
        assert "error" not in x, x
        assert x["n"] > 0 and all(_number(x[k]) for k in ("median_ms", "p99_ms", "p99_blocks"))


def check_history(r: dict[str, Any]) -> None:
    """Both processors ran, both reads copied, and the block's size is what the docs say."""
    assert all(_number(r[k]) and r[k] > 0 for k in ("us_off", "us_on", "read_30s_ms"))
    assert r["megabytes"] == pytest.approx(5.8256)


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "match.py": check_match,
    "tempo_sync.py": check_tempo_sync,
    "soak.py": check_soak,
    "midi_latency.py": check_midi_latency,
    "models_load.py": check_models_load,
    "ui_soak.py": check_ui_soak,
    "idle.py": check_idle,
    "history.py": check_history,
}


def _needs(name: str) -> None:
    """Skip (a failure under CI: see harness.ci) when a real part the benchmark needs is
    missing."""
    for part in NEEDS.get(name, ()):
        if part == "floweq-tui":
            script, why = console_script(floweq_tui.__file__, package_env(), REPO)
            if script is None:
                pytest.skip(why)
        elif shutil.which(part) is None:
            pytest.skip(f"{part} is not installed (needed by benchmarks/{name})")


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_quick_against_the_package_under_test(script: Path) -> None:
    _needs(script.name)
    env = package_env()
    env.pop("JACK_DEFAULT_SERVER", None)  # each starts a private server of its own
    cmd = [sys.executable, str(script.relative_to(REPO)), "--quick"]
    try:
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} ran longer than {TIMEOUT:.0f} s: {exc.stderr!r}")
    where = f"{' '.join(cmd)} (exit {done.returncode}); stderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, where
    assert "Traceback" not in done.stderr, where
    lines = done.stdout.strip().splitlines()
    assert lines, where
    result = json.loads(lines[-1])
    assert isinstance(result, dict) and result, lines[-1]
    assert "error" not in result, result
    CHECKS.get(script.name, lambda r: None)(result)


def test_benchmarks_are_found() -> None:
    """The listing the test above is parametrized over sees the known benchmarks."""
    names = {p.name for p in BENCHMARKS}
    assert set(CHECKS) <= names, names
