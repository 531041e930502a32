"""Idle cost of the whole process tree (UI or headless, engine, MIDI service), per process.

    python benchmarks/idle.py [--seconds 30] [--modes ui-silent,ui-jack,headless-silent,...]
    python benchmarks/idle.py --hold --modes ui-silent,ui-jack   # a key held down instead
    python benchmarks/idle.py --quick          # a few seconds per mode: does it run?
    python benchmarks/idle.py --scenarios idle,modulated,held --modes ui-silent,ui-jack
        # side by side in one run: left alone, two modulators sweeping x and y, a key held

Run it from the repository root after ``pip install .``: it runs the installed ``floweq-tui``
console script (the command a user types; it must import the same floweq_tui as this
script) and takes its JACK helpers from ``tests/harness``.

It starts a private JACK dummy server (``jackd -n idle_PID -d dummy -p PERIOD``; ``--server
NAME`` or ``--use-running`` uses a running one) and makes it the ``JACK_DEFAULT_SERVER`` of
every run, so the MIDI service's JACK client and the engine (in the ``*-jack`` modes) never
join a server others share. Without jackd, the ``*-jack`` modes are skipped (null) and the
others run without a server. Each mode runs the app as a user would, with a fresh
``XDG_CONFIG_HOME`` / ``XDG_STATE_HOME`` in a temp dir, MIDI on (its default), the demo
source playing:

* ``ui-silent``: ``floweq-tui --silent`` in a detached 80x24 tmux session (silent clock);
* ``ui-jack``: ``floweq-tui -b PERIOD`` in tmux, the engine on the JACK server;
* ``headless-silent``: ``floweq-tui --headless --silent``;
* ``headless-jack``: ``floweq-tui --headless -b PERIOD``.

Once the app is up (the UI drawn, or headless's start line printed) and ``--settle``
seconds have passed (start-up notices fade), it reads utime + stime from /proc/PID/stat for
every process of the app's tree, waits ``--seconds`` with no input (with ``--hold``: an
arrow key sent ``--key-rate`` times a second in the UI modes, a control held down), and
reads them again. Each process is named by what it runs: the front end (``ui`` or
``headless``: the command's own process), the ``engine`` (maps the compiled core, ``_dsp``),
the ``midi`` service (maps ``_rtmidi`` or ``_jackmidi``), ``other`` (multiprocessing's
resource tracker). Figures are % of one core. Then it quits (``q``, or SIGTERM for
headless), checks that no process is left, and prints notes on stderr and, as its last line
on stdout, one JSON object:
``modes`` (per mode: ``ui``/``headless``, ``engine``, ``midi``, ``other``, ``total``, the pids,
the status line seen and whether it quit cleanly, and ``threads``: each thread's % of a core
and how often it ran per second, from /proc/PID/task/TID/schedstat, which ``--threads``
also prints) and ``total_cpu_percent`` (the tree's total per mode).

``--scenarios`` runs several cases one after the other in the same run (each mode of each
scenario in turn): ``idle`` (left alone), ``modulated`` (two modulators sweep x and y
continuously, ``--modulation``; the UI draws the moving curve and bands at its frame rate)
and ``held`` (an arrow key held down, UI modes only, as ``--hold``). The JSON then also has
``scenarios`` (scenario -> mode -> result), ``scenario_totals`` (scenario -> mode -> the
tree's total) and ``ratio_to_idle`` (each total over the same mode's idle total); ``modes``
and ``total_cpu_percent`` are the first scenario's. A table is printed on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import floweq_tui
    from floweq_tui import _dsp  # noqa: F401  (the installed package, compiled core included)
except ImportError as exc:
    sys.exit(f"idle: the installed floweq_tui is needed ({exc}): run `pip install .` first")
sys.path.insert(0, str(REPO / "tests"))  # the harness only

from harness import jack  # noqa: E402
from harness.entry import console_script  # noqa: E402
from harness.procs import procs_with_env  # noqa: E402

MODES = ("ui-silent", "ui-jack", "headless-silent", "headless-jack")
SCENARIOS = ("idle", "modulated", "held")
MODULATION = "--lfo x:sine:0.5hz:0.8 --lfo y:tri:0.3hz:0.8"
"""Two modulators sweeping x and y continuously (the issue's "cost while modulating")."""
TMUX = shutil.which("tmux")
TCK = os.sysconf("SC_CLK_TCK")


def note(text: str) -> None:
    print(f"idle: {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------- processes


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def thread_stats(pid: int) -> dict[int, tuple[str, int, int]]:
    """Per thread of a process: (name, ns on a CPU, times it ran) from
    /proc/PID/task/TID/schedstat (a thread that went meanwhile is left out)."""
    out: dict[int, tuple[str, int, int]] = {}
    try:
        tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return out
    for tid in tids:
        base = Path(f"/proc/{pid}/task/{tid}")
        try:
            run_ns, _, slices = (int(x) for x in (base / "schedstat").read_text().split())
            name = (base / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
        out[tid] = (name, run_ns, slices)
    return out


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [pid], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def role(pid: int, root: int, front: str) -> str:
    """What a process of the tree is: the front end, the engine, the MIDI service, other."""
    if pid == root:
        return front
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "other"
    if "_rtmidi" in maps or "/_jackmidi." in maps:  # (on JACK it never loads rtmidi)
        return "midi"
    if "/_dsp." in maps:
        return "engine"
    return "other"


def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def measure(root: int, front: str, seconds: float, during: Callable[[float], int]) -> dict:
    """CPU of every process of ``root``'s tree over ``seconds`` (``during(end)`` runs the
    window and returns the keys it sent)."""
    pids = tree(root)
    before = {p: cpu_ticks(p) for p in pids}
    threads0 = {p: thread_stats(p) for p in pids}
    t0 = time.monotonic()
    keys = during(t0 + seconds)
    t1 = time.monotonic()
    threads1 = {p: thread_stats(p) for p in pids}
    for p in tree(root):  # a process started during the window counts from zero
        before.setdefault(p, 0)
    out = {front: 0.0, "engine": 0.0, "midi": 0.0, "other": 0.0}
    pid_roles: dict[str, str] = {}
    for p, c0 in before.items():
        c1 = cpu_ticks(p)
        if c0 is None or c1 is None:
            continue
        name = role(p, root, front)
        pid_roles[str(p)] = name
        out[name] += 100.0 * (c1 - c0) / TCK / (t1 - t0)
    result: dict[str, object] = {k: round(v, 2) for k, v in out.items()}
    result["total"] = round(sum(out.values()), 2)
    result["seconds"] = round(t1 - t0, 2)
    result["pids"] = pid_roles
    result["keys_sent"] = keys
    per_thread = []
    for p, ts in threads1.items():
        for tid, (name, ns1, n1) in ts.items():
            name0, ns0, n0 = threads0.get(p, {}).get(tid, (name, 0, 0))
            per_thread.append(
                {
                    "process": pid_roles.get(str(p), "other"),
                    "thread": name,
                    "tid": tid,
                    "cpu": round(100.0 * (ns1 - ns0) / 1e9 / (t1 - t0), 3),
                    "runs_per_s": round((n1 - n0) / (t1 - t0), 1),
                }
            )
    per_thread.sort(key=lambda t: -float(t["cpu"]))  # type: ignore[arg-type]
    result["threads"] = per_thread
    """Per thread (schedstat, ns precision): % of a core and how often it ran (wake-ups)."""
    return result


# ----------------------------------------------------------------- the modes


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TMUX or "tmux", *args], capture_output=True, text=True, check=False)


KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONSAFEPATH")
KEEP += ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")


def app_env(tmp: Path, marker: str) -> dict[str, str]:
    """The app's whole environment: fresh config and state dirs, our marker, and from ours
    only ``KEEP`` (PYTHONPATH, so the script imports what we do; the JACK server)."""
    env = {k: os.environ[k] for k in KEEP if k in os.environ}
    key, value = marker.split("=", 1)
    env.update(
        {
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "XDG_STATE_HOME": str(tmp / "state"),
            key: value,
            "TERM": "xterm-256color",
        }
    )
    return env


def hold_keys(session: str, rate: float) -> Callable[[float], int]:
    """Send arrow keys ``rate`` times a second until ``end``: x sweeps between -1 and +1."""

    def run(end: float) -> int:
        keys, next_t = 0, time.monotonic()
        while time.monotonic() < end:
            phase = (keys + 20) // 40 % 2  # 20 x Right (0 -> +1), then 40 Left / 40 Right
            tmux("send-keys", "-t", session, "Right" if phase == 0 else "Left")
            keys += 1
            next_t += 1.0 / rate
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return keys

    return run


def idle_until(end: float) -> int:
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))
    return 0


