"""Soak the real app (UI + engine) on a private JACK dummy server: xruns and CPU over a long run.

    python benchmarks/ui_soak.py --seconds 600 --period 128 [--hold]
    python benchmarks/ui_soak.py --quick      # 1 s idle, 2 s measured: does it run?

Run it from the repository root after ``pip install .``: it runs the installed ``floweq-tui``
console script (the command a user types; it must import the same floweq_tui as this
script) and takes its JACK helpers from ``tests/harness``.

Starts ``jackd -n uisoak_PID -d dummy`` with ``--period`` as its period (the
``JACK_DEFAULT_SERVER`` the app gets; a shared server is never touched; ``--server NAME`` or
``--use-running`` uses a running one instead, whose log is not ours: the jackd counts are
then null), then runs the real app, ``floweq-tui -b PERIOD --no-midi``, in a detached 80x24
tmux session with ``XDG_CONFIG_HOME`` in a temp dir. Textual draws on stderr, so nothing is
redirected.

Once the UI is up, the script measures the UI process's CPU for ``--idle`` seconds with no
input, then for ``--seconds``: with ``--hold``, the arrow keys are sent ~30 times a second
(a control held down: the latent point sweeps between x = -1 and +1, and every key is a
control change and a full redraw); without it, the UI is left idle. The UI process is the
tmux pane's process; the engine is its multiprocessing child. CPU is utime + stime from
/proc/<pid>/stat, as a percentage of one core.

At the end it reads the xruns from jackd's log (``harness.jack.count_xruns``: "XRun" lines,
one xrun often logs two) and from the app's status line (``xruns N``: the engine's own
count, every block PortAudio flags), quits with ``q``, checks that no process it started is
left (and kills any that is, by pid), stops jackd, and prints notes on stderr and, as its
last line on stdout, one JSON object:

* ``jack_xruns``, ``ui_xruns``: over the measured window (after the UI was up and the idle
  phase); ``*_total`` over the whole run, start-up included;
* ``ui_cpu_percent``, ``engine_cpu_percent``: over the measured window;
  ``ui_cpu_idle_percent``: over the idle phase before it;
* ``load_avg``: /proc/loadavg's 1/5/15-minute averages at the end; ``cpu_pressure_*``: the
  "some avg60" of /proc/pressure/cpu before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import floweq_tui
    from floweq_tui import _dsp  # noqa: F401  (the installed package, compiled core included)
except ImportError as exc:
    sys.exit(f"ui_soak: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(REPO / "tests"))  # the harness only

from harness import jack  # noqa: E402
from harness.entry import console_script  # noqa: E402
from harness.procs import procs_with_env  # noqa: E402

TMUX = shutil.which("tmux")


def note(text: str) -> None:
    print(f"ui_soak: {text}", file=sys.stderr, flush=True)


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TMUX or "tmux", *args], capture_output=True, text=True, check=False)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session).stdout


def alive(session: str) -> bool:
    return tmux("has-session", "-t", session).returncode == 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def xruns_on_screen(text: str) -> int | None:
    for line in text.split("\n"):
        for tag in (" xruns ", " xr "):
            if tag in line:
                try:
                    return int(line.split(tag)[1].split()[0])
                except (IndexError, ValueError):
                    return None
    return None


def pressure_some_avg60() -> float | None:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(line.split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window")
    ap.add_argument("--period", type=int, default=128, help="server period = engine block")
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--hold", action="store_true", help="hold an arrow key down (~30 keys/s)")
    ap.add_argument("--key-rate", type=float, default=30.0, help="keys per second with --hold")
    ap.add_argument("--idle", type=float, default=10.0, help="idle seconds measured first")
    ap.add_argument("--quick", action="store_true", help="1 s idle, 2 s measured: does it run?")
    jack.add_server_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.idle = 2.0, 1.0

    if TMUX is None:
        note("tmux is not installed")
        return 1
    script, why = console_script(floweq_tui.__file__, dict(os.environ), REPO)
    if script is None:
        note(why)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="floweq-uisoak-"))
    log = tmp / "jackd.log"
    pressure0 = pressure_some_avg60()
    try:
        with jack.benchmark_server(args, args.samplerate, args.period, log, "uisoak") as server:
            if server.started:
                note(
                    f"started jackd -n {server.name} -d dummy -r {args.samplerate} -p {args.period}"
                )
            return run_app(args, server, script, tmp, pressure0)
    except jack.ServerError as exc:
        note(str(exc))
        return 1
    finally:
        if log.exists():
            note(f"jackd log: {log}")


def run_app(
    args: argparse.Namespace, server: jack.Server, script: Path, tmp: Path, pressure0: float | None
) -> int:
    """Run the app in tmux on ``server``, measure, quit; prints the JSON line."""
    session = f"fquisoak{os.getpid()}"
    marker = f"FLOWEQ_UISOAK_MARK={tmp}"
    # the pane gets this process's PYTHONPATH (or none), so the script imports what we do
    pythonpath = os.environ.get("PYTHONPATH")
    path_env = "-u PYTHONPATH" if pythonpath is None else f"PYTHONPATH={shlex.quote(pythonpath)}"
    server_env = (
        f"JACK_DEFAULT_SERVER={shlex.quote(server.name)}"
        if server.name
        else "-u JACK_DEFAULT_SERVER"
    )
    env = (
        f"exec env {path_env} {server_env} {shlex.quote(marker)} "
        f"XDG_CONFIG_HOME={shlex.quote(str(tmp / 'config'))} TERM=xterm-256color COLORTERM="
    )
    app = f"{shlex.quote(str(script))} -b {args.period} --no-midi"
    cmd = f"cd {shlex.quote(str(REPO))} && {env} {app}"
    log = server.log
    result: dict[str, object] = {}
    leftover: list[int] = []
    code = 1
    try:
        tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd)
        if not wait_for(lambda: "BANDS" in screen(session) and " Hz " in screen(session), 60):
            note(f"the UI did not come up; screen:\n{screen(session)}")
            return 1
        status = screen(session).split("\n")[0].strip()
        note(f"status line: {status!r}")
        if "JACK" not in status or "running" not in status:
            note("the app is not running on the JACK server")
            return 1
        ui = int(tmux("display", "-p", "-t", session, "#{pane_pid}").stdout.strip())
        if "floweq-tui" not in cmdline(ui):
            ui = next(p for p in descendants(ui) if "floweq-tui" in cmdline(p))
        kids = children(ui)
        engine = next((p for p in kids if "spawn_main" in cmdline(p)), None)
        note(f"UI pid {ui}, engine pid {engine}, children {kids}")

        time.sleep(2.0)  # let start-up settle
        t0, c0 = time.monotonic(), cpu_seconds(ui)
        time.sleep(args.idle)
        idle = (cpu_seconds(ui) - c0) / (time.monotonic() - t0)

        text = screen(session)
        ui_xr0 = xruns_on_screen(text)
        jack_xr0 = jack.count_xruns(log) if log else None
        if args.hold:
            tmux("send-keys", "-t", session, "T")  # focus the traverse pad
            time.sleep(0.2)
        t0 = time.monotonic()
        c0 = cpu_seconds(ui)
        e0 = cpu_seconds(engine) if engine else 0.0
        end = t0 + args.seconds
        keys = 0
        next_t = t0
        while time.monotonic() < end:
            if args.hold:
                # 20 x Right (0 -> +1), then 40 Left / 40 Right: x sweeps between -1 and +1
                phase = (keys + 20) // 40 % 2
                tmux("send-keys", "-t", session, "Right" if phase == 0 else "Left")
                keys += 1
                next_t += 1.0 / args.key_rate
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            else:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        t1 = time.monotonic()
        c1 = cpu_seconds(ui)
        e1 = cpu_seconds(engine) if engine else 0.0
        time.sleep(0.5)  # the status line redraws within a frame or two
        text = screen(session)
        status_end = text.split("\n")[0].strip()
        ui_xr1 = xruns_on_screen(text)
        jack_xr1 = jack.count_xruns(log) if log else None
        load = Path("/proc/loadavg").read_text().split()[:3]

        tmux("send-keys", "-t", session, "q")
        quit_ok = wait_for(lambda: not alive(session), 30)
        wait_for(lambda: not procs_with_env(marker), 10)
        leftover = procs_with_env(marker)
        result = {
            "seconds": round(t1 - t0, 3),
            "period": args.period,
            "hold": args.hold,
            "jack_xruns": None if jack_xr0 is None else jack_xr1 - jack_xr0,
            "ui_xruns": None if ui_xr0 is None or ui_xr1 is None else ui_xr1 - ui_xr0,
            "ui_cpu_percent": round(100.0 * (c1 - c0) / (t1 - t0), 2),
            "engine_cpu_percent": round(100.0 * (e1 - e0) / (t1 - t0), 2) if engine else None,
            "load_avg": [float(x) for x in load],
            "ui_cpu_idle_percent": round(100.0 * idle, 2),
            "keys_sent": keys,
            "jack_xruns_total": jack_xr1,
            "ui_xruns_total": ui_xr1,
            "cpu_pressure_some_avg60_before": pressure0,
            "cpu_pressure_some_avg60_after": pressure_some_avg60(),
            "samplerate": args.samplerate,
            "server_name": server.name or "default",
            "server": "started" if server.started else "reused",
            "status_line_end": status_end,
            "quit_with_q": quit_ok,
            "processes_left": len(leftover),
        }
        code = 0 if quit_ok and not leftover else 1
    finally:
        if alive(session):
            tmux("kill-session", "-t", session)
        for pid in procs_with_env(marker):  # never leave our own processes behind
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    if leftover:
        note(f"processes left after q (killed): {leftover}")
    print(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
