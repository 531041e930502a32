"""The audio engine: its own process owns the stream and the DSP.

Why a process: a Python audio callback sharing a process (and so a GIL) with a Textual UI
dropped out hundreds of times in seconds at 128 frames; alone in its own process it did
not. So ``Engine`` spawns ``_engine_main`` (multiprocessing, spawn) and talks to it through

* the controls block (shared memory): anyone writes, the audio thread only reads;
* the meters block (shared memory): the audio thread writes, anyone reads;
* a command pipe for non-real-time requests (open a device, load a file), each acknowledged.

With no usable audio device the engine runs the same processing on a silent real-time
clock, so meters and curves still move; it never fails to start for lack of a sound card.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .childproc import one_line, stop_child
from .controls import (
    CONTROL_DEFAULTS,
    CONTROL_INDEX,
    ENGINE_STATES,
    METER_INDEX,
    METERS_SIZE,
    N_CONTROLS,
    Controls,
    Meters,
    SharedBlock,
)

STATE_STOPPED, STATE_RUNNING, STATE_SILENT, STATE_ERROR = 0, 1, 2, 3


class EngineError(RuntimeError):
    """The engine could not do what was asked (one-line message)."""


class DeviceLost(Exception):
    """Raised in the engine process when its device vanished: the process hands over."""


EXIT_DEVICE_LOST = 75


@dataclass
class EngineConfig:
    """What the engine opens. Devices are an index or a name substring, as in sounddevice."""

    samplerate: int = 48000
    blocksize: int = 128
    channels: int = 2
    output_device: int | str | None = None
    input_device: int | str | None = None
    latency: float | str = "low"
    source: str = "demo"
    """"demo", "input" (live input through the EQ), "silence", or a path to an audio file."""
    silent: bool = False
    """Run on the silent clock even if a device exists (tests, or a box with no speakers)."""
    models_path: str | None = None
    reopen_seconds: float = 3.0
    """After a device is lost, try to reopen it this often (hot-plug)."""
    recovering: bool = False
    """Set by the supervisor on a process that replaces one whose device was lost."""
    # --- MIDI (floweq_tui/midi; the MIDI service runs in its own process, see docs/midi.md)
    midi: bool = False
    """Start the MIDI service process alongside the engine (the CLI turns it on)."""
    midi_in: str | None = None
    """Controller input: name substring; None = first hardware port; "none" = virtual only."""
    midi_out: str | None = None
    """Feedback output: name substring; None = the controller's own output; "none"."""
    midi_api: str | None = None
    """"alsa", "jack" or None (auto; FLOWEQ_MIDI_API overrides auto)."""
    midi_config: str | None = None
    """Mapping file (None: $XDG_CONFIG_HOME/floweq-tui/midi.toml)."""
    midi_virtual: bool = True
    """Also open the virtual ports "floweq-tui" (input) and "floweq-tui-out" (feedback)."""
    # --- end MIDI

    def validate(self) -> None:
        if not 8000 <= int(self.samplerate) <= 192000:
            raise EngineError(f"sample rate {self.samplerate} Hz is outside 8000-192000 Hz")
        if not 16 <= int(self.blocksize) <= 8192:
            raise EngineError(f"block size {self.blocksize} is outside 16-8192 frames")
        if not 1 <= int(self.channels) <= 32:
            raise EngineError(f"channels {self.channels} is outside 1-32")


@dataclass
class EngineStatus:
    """What the engine reports about itself (acknowledgements carry one)."""

    state: str = "stopped"
    message: str = ""
    device: str = ""
    hostapi: str = ""
    samplerate: int = 0
    blocksize: int = 0
    channels: int = 0
    source: str = ""
    models: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)
    pid: int = 0


