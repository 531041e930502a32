"""A child's output (C libraries, Python tracebacks) goes to its log, never to the terminal the
UI draws on; the UI and headless say in one line that something was written, and where.

Real children throughout: one writing with libc ``write`` (as libjack and rtmidi do), one
dying of an uncaught exception, and the real engine and MIDI processes on a private JACK
server whose jackd is killed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import package_env
from harness.noisy_child import noisy_main
from harness.procout import Lines

from floweq_tui.runtime.child import LOG_CAP, ChildLog, ChildProcess, LogNews

TESTS = Path(__file__).resolve().parent
LIBJACK = ("Cannot read socket", "CheckRes error", "JackSocketClientChannel", "Server is not")
"""What libjack writes to stderr when its server goes away."""


def wait_for(cond, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """A private XDG state directory: the children's logs go to STATE/floweq-tui/logs."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "floweq-tui" / "logs"


PARENT = """
import time
from harness.noisy_child import crash_main, noisy_main
from floweq_tui.runtime import ChildError
from floweq_tui.runtime.child import ChildProcess, log_news

if __name__ == "__main__":
    noisy = ChildProcess("noisy", noisy_main)
    lost = ChildProcess("lost", noisy_main, log=LOST)
    crashy = ChildProcess("crashy", crash_main, "boom in the child")
    noisy.start()
    lost.start()
    noisy.request("c_write", text="libjack-like, from C on fd 2\\n")
    noisy.request("c_write", text="from C on fd 1\\n", fd=1)
    noisy.request("py_print", text="from Python's sys.stderr")
    lost.request("c_write", text="nowhere to go\\n")
    try:
        crashy.start()
    except ChildError as exc:
        print("start failed:", exc, flush=True)
    logs = [noisy.log, lost.log, crashy.log]
    for log in logs:
        log.every = 0.0
    seen, deadline = {}, time.monotonic() + 30
    while time.monotonic() < deadline and not (
        seen.get("noisy", 0) >= 3 and "lost" in seen and "RuntimeError" in seen.get("last", "")
    ):
        for news in log_news(logs):
            seen[news.name] = seen.get(news.name, 0) + news.lines
            if news.name == "crashy":
                seen["last"] = news.line
            print(news.summary(), flush=True)
        time.sleep(0.05)
    for child in (noisy, lost, crashy):
        child.stop()
"""


def test_child_output_reaches_its_log_never_the_terminal(tmp_path, state) -> None:
    """C writes on fds 1 and 2, Python's stderr and a traceback: all in the child's log, none
    on the parent's fd 2 (the terminal); the parent says each in one line naming the log."""
    (tmp_path / "afile").write_text("not a directory")
    lost = tmp_path / "afile" / "logs" / "lost.log"  # cannot be made: output discarded
    script = tmp_path / "parent.py"
    script.write_text(PARENT.replace("LOST", repr(str(lost))))
    env = package_env(XDG_STATE_HOME=str(tmp_path / "state"))
    env["PYTHONPATH"] += os.pathsep + str(TESTS)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, err
    for text in ("libjack-like", "from C on fd 1", "sys.stderr", "nowhere", "boom", "Traceback"):
        assert text not in err, err  # nothing on the parent's terminal
    noisy = (state / "noisy.log").read_text()
    assert "libjack-like, from C on fd 2\n" in noisy and "from C on fd 1\n" in noisy
    assert "from Python's sys.stderr\n" in noisy
    crashy = (state / "crashy.log").read_text()
    assert "Traceback (most recent call last)" in crashy
    assert "RuntimeError: boom in the child" in crashy
    assert "start failed: crashy exited (code 1)" in out
    assert "crashy says: RuntimeError: boom in the child" in out
    assert f"in {state / 'crashy.log'})" in out
    # one line for the three, naming the log
    assert f"noisy says: from Python's sys.stderr (2 more lines in {state / 'noisy.log'})" in out
    assert "lost says: output discarded: " in out
    assert not lost.exists()


