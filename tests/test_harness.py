"""The test harness itself: under CI a missing real part fails instead of skipping; the soak
allowance reads jackd's log as the soak test and benchmark expect."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import package_env
from harness import jack
from harness.ci import required_part

TESTS = Path(__file__).resolve().parent

SAMPLE = textwrap.dedent(
    """
    import pytest

    def test_no_jack():
        pytest.skip("cannot start a JACK dummy server (jackd missing or failed: [])")

    @pytest.mark.skipif(True, reason="tmux is not installed (apt-get install tmux)")
    def test_no_tmux():
        pass

    def test_no_shared():
        pytest.skip("SAFE-DB data not found at x (../shared is absent)")

    def test_other_reason():
        pytest.skip("xruns on a JACK server shared with others: not attributable")

    def test_passes():
        pass
    """
)
SAMPLE_MODULE_SKIP = textwrap.dedent(
    """
    import pytest

    torch = pytest.importorskip("torch_is_not_here", reason="torch not installed (the train extra)")

    def test_training():
        pass
    """
)


def _run_sample(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_sample_module.py").write_text(SAMPLE_MODULE_SKIP)
    env = package_env()
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env["PYTHONPATH"]])
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-p", "harness.ci", "-p", "no:cacheprovider"]
    cmd += ["-q", "-rs", "--rootdir", str(tmp_path), str(tmp_path)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_missing_real_parts_skip_outside_ci(tmp_path) -> None:
    done = _run_sample(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 5 skipped" in done.stdout, done.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_real_parts_fail_under_ci(tmp_path, ci) -> None:
    done = _run_sample(tmp_path, ci)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    for part in ("JACK", "tmux", "../shared"):
        assert f"CI requires {part}, but the test skipped" in out, out
    # the whole module skipped by importorskip: listed, and the session fails
    assert "required real parts missing (CI)" in out and "CI requires torch" in out, out
    assert "not attributable" in out  # a skip that is not about a missing part stays a skip
    assert "1 passed" in out and "2 skipped" in out, out


def test_required_part_reasons() -> None:
    """The skip reasons the suite uses map to their parts; others to none."""
    assert required_part("jackd is not installed") == "JACK"
    assert required_part("cannot start a private JACK dummy server here") == "JACK"
    assert required_part("could not import 'x': No module named 'torch'") == "torch"
    assert required_part("torch not installed: cross-check skipped") == "torch"
    assert required_part("SAFE-DB data not found at /x (../shared absent)") == "../shared"
    assert required_part("ruff is not installed (pip install '.[test]')") == "ruff"
    assert required_part("x imports floweq_tui from y: install the package: pip") == "floweq-tui"
    assert required_part("not run from a source tree") is None


LOG = """\
JackEngine::XRun: client = fq-reference was not finished, state = Triggered
JackEngine::XRun: client = PortAudio was not finished, state = Running
JackTimedDriver::Process XRun = 312 usec
JackEngine::XRun: client = fq-reference was not finished, state = Triggered
"""


def test_soak_allowance_counts_the_window_after_the_offset(tmp_path) -> None:
    log = tmp_path / "jackd.log"
    log.write_text("JackEngine::XRun: client = fq-reference was not finished, state = X\n")
    offset = jack.log_size(log)
    with open(log, "a") as fh:
        fh.write(LOG)
    ref = jack.ReferenceClient()
    got = jack.soak_allowance(log, offset, ref)
    assert (got.reference_misses, got.timer_misses, got.allowed) == (2, 1, 2 + 2 * 3)
    no_ref = jack.soak_allowance(log, offset, None)  # the reference did not run
    assert (no_ref.reference_misses, no_ref.timer_misses, no_ref.allowed) == (None, 1, 4)
    reused = jack.soak_allowance(None, 0, ref)  # a server we did not start: no log
    assert (reused.reference_misses, reused.timer_misses, reused.allowed) == (None, None, 2)
