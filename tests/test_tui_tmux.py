"""End to end, the way a user over SSH sees it: the real `floweq-tui` in an 80x24 tmux pane
(the silent clock: no audio device needed), keys sent with send-keys, the screen read back
with capture-pane. Also measures the UI process's CPU, idle and with a key held down.

The pane runs the installed ``floweq-tui`` console script, the command a user types (not
``python -m floweq_tui``), after checking that it imports the floweq_tui under test; if it
does not, these tests skip saying to install the package (and fail under CI).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from harness.entry import console_script
from harness.procs import procs_with_env

import floweq_tui

REPO = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
]


class Pane:
    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, *args], capture_output=True, text=True, check=check)

    def screen(self) -> list[str]:
        out = self.tmux("capture-pane", "-p", "-t", self.name, check=False).stdout
        return out.split("\n")

    def text(self) -> str:
        return "\n".join(self.screen())

    def keys(self, *keys: str) -> None:
        for k in keys:
            self.tmux("send-keys", "-t", self.name, k)
            time.sleep(0.05)

    def wait(self, predicate, timeout: float = 20.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.text()}")

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.name, check=False).returncode == 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ui_pid(pids: list[int]) -> int:
    for pid in pids:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "floweq-tui" in cmd and "multiprocessing" not in cmd and "python" in cmd:
            return pid
    raise AssertionError(f"no UI process among {pids}")


@pytest.fixture(scope="module")
def floweq_tui_command() -> tuple[str, str]:
    """The installed `floweq-tui` and the PYTHONPATH part of the pane's environment.

    The pane gets this process's PYTHONPATH (or none), as a user's shell would; the
    script must then import the floweq_tui these tests import, or the test skips.
    """
    pythonpath = os.environ.get("PYTHONPATH")
    script, why = console_script(floweq_tui.__file__, dict(os.environ), REPO)
    if script is None:
        pytest.skip(why)
    if pythonpath is None:
        return str(script), "-u PYTHONPATH"
    return str(script), f"PYTHONPATH={shlex.quote(pythonpath)}"


@contextlib.contextmanager
def start_pane(tmp_path: Path, args: str, command: tuple[str, str]):
    """The real `floweq-tui ARGS` in an 80x24 tmux pane; everything it started is killed after."""
    name = f"fqtest{os.getpid()}"
    cfg = tmp_path / "config"
    marker = f"FLOWEQ_TUI_TEST_MARK={tmp_path}"
    script, path_env = command
    env = (
        f"env {path_env} {shlex.quote(marker)} XDG_CONFIG_HOME={shlex.quote(str(cfg))} "
        "TERM=xterm-256color COLORTERM="
    )
    if os.environ.get("JACK_DEFAULT_SERVER"):  # (a running tmux server has its own env)
        env += f" JACK_DEFAULT_SERVER={shlex.quote(os.environ['JACK_DEFAULT_SERVER'])}"
    cmd = f"cd {shlex.quote(str(REPO))} && {env} {shlex.quote(script)} {args}"
    subprocess.run([TMUX, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd], check=True)
    pane = Pane(name)
    pane.marker = marker.split("=", 1)[1]  # type: ignore[attr-defined]
    pane.cfg = cfg  # type: ignore[attr-defined]
    try:
        yield pane
    finally:
        if pane.alive():
            pane.tmux("kill-session", "-t", name, check=False)
        for pid in procs_with_env(marker):  # never leave our own processes behind
            try:
                os.kill(pid, 9)
            except OSError:
                pass


@pytest.fixture
def app_pane(tmp_path, floweq_tui_command):
    with start_pane(tmp_path, "--silent", floweq_tui_command) as pane:
        yield pane


def _quit(p: Pane) -> None:
    """q quits: the pane closes, no UI or engine process is left, the session is saved."""
    p.keys("q")
    deadline = time.monotonic() + 20
    while p.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not p.alive(), "q did not quit"
    deadline = time.monotonic() + 10
    while procs_with_env(p.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs_with_env(p.marker) == [], "a floweq process was left behind"
    assert (p.cfg / "floweq-tui" / "session.json").is_file()


def test_tmux_end_to_end(app_pane: Pane, capsys) -> None:
    p = app_pane
    screen = p.wait(lambda t: "TRAVERSE" in t and " Hz " in t and "BANDS" in t, 40, "the UI")
    lines = screen.split("\n")
    assert "no audio device: silent clock" in lines[0]
    assert all(len(line) <= 80 for line in lines)
    pids = procs_with_env(p.marker)
    assert len(pids) >= 2, "the UI and the engine process should both run"
    ui = _ui_pid(pids)
    has_models = "no model" not in lines[0]

    def curve(text: str) -> list[str]:
        return [line[:52] for line in text.split("\n")[1:11]]

    before = curve(screen)
    # arrows move the latent point (and, with models, the curve)
    p.keys("S-Right", "S-Right", "Up")
    screen = p.wait(lambda t: "x+0.50 y+0.05" in t, 10, "the point to move")
    if has_models:
        p.wait(lambda t: curve(t) != before, 5, "the curve to change after the arrows")
    # the mode label switches
    p.keys("m")
    p.wait(lambda t: t.startswith(" SEMANTIC"), 10, "Semantic")
    p.keys("M")
    screen = p.wait(lambda t: t.startswith(" MANUAL"), 10, "Manual")
    # a band edit in Manual changes the curve in any case: Tab to the bands, LS gain +6 dB
    before = curve(screen)
    p.keys("Tab", "Tab", "Tab", "Tab", "n", ">", ">")
    gain_row = next(x for x in screen.split("\n") if x.startswith(" gain"))
    p.wait(lambda t: gain_row not in t and curve(t) != before, 10, "the band gain and the curve")

    # CPU of the UI process: idle, then with a key "held" (auto-repeat ~30/s)
    time.sleep(1.0)
    t0, c0 = time.monotonic(), _cpu_seconds(ui)
    time.sleep(5.0)
    idle = (_cpu_seconds(ui) - c0) / (time.monotonic() - t0)
    p.keys("T")
    t0, c0 = time.monotonic(), _cpu_seconds(ui)
    end = t0 + 4.0
    k = 0
    while time.monotonic() < end:
        p.tmux("send-keys", "-t", p.name, "Right" if (k // 40) % 2 == 0 else "Left")
        k += 1
        time.sleep(1 / 30)
    held = (_cpu_seconds(ui) - c0) / (time.monotonic() - t0)
    p.wait(lambda t: " xruns 0" in t.split("\n")[-3], 5, "the xrun counter at 0")
    with capsys.disabled():
        print(f"\nUI CPU: idle {100 * idle:.1f}% of a core, key held {100 * held:.1f}%")
    assert idle < 0.10, f"idle UI CPU {100 * idle:.1f}% (target < 5%)"

    _quit(p)


def test_tmux_ctrl_c_quits(app_pane: Pane) -> None:
    p = app_pane
    p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
    p.keys("C-c")
    deadline = time.monotonic() + 20
    while p.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not p.alive()
    time.sleep(0.5)
    assert procs_with_env(p.marker) == []


@pytest.mark.jack
def test_tmux_on_jack_dummy(jack_server, tmp_path, capsys, floweq_tui_command) -> None:  # noqa: ARG001
    """The same instrument on the JACK dummy server (the default device, no --silent): the
    status line names the JACK device and the UI responds. The xrun count over the run is
    printed, not asserted (a shared server's xruns are not ours to judge)."""
    with start_pane(tmp_path, "", floweq_tui_command) as p:
        p.wait(lambda t: "TRAVERSE" in t and "BANDS" in t, 40, "the UI")
        # the engine may open the device a moment after the UI shows (a busy server is retried)
        screen = p.wait(lambda t: "running" in t.split("\n")[0], 20, "the engine on JACK")
        status = screen.split("\n")[0]
        assert "running" in status and "JACK" in status, status
        assert all(len(line) <= 80 for line in screen.split("\n"))
        xr0 = _xruns(screen)
        p.keys("S-Right", "S-Right", "Up")
        p.wait(lambda t: "x+0.50 y+0.05" in t, 10, "the point to move")
        p.keys("m")
        p.wait(lambda t: t.startswith(" SEMANTIC"), 10, "Semantic")
        time.sleep(3.0)
        screen = p.text()
        with capsys.disabled():
            print(
                f"\nJACK status line: {screen.split(chr(10))[0].strip()!r}; "
                f"xruns on screen {xr0} -> {_xruns(screen)} over the run"
            )
        _quit(p)


def _xruns(screen: str) -> int | None:
    for line in screen.split("\n"):
        for tag in (" xruns ", " xr "):
            if tag in line:
                try:
                    return int(line.split(tag)[1].split()[0])
                except (IndexError, ValueError):
                    return None
    return None


EPOLL_WAITS = {232: 3, 281: 3, 441: 3}  # x86_64 epoll_wait, epoll_pwait (timeout: 4th arg)
"""(epoll_pwait2, 441, takes a timespec pointer: NULL is no timeout.)"""


def _waits_forever(pid: int) -> bool:
    """True if one of the process's threads sleeps in epoll_wait with no timeout (Textual's
    input thread waits in select(0.1) and wakes 10 times a second; ours waits for input)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:
            continue
        if not fields or not fields[0].isdigit() or int(fields[0]) not in EPOLL_WAITS:
            continue
        arg = int(fields[1 + EPOLL_WAITS[int(fields[0])]], 16)
        if (int(fields[0]) == 441 and arg == 0) or arg in (2**64 - 1, 2**32 - 1):
            return True
    return False


@pytest.mark.skipif(
    os.uname().machine != "x86_64" or not Path("/proc/self/syscall").exists(),
    reason="reads x86_64 syscall numbers from /proc/PID/task/TID/syscall",
)
def test_input_thread_sleeps_until_a_key(app_pane) -> None:
    """Idle, the UI's terminal reader sleeps with no timeout (not 10 wake-ups a second); a
    key, a lone Escape (the parser's own deadline) and q still work at once."""
    p = app_pane
    p.wait(lambda t: "BANDS" in t, 40, "the UI")
    ui = _ui_pid(procs_with_env(p.marker))
    deadline = time.monotonic() + 20
    while not _waits_forever(ui):
        assert time.monotonic() < deadline, "no thread of the UI sleeps without a timeout"
        time.sleep(0.1)
    p.keys("?")
    p.wait(lambda t: "BANDS" not in t, 20, "the help screen")
    p.keys("Escape")
    p.wait(lambda t: "BANDS" in t, 20, "back to the instrument after a lone Escape")
    _quit(p)