def test_log_is_rotated_past_the_cap_and_no_line_is_missed(state) -> None:
    """A flood: the log is rotated past LOG_CAP (one old file kept), and the parent, which
    follows it across rotations, counts every line. The log's name never goes missing
    meanwhile (a reader such as ``tail -F`` sees the old file, then the new one)."""
    child = ChildProcess("noisy", noisy_main)
    assert child.log is not None
    child.log.every = 0.0
    path = state / "noisy.log"
    counted = 0
    missing, looks, watching = [], [0], threading.Event()

    def watch() -> None:
        while watching.is_set():
            try:
                os.stat(path)
            except FileNotFoundError:
                missing.append(time.monotonic())
            looks[0] += 1

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        child.start()
        watching.set()
        watcher.start()
        for _ in range(8):  # 8 x 400 kB
            assert child.request("flood", lines=4000, width=100) == 400_000
            if path.stat().st_size >= LOG_CAP:  # the child rotates within its next look
                wait_for(lambda: path.stat().st_size < LOG_CAP, 10, "a rotation")
            news = child.log.poll()
            counted += news.lines if news else 0
        news = child.log.poll()
        counted += news.lines if news else 0
    finally:
        watching.clear()
        child.stop()
    watcher.join(5)
    assert counted == 8 * 4000
    assert looks[0] > 100 and not missing, f"{len(missing)} of {looks[0]} looks found no log"
    old = path.with_name("noisy.log.1")
    assert old.is_file() and not path.with_name("noisy.log.2").exists()
    assert path.stat().st_size < LOG_CAP
    assert old.stat().st_size < LOG_CAP + 400_000 + 200  # the disk holds at most ~2 caps
    assert old.read_text().splitlines()[-1].startswith("flood 0000")


def test_news_is_one_line_and_rate_limited(tmp_path) -> None:
    """The first line is said at once; a flood after it is one notice a few seconds later
    with the newest line and the count; a line without its newline is said once it stops."""
    path = tmp_path / "logs" / "midi.log"
    log = ChildLog(path, "midi", every=5.0)
    assert log.prepare() == str(path)
    with open(path, "ab", buffering=0) as fh:
        fh.write(b"==== the MIDI process: pid 1 started\nCannot read socket fd = 5\n")
        first = log.poll(now=100.0)
        assert first == LogNews("midi", path, "Cannot read socket fd = 5", 1)
        assert first.summary() == f"midi says: Cannot read socket fd = 5 (in {path})"
        fh.write(b"MidiInJack: message queue limit reached!!\n" * 1000)
        assert log.poll(now=101.0) is None  # held: not one notice per line
        flood = log.poll(now=105.0)
        assert flood is not None and flood.lines == 1000
        assert flood.summary() == (
            f"midi says: MidiInJack: message queue limit reached!! (999 more lines in {path})"
        )
        fh.write(b"Server is not running")  # no newline (yet)
        assert log.poll(now=200.0) is None
        last = log.poll(now=201.0)
        assert last is not None and (last.line, last.lines) == ("Server is not running", 1)
    log.close()


def test_the_ui_says_what_a_real_child_wrote(state) -> None:
    """Pilot: a real child beside a fake engine writes from C; the app shows one notice
    with the newest line and the log's path."""
    pytest.importorskip("textual")
    from harness.fakes import FakeEngine
    from pilot_helpers import record_notices, until

    from floweq_tui.tui.app import FloweqApp

    eng = FakeEngine()
    child = ChildProcess("noisy", noisy_main)
    child.start()
    eng.supervisor.add("noisy", child)
    notes: list[str] = []
    try:
        app = FloweqApp(eng)
        notes = record_notices(app)

        async def run() -> None:
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(0.1)
                child.request("c_write", text="one\ntwo\nCannot read socket fd = 7\n")
                await until(pilot, lambda: any("says" in n for n in notes), 10, "a notice")

        asyncio.run(run())
    finally:
        eng.supervisor.stop("noisy")
    said = [n for n in notes if "says" in n]
    assert said == [f"noisy says: Cannot read socket fd = 7 (2 more lines in {state}/noisy.log)"]


@pytest.mark.jack
@pytest.mark.slow
def test_headless_names_the_log_when_jackd_dies(tmp_path, private_jack, capsys) -> None:
    """The real `--headless` on a private JACK server whose jackd is killed: libjack's lines
    go to the children's logs, not to stderr, and one status line names the log."""
    env = package_env(XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_STATE_HOME=str(tmp_path / "st"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "floweq_tui", "--headless", "--status-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out = Lines(proc)
    try:
        out.wait("floweq-tui: running on system (JACK")
        at, _ = out.wait("floweq-tui: MIDI (jack)")  # its JACK client is open
        private_jack.proc.kill()
        private_jack.proc.wait(10)
        t0 = time.monotonic()
        _, said = out.wait(" says: ", at)
        took = time.monotonic() - t0
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = tmp_path / "st" / "floweq-tui" / "logs"
    assert said.startswith("floweq-tui: ") and f"in {logs}/" in said, said
    name = said.split(" says: ")[0].removeprefix("floweq-tui: ")
    text = (logs / f"{name}.log").read_text()
    assert any(x in text for x in LIBJACK), text
    assert not any(x in err for x in LIBJACK), err
    assert proc.returncode == 0 and "Traceback" not in err, err
    with capsys.disabled():
        print(f"\njackd killed: headless said {said!r} after {took:.2f} s")