class Engine:
    """Start/stop the engine process, set controls, read meters. Usable without any UI.

    >>> with Engine(EngineConfig(silent=True)) as eng:
    ...     eng.set("x", 1.0)
    ...     peak = eng.meters["peak_out"]
    """

    def __init__(self, config: EngineConfig | None = None, **controls: float) -> None:
        self.config = config or EngineConfig()
        self.config.validate()
        self._initial = controls
        self._proc: mp.process.BaseProcess | None = None
        self._conn: Any = None
        self._ctl_block: SharedBlock | None = None
        self._met_block: SharedBlock | None = None
        self.controls: Controls | None = None
        self.meters: Meters | None = None
        self.status = EngineStatus()
        self._lock = threading.Lock()
        self._stopped = True
        self._supervisor: threading.Thread | None = None
        self.restarts = 0
        """How many times the supervisor replaced the engine process after a device loss."""
        self.midi: Any = None  # MIDI: a floweq_tui.midi.MidiProcess while MIDI runs

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> EngineStatus:
        """Spawn the engine process and wait until it runs (on a device or the silent clock)."""
        if self._proc is not None and self._proc.is_alive():
            return self.status
        if self._ctl_block is None:
            self._ctl_block = SharedBlock(N_CONTROLS, create=True)
            self._ctl_block.array[:] = CONTROL_DEFAULTS
            self._met_block = SharedBlock(METERS_SIZE, create=True)
            self.controls = Controls(self._ctl_block.array)
            self.meters = Meters(self._met_block.array)
            for k, v in self._initial.items():
                self.controls[k] = v
        self._stopped = False
        atexit.register(self.stop)
        try:
            with self._lock:
                self._spawn(timeout, recovering=False)
        except EngineError:
            self.stop()
            raise
        if self._supervisor is None or not self._supervisor.is_alive():
            self._supervisor = threading.Thread(
                target=self._supervise, name="floweq-engine-supervisor", daemon=True
            )
            self._supervisor.start()
        self._start_midi()  # MIDI
        return self.status

    # --- MIDI: the service process beside the engine (floweq_tui/midi, docs/midi.md)

    def _start_midi(self) -> None:
        if not self.config.midi or self._ctl_block is None:
            return
        if self.midi is not None and self.midi.alive:
            return
        from .midi.client import MidiProcess

        cfg = self.config
        options = {
            "midi_in": cfg.midi_in,
            "midi_out": cfg.midi_out,
            "midi_api": cfg.midi_api,
            "midi_config": cfg.midi_config,
            "midi_virtual": cfg.midi_virtual,
            "model_count": len(self.status.models) or 64,
            "audio_hostapi": self.status.hostapi,
        }
        self.midi = MidiProcess(self._ctl_block.name, options)
        self.midi.start(wait=False)  # opens its ports in the background

    def _stop_midi(self) -> None:
        midi, self.midi = self.midi, None
        if midi is not None:
            midi.stop()

    def midi_command(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """A request to the MIDI process (status, knobs, learn, ...; see docs/midi.md)."""
        if self.midi is None:
            raise EngineError("MIDI is off (EngineConfig.midi is False or --no-midi)")
        from .midi.client import MidiError

        try:
            return self.midi.command(cmd, timeout=timeout, **args)
        except MidiError as exc:
            raise EngineError(str(exc)) from None

    # --- end MIDI

    def _spawn(self, timeout: float, recovering: bool) -> None:
        """Start one engine process and wait for its first acknowledgement (lock held)."""
        assert self._met_block is not None and self._ctl_block is not None
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        config = {**asdict(self.config), "recovering": recovering}
        proc = ctx.Process(
            target=_engine_main,
            args=(self._ctl_block.name, self._met_block.name, child, config),
            name="floweq-engine",
            daemon=True,
        )
        proc.start()
        child.close()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._proc, self._conn = proc, parent
        reply = self._wait_reply(timeout)
        if not reply.get("ok"):
            with contextlib.suppress(Exception):
                proc.kill()
            raise EngineError(reply.get("error", "the engine failed to start"))

    def _supervise(self) -> None:
        """Replace an engine process whose device was lost (hot-plug), with a backoff.

        A process that crashed for another reason is reported in ``status.message`` and
        left to the owner (``restart``), so a persistent fault cannot loop.
        """
        backoff = 0.5
        while not self._stopped:
            proc = self._proc
            if proc is None:
                time.sleep(0.2)
                continue
            proc.join(0.25)
            if self._stopped or proc.is_alive() or proc is not self._proc:
                continue
            if proc.exitcode != EXIT_DEVICE_LOST:
                self.status.state = "stopped"
                self.status.message = f"the engine process exited (code {proc.exitcode})"
                time.sleep(0.5)
                continue
            self.restarts += 1
            try:
                with self._lock:
                    if not self._stopped:
                        self._spawn(30.0, recovering=True)
                backoff = 0.5
            except EngineError as exc:
                self.status.message = str(exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the stream and the process, release shared memory. Idempotent."""
        self._stop_midi()  # MIDI: before the controls block it is attached to goes away
        if self._stopped and self._proc is None:
            return
        self._stopped = True
        proc, self._proc = self._proc, None
        with self._lock:
            stop_child(proc, self._conn, timeout)
            self._conn = None
        self.status.state = "stopped"
        for block in (self._ctl_block, self._met_block):
            if block is not None:
                block.close()
        self._ctl_block = self._met_block = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        """True while the engine process runs."""
        return self._proc is not None and self._proc.is_alive()

    @property
    def stopped(self) -> bool:
        """True once ``stop`` was called (a deliberate stop, not a crash)."""
        return self._stopped

    @property
    def controls_name(self) -> str | None:
        """Name of the shared controls block (another process may attach and write)."""
        return self._ctl_block.name if self._ctl_block is not None else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def restart(self, timeout: float = 30.0) -> EngineStatus:
        """Start a new engine process after a crash, keeping the controls."""
        with self._lock:
            if self._proc is not None:
                with contextlib.suppress(Exception):
                    self._proc.kill()
                self._proc.join(2.0)
            self._stopped = False
            try:
                self._spawn(timeout, recovering=False)
            except EngineError:
                self._proc = None
                raise
        return self.status

    # ------------------------------------------------------------ controls and meters

    def set(self, name: str, value: float) -> None:
        """Write one control; the audio thread applies it at its next block."""
        if self.controls is None:
            raise EngineError("the engine is not started")
        if name not in CONTROL_INDEX:
            raise EngineError(f"no control named {name!r}")
        self.controls[name] = value

    def set_many(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.set(k, v)

    def get(self, name: str) -> float:
        if self.controls is None:
            raise EngineError("the engine is not started")
        return self.controls[name]

    # ------------------------------------------------------------ commands

    def command(self, cmd: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        """Send a non-real-time request and wait for its acknowledgement."""
        if not self.alive:
            raise EngineError("the engine is not running")
        with self._lock:
            self._conn.send({"cmd": cmd, **args})
            reply = self._wait_reply(timeout)
        if not reply.get("ok"):
            raise EngineError(reply.get("error", f"{cmd} failed"))
        return reply

    def open(self, timeout: float = 30.0, **changes: Any) -> EngineStatus:
        """Reopen the stream with changed settings (device, rate, block size, channels)."""
        for k in changes:
            if not hasattr(self.config, k):
                raise EngineError(f"no engine setting named {k!r}")
        new = EngineConfig(**{**asdict(self.config), **changes})
        new.validate()
        self.command("open", timeout=timeout, config=asdict(new))
        self.config = new
        return self.status

    def load(self, source: str, capture: int = 0, timeout: float = 60.0) -> dict[str, Any]:
        """Play "demo", "silence", "input" or an audio file (looped) from the next block.

        With ``capture`` > 0 the output from that very block is recorded (see ``captured``).
        """
        reply = self.command("source", timeout=timeout, source=source, capture=int(capture))
        self.config.source = source
        return reply

    def captured(self, timeout: float = 60.0) -> np.ndarray:
        """Wait for the capture requested with ``load(..., capture=N)`` and return it."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.command("get_capture")
            if reply.get("data") is not None:
                return np.asarray(reply["data"], dtype=np.float32)
            if time.monotonic() > deadline:
                raise EngineError("capture did not complete in time")
            time.sleep(0.05)

    def refresh_status(self) -> EngineStatus:
        self.command("status")
        return self.status

    def _wait_reply(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {"ok": False, "error": "the engine did not answer in time"}
            try:
                if self._conn.poll(min(remaining, 0.2)):
                    reply = self._conn.recv()
                    if "status" in reply:
                        self.status = EngineStatus(**reply["status"])
                    return reply
            except (EOFError, OSError):
                return {"ok": False, "error": self._death_note()}
            if self._proc is not None and not self._proc.is_alive():
                return {"ok": False, "error": self._death_note()}

    def _death_note(self) -> str:
        code = self._proc.exitcode if self._proc is not None else None
        return f"the engine process exited (code {code})"

    # ------------------------------------------------------------ convenience

    @property
    def state(self) -> str:
        """The engine state as the audio thread last wrote it."""
        if self.meters is None or not self.alive:
            return "stopped"
        return ENGINE_STATES.get(int(self.meters["state"]), "unknown")


# =================================================================== the engine process


class _Runner:
    """Lives in the engine process: owns the processor, the stream or the silent clock."""

    def __init__(self, ctl_name: str, met_name: str, config: dict[str, Any]) -> None:
        from . import _dsp

        self._dsp = _dsp
        self.ctl_block = SharedBlock(N_CONTROLS, name=ctl_name)
        self.met_block = SharedBlock(METERS_SIZE, name=met_name)
        self.config = EngineConfig(**config)
        self.stream: Any = None
        self.clock: threading.Thread | None = None
        self.clock_stop = threading.Event()
        self.proc: Any = None
        self.state = STATE_STOPPED
        self.message = ""
        self.device_name = ""
        self.hostapi = ""
        self.source_name = ""
        self.source_array: np.ndarray | None = None
        self.lost_at: float | None = None
        self._load_models()

    # ------------------------------------------------------------ setup

    def _load_models(self) -> None:
        self.models = core_models(self.config.models_path)
        if self.models.error:
            self.message = self.models.error
        ctl = self.ctl_block.array
        if ctl[CONTROL_INDEX["model"]] == 0:
            ctl[CONTROL_INDEX["model"]] = self.models.default_index

    def _new_processor(self) -> None:
        cfg = self.config
        self.proc = self._dsp.Processor(
            cfg.channels,
            float(cfg.samplerate),
            max(cfg.blocksize, 8192),
            self.ctl_block.array,
            self.met_block.array,
            self.models.decoders,
            self.models.anchors,
        )

    def _load_source(self, source: str) -> np.ndarray | None:
        from . import sources

        cfg = self.config
        if source == "demo":
            return sources.demo_source(cfg.samplerate, cfg.channels)
        if source in ("silence", "input"):
            return None
        return sources.load_file(source, cfg.samplerate, cfg.channels)

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """Open the configured device, or fall back to the silent clock."""
        cfg = self.config
        self._new_processor()
        self.source_array = self._load_source(cfg.source)
        self.source_name = cfg.source
        self.proc.set_source(self.source_array)
        self.met_block.array[METER_INDEX["state"]] = STATE_STOPPED
        if cfg.silent:
            self._start_clock("silent clock requested")
            return
        try:
            self._open_stream()
        except Exception as exc:  # no sound card, device busy, unsupported rate, ...
            self._start_clock(one_line(exc))

    def _open_stream(self) -> None:
        from . import devices

        try:
            import sounddevice as sd
        except OSError as exc:
            raise EngineError(f"PortAudio is not available ({exc})") from None
        cfg = self.config
        if not devices.query():
            raise EngineError("no audio devices found")
        out_dev = devices.resolve(cfg.output_device, "output")
        duplex = cfg.source == "input"
        in_dev = devices.resolve(cfg.input_device, "input") if duplex else None
        if out_dev is None:
            raise EngineError("no output device")
        if duplex and in_dev is None:
            raise EngineError("no input device for source 'input'")
        devices.check(in_dev, out_dev, cfg.samplerate, cfg.channels, cfg.blocksize)
        proc = self.proc
        met = self.met_block.array
        state_i = METER_INDEX["state"]

        if duplex:

            def callback(indata, outdata, frames, t, status):  # noqa: ARG001
                proc.process(indata, outdata, status._flags)

            stream = sd.Stream(
                samplerate=cfg.samplerate,
                blocksize=cfg.blocksize,
                device=(in_dev, out_dev),
                channels=cfg.channels,
                dtype="float32",
                latency=cfg.latency,
                callback=callback,
                finished_callback=self._stream_finished,
            )
        else:

            def callback(outdata, frames, t, status):  # noqa: ARG001
                proc.process(None, outdata, status._flags)

            stream = sd.OutputStream(
                samplerate=cfg.samplerate,
                blocksize=cfg.blocksize,
                device=out_dev,
                channels=cfg.channels,
                dtype="float32",
                latency=cfg.latency,
                callback=callback,
                finished_callback=self._stream_finished,
            )
        stream.start()
        self.stream = stream
        info = sd.query_devices(out_dev)
        self.device_name = info["name"]
        self.hostapi = devices.host_api_name(out_dev)
        self.state = STATE_RUNNING
        self.lost_at = None
        met[state_i] = STATE_RUNNING

    def _stream_finished(self) -> None:
        """PortAudio ended the stream (device unplugged, server gone): noted by the watchdog."""
        if self.state == STATE_RUNNING:
            self.lost_at = time.monotonic()

    def _start_clock(self, why: str) -> None:
        """Run the processor on a real-time clock with no device: meters still move."""
        self.state = STATE_SILENT
        self.message = f"no audio device: silent clock ({why})"
        self.device_name = "silent clock"
        self.hostapi = ""
        self.met_block.array[METER_INDEX["state"]] = STATE_SILENT
        self.clock_stop.clear()
        self.clock = threading.Thread(target=self._clock_loop, name="silent-clock", daemon=True)
        self.clock.start()

    def _clock_loop(self) -> None:
        cfg = self.config
        out = np.zeros((cfg.blocksize, cfg.channels), np.float32)
        period = cfg.blocksize / cfg.samplerate
        proc = self.proc
        deadline = time.monotonic()
        while not self.clock_stop.is_set():
            deadline += period
            proc.process(None, out, 0)
            delay = deadline - time.monotonic()
            if delay > 0:
                self.clock_stop.wait(delay)
            elif delay < -0.5:  # fell far behind (suspended): resynchronise
                deadline = time.monotonic()

    def close(self) -> None:
        """Stop the stream or the clock (idempotent)."""
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.abort()
            with contextlib.suppress(Exception):
                self.stream.close()
            self.stream = None
        if self.clock is not None:
            self.clock_stop.set()
            self.clock.join(2.0)
            self.clock = None
        self.state = STATE_STOPPED
        self.met_block.array[METER_INDEX["state"]] = STATE_STOPPED

    def watchdog(self) -> None:
        """Called a few times a second: notice a lost device and hand over to a new process.

        PortAudio cannot safely re-scan (or even shut down) after its JACK server or device
        vanished, so the engine process leaves with EXIT_DEVICE_LOST; the parent's
        supervisor starts a fresh one, which reopens the device by name when it is back
        and meanwhile runs the silent clock.
        """
        if self.proc is not None:
            self.proc.collect()
        now = time.monotonic()
        if self.state == STATE_RUNNING and self.stream is not None:
            # A vanished JACK server just stops calling back: watch the heartbeat too.
            beat = self.met_block.array[METER_INDEX["heartbeat"]]
            stall = max(1.0, 20 * self.config.blocksize / self.config.samplerate)
            if self.lost_at is not None or (beat > 0 and now - beat > stall):
                self.met_block.array[METER_INDEX["state"]] = STATE_ERROR
                raise DeviceLost("the audio device stopped calling back")
            return  # (stream.active is not asked: it can hang once JACK is gone)
        if self.state == STATE_SILENT and self.config.recovering and not self.config.silent:
            if self.lost_at is None:
                self.lost_at = now
            elif now - self.lost_at >= self.config.reopen_seconds:
                raise DeviceLost("retrying the audio device")

    # ------------------------------------------------------------ commands

    def status(self) -> dict[str, Any]:
        cfg = self.config
        return asdict(
            EngineStatus(
                state=ENGINE_STATES.get(self.state, "unknown"),
                message=self.message,
                device=self.device_name,
                hostapi=self.hostapi,
                samplerate=cfg.samplerate,
                blocksize=cfg.blocksize,
                channels=cfg.channels,
                source=self.source_name,
                models=list(self.models.names),
                anchors=list(self.models.anchor_labels),
                pid=os.getpid(),
            )
        )

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        cmd = msg.get("cmd")
        if cmd == "status":
            return {"ok": True}
        if cmd == "open":
            new = EngineConfig(**msg["config"])
            old = self.config
            self.close()
            self.config = new
            self.message = ""
            try:
                self.start()
            except Exception as exc:
                self.config = old
                self.start()
                return {"ok": False, "error": one_line(exc)}
            return {"ok": True}
        if cmd == "source":
            source = str(msg.get("source", "demo"))
            if source == "input" and self.config.source != "input":
                config = {**asdict(self.config), "source": source}
                return self.handle({"cmd": "open", "config": config})
            arr = self._load_source(source)  # errors reach the caller as one line
            capture = int(msg.get("capture", 0))
            self.proc.set_source(arr, reset=capture > 0, capture=capture)
            self.source_array = arr
            self.source_name = source
            self.config.source = source
            return {"ok": True}
        if cmd == "get_capture":
            data = self.proc.capture
            return {"ok": True, "data": None if data is None else data.copy()}
        return {"ok": False, "error": f"unknown command {cmd!r}"}


@dataclass
class CoreModels:
    """The model family as the processor needs it: C decoders and anchor codes, in order."""

    decoders: list[Any] = field(default_factory=list)
    anchors: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    anchor_labels: list[str] = field(default_factory=list)
    default_index: int = 0
    error: str = ""


def core_models(path: str | None = None) -> CoreModels:
    """Load the shipped (or given) family for the processor; never raises.

    Without models, Traverse and Semantic act as Manual, and ``error`` says why.
    """
    out = CoreModels()
    try:
        from . import vae

        family = vae.load_family(path)
        for m in family:
            out.decoders.append(m.core_decoder())
            z = np.array([a.z for a in m.anchors], dtype=np.float64).reshape(-1, m.latent)
            out.anchors.append(z)
            out.names.append(m.name)
        if out.names:
            out.anchor_labels = [a.label for a in next(iter(family)).anchors]
            default = family.default.name
            out.default_index = out.names.index(default) if default in out.names else 0
    except Exception as exc:
        why = one_line(exc)
        out = CoreModels(error=f"models not loaded ({why}); traverse/semantic act as manual")
    return out


def _quiet_gc() -> None:
    """Keep the cyclic garbage collector out of the audio callback.

    A collection can start on any allocation, including the ones sounddevice makes in the
    callback, and a full one over numpy/scipy/the models takes milliseconds: an xrun. So
    everything loaded so far is frozen (never scanned again) and automatic collection is
    off; the command loop collects the young generations itself, now and then.
    """
    gc.collect()
    gc.freeze()
    gc.disable()


def _realtime_main_thread() -> bool:
    """Run this thread SCHED_FIFO at a low priority when the system allows it.

    The audio callback must take the GIL on entry. If this (command) thread holds it and a
    normal process preempts it, the real-time callback waits behind that process: a
    priority inversion and an xrun. A low real-time priority (below JACK's threads) means
    nothing ordinary can preempt it while it holds the GIL. Threads started from here (the
    silent clock) inherit it. Without permission (no rtprio limit) nothing changes.
    """
    try:
        prio = max(1, min(10, os.sched_get_priority_max(os.SCHED_FIFO)))
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
        return True
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def _normal_priority():
    """Drop this thread to ordinary scheduling for heavy non-real-time work, then restore."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    except (OSError, AttributeError):
        yield
        return
    if policy == os.SCHED_OTHER:
        yield
        return
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, param)


def _engine_main(ctl_name: str, met_name: str, conn: Any, config: dict[str, Any]) -> None:
    """Entry point of the engine process."""
    # The parent decides when we stop (Ctrl+C or a TERM sent to the whole process group
    # reaches us too); if the parent dies, the command pipe closes and we leave.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The audio callback competes for the GIL only with this process's command loop; a
    # short switch interval bounds how long it can wait if that loop is busy in Python.
    sys.setswitchinterval(0.001)
    _realtime_main_thread()
    runner: _Runner | None = None
    try:
        runner = _Runner(ctl_name, met_name, config)
        runner.start()
        _quiet_gc()
        conn.send({"ok": True, "status": runner.status()})
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send({"ok": False, "error": one_line(exc)})
        if runner is not None:
            runner.close()
        return
    last_gc = time.monotonic()
    try:
        while True:
            try:
                ready = conn.poll(0.25)
            except (EOFError, OSError):
                break
            if not ready:
                if time.monotonic() - last_gc > 5.0:
                    gc.collect(1)
                    last_gc = time.monotonic()
                try:
                    runner.watchdog()
                except DeviceLost:
                    os._exit(EXIT_DEVICE_LOST)  # no PortAudio shutdown: it may abort now
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break  # the parent went away: stop, leave no orphan
            if msg.get("cmd") == "stop":
                break
            try:
                with _normal_priority():  # file decoding etc. must not hog a core at RT
                    reply = runner.handle(msg)
            except Exception as exc:
                reply = {"ok": False, "error": one_line(exc)}
            reply["status"] = runner.status()
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                break
    finally:
        runner.close()
        runner.ctl_block.close()
        runner.met_block.close()