def run_ui(args: argparse.Namespace, script: Path, jack_mode: bool, tmp: Path) -> dict:
    """One UI mode in a detached 80x24 tmux session."""
    session = f"fqidle{os.getpid()}"
    marker = f"FLOWEQ_IDLE_MARK={tmp}"
    audio = ["-b", str(args.period)] if jack_mode else ["--silent"]
    cmd = [str(script), *audio, *shlex.split(args.app_args)]
    env = [f"{k}={v}" for k, v in app_env(tmp, marker).items()]
    # env -i: the tmux server's own environment (whoever started it) does not leak in
    shell = f"cd {shlex.quote(str(REPO))} && exec {shlex.join(['env', '-i', *env, *cmd])}"
    result: dict[str, object] = {"command": shlex.join(cmd)}
    try:
        tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", shell)

        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", session).stdout

        if not wait_for(lambda: "BANDS" in screen() and " Hz " in screen(), 60):
            note(f"the UI did not come up; screen:\n{screen()}")
            return {**result, "error": "the UI did not come up"}
        pane = int(tmux("display", "-p", "-t", session, "#{pane_pid}").stdout.strip())
        # the engine and the MIDI service are up once the status line says so
        wait_for(lambda: "MIDI" in screen().split("\n")[0] or "--no-midi" in args.app_args, 20)
        time.sleep(args.settle)
        status = screen().split("\n")[0].strip()
        if jack_mode and ("JACK" not in status or "running" not in status):
            note(f"the app is not running on the JACK server: {status!r}")
            return {**result, "error": "not running on JACK", "status_line": status}
        if args.hold:
            tmux("send-keys", "-t", session, "T")  # focus the traverse pad
            time.sleep(0.2)
        during = hold_keys(session, args.key_rate) if args.hold else idle_until
        result.update(measure(pane, "ui", args.seconds, during))
        result["status_line"] = screen().split("\n")[0].strip()
        tmux("send-keys", "-t", session, "q")
        result["quit_clean"] = wait_for(
            lambda: tmux("has-session", "-t", session).returncode != 0, 30
        )
    finally:
        if tmux("has-session", "-t", session).returncode == 0:
            tmux("kill-session", "-t", session)
        result["processes_left"] = reap(marker)
    return result


def run_headless(args: argparse.Namespace, script: Path, jack_mode: bool, tmp: Path) -> dict:
    """One headless mode: started, read until its start line, measured, stopped by SIGTERM."""
    marker = f"FLOWEQ_IDLE_MARK={tmp}"
    audio = ["-b", str(args.period)] if jack_mode else ["--silent"]
    cmd = [str(script), "--headless", *audio, *shlex.split(args.app_args)]
    result: dict[str, object] = {"command": shlex.join(cmd)}
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=app_env(tmp, marker),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        started = wait_for(lambda: any(" on " in ln and "frames" in ln for ln in lines), 60)
        if not started:
            note(f"headless did not start; output:\n{''.join(lines)}")
            return {**result, "error": "headless did not start"}
        wait_for(lambda: any("MIDI" in ln for ln in lines) or "--no-midi" in args.app_args, 20)
        time.sleep(args.settle)
        start = next(ln for ln in lines if " on " in ln and "frames" in ln).strip()
        if jack_mode and "JACK" not in start:
            note(f"headless is not running on the JACK server: {start!r}")
            return {**result, "error": "not running on JACK", "status_line": start}
        result.update(measure(proc.pid, "headless", args.seconds, idle_until))
        result["status_line"] = start
        proc.send_signal(signal.SIGTERM)
        try:
            result["quit_clean"] = proc.wait(30) == 0
        except subprocess.TimeoutExpired:
            result["quit_clean"] = False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        result["processes_left"] = reap(marker)
    return result


def reap(marker: str) -> int:
    """How many of the run's processes were left after it quit (they are killed, by pid)."""
    wait_for(lambda: not procs_with_env(marker), 10)
    left = procs_with_env(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if left:
        note(f"processes left after quitting (killed): {left}")
    return len(left)


# ----------------------------------------------------------------- main


def pressure_some_avg60() -> float | None:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(line.split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="measured window per mode")
    ap.add_argument("--settle", type=float, default=8.0, help="seconds after start-up")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    ap.add_argument("--period", type=int, default=128, help="JACK period = engine block")
    ap.add_argument("--samplerate", type=int, default=48000)
    ap.add_argument("--hold", action="store_true", help="UI modes: hold an arrow key down")
    ap.add_argument("--key-rate", type=float, default=30.0, help="keys per second with --hold")
    ap.add_argument("--app-args", default="", help="more arguments for floweq-tui")
    ap.add_argument(
        "--scenarios",
        default="",
        help="comma-separated, run side by side: " + ", ".join(SCENARIOS) + " (default: idle, "
        "or held with --hold)",
    )
    ap.add_argument("--modulation", default=MODULATION, help="the app arguments of 'modulated'")
    ap.add_argument("--quick", action="store_true", help="2 s per mode: does it run?")
    ap.add_argument(
        "--threads", action="store_true", help="print each thread's share and wake-ups on stderr"
    )
    jack.add_server_args(ap)
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.settle = 2.0, 1.0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        note(f"unknown mode(s) {bad}: choose from {', '.join(MODES)}")
        return 2
    scenarios = [c.strip() for c in args.scenarios.split(",") if c.strip()]
    scenarios = scenarios or ["held" if args.hold else "idle"]
    bad = [c for c in scenarios if c not in SCENARIOS]
    if bad:
        note(f"unknown scenario(s) {bad}: choose from {', '.join(SCENARIOS)}")
        return 2

    script, why = console_script(floweq_tui.__file__, dict(os.environ), REPO)
    if script is None:
        note(why)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="floweq-idle-"))
    log = tmp / "jackd.log"
    pressure0 = pressure_some_avg60()
    with_server = shutil.which("jackd") is not None or args.server or args.use_running
    by_scenario: dict[str, dict[str, object]] = {}
    server_info: dict[str, object] = {"server": None, "server_name": None}

    def run_all(jack_ok: bool) -> None:
        for scenario in scenarios:
            sc = argparse.Namespace(**vars(args))
            sc.hold = scenario == "held"
            if scenario == "modulated":
                sc.app_args = f"{args.app_args} {args.modulation}".strip()
            where = tmp / scenario
            where.mkdir()
            note(f"scenario {scenario}")
            by_scenario[scenario] = run_modes(sc, modes, script, where, jack_ok=jack_ok)

    try:
        if with_server:
            with jack.benchmark_server(args, args.samplerate, args.period, log, "idle") as srv:
                server_info = {
                    "server": "started" if srv.started else "reused",
                    "server_name": srv.name or "default",
                }
                run_all(jack_ok=True)
        else:
            note("jackd is not installed: the *-jack modes are skipped")
            run_all(jack_ok=False)
    except jack.ServerError as exc:
        note(str(exc))
        return 1
    load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    results = by_scenario[scenarios[0]]
    totals = {m: (r or {}).get("total") for m, r in results.items()}  # type: ignore[union-attr]
    scenario_totals = {
        c: {m: (r or {}).get("total") for m, r in res.items()}  # type: ignore[union-attr]
        for c, res in by_scenario.items()
    }
    ratios: dict[str, dict[str, float | None]] = {}
    if "idle" in scenario_totals:
        base = scenario_totals["idle"]
        for c, tot in scenario_totals.items():
            ratios[c] = {
                m: round(t / base[m], 2) if t is not None and base.get(m) else None
                for m, t in tot.items()
            }
    print_table(by_scenario, ratios)
    out = {
        "benchmark": "idle_cpu",
        "scenarios_run": scenarios,
        "modulation": args.modulation if "modulated" in scenarios else None,
        "scenario_totals": scenario_totals,
        "ratio_to_idle": ratios,
        "scenarios": by_scenario,
        "hold": args.hold,
        "seconds": args.seconds,
        "settle": args.settle,
        "period": args.period,
        "samplerate": args.samplerate,
        "total_cpu_percent": totals,
        "modes": results,
        **server_info,
        "load_avg": load,
        "cpu_pressure_some_avg60_before": pressure0,
        "cpu_pressure_some_avg60_after": pressure_some_avg60(),
        "package": str(Path(floweq_tui.__file__).resolve().parent),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    print(json.dumps(out))
    failed = []
    for c, res in by_scenario.items():
        for m, r in res.items():
            if isinstance(r, dict) and ("error" in r or r.get("processes_left")):
                failed.append(f"{c}/{m}")
            elif isinstance(r, dict) and r.get("quit_clean") is False:
                failed.append(f"{c}/{m}")
    if failed:
        note(f"failed: {sorted(set(failed))}")
    return 1 if failed else 0


def print_table(by_scenario: dict[str, dict[str, object]], ratios: dict) -> None:
    """One line per scenario and mode on stderr: % of a core per process, total, ratio."""
    note("scenario   mode             front  engine    midi   total  x idle")
    for c, res in by_scenario.items():
        for m, r in res.items():
            if not isinstance(r, dict) or "total" not in r:
                continue
            front = r.get("ui", 0.0) if m.startswith("ui-") else r.get("headless", 0.0)
            ratio = ratios.get(c, {}).get(m)
            note(
                f"{c:10s} {m:15s} {front:6.2f} {r['engine']:7.2f} {r['midi']:7.2f} "
                f"{r['total']:7.2f}  {'' if ratio is None else f'{ratio:.2f}'}"
            )


def run_modes(
    args: argparse.Namespace, modes: list[str], script: Path, tmp: Path, jack_ok: bool
) -> dict[str, object]:
    """Run each mode in turn (never two at once); None for a mode that cannot run here."""
    out: dict[str, object] = {}
    for mode in modes:
        ui, on_jack = mode.startswith("ui-"), mode.endswith("-jack")
        if on_jack and not jack_ok:
            out[mode] = None
            continue
        if ui and TMUX is None:
            note(f"tmux is not installed: {mode} is skipped")
            out[mode] = None
            continue
        if args.hold and not ui:
            continue
        where = tmp / mode
        where.mkdir()
        note(f"{mode}: {args.settle:g} s to settle, then {args.seconds:g} s measured")
        run = run_ui if ui else run_headless
        out[mode] = run(args, script, on_jack, where)
        r = out[mode]
        if isinstance(r, dict) and "total" in r:
            parts = {k: r[k] for k in ("ui", "headless", "engine", "midi", "other") if k in r}
            note(f"{mode}: total {r['total']}% of a core {parts}")
            if getattr(args, "threads", False):
                for t in r.get("threads", []):
                    note(
                        f"  {t['process']:8s} {t['thread']:16s} {t['cpu']:6.3f}% "
                        f"{t['runs_per_s']:7.1f} runs/s"
                    )
    return out


if __name__ == "__main__":
    sys.exit(main())
