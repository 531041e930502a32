"""The engine process: owns the stream (or the silent clock) and the DSP; serves requests.

:func:`engine_main` is the process's entry point (spawned by :class:`.client.Engine`). It
builds a :class:`Runner`, says ready (or why not) over a :class:`~floweq_tui.runtime.Channel`,
then serves requests from a dispatch table between watchdog looks. The audio callback only
touches the two shared blocks through one GIL-free C call; everything here runs beside it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np

from ..controls import CONTROL_INDEX, METER_INDEX, METERS_SIZE, N_CONTROLS, SharedBlock
from ..runtime import Channel, one_line
from ..vae import core_models
from .config import EXIT_DEVICE_LOST, EngineConfig, EngineError, EngineState, EngineStatus


class DeviceLost(Exception):
    """Raised in the engine process when its device vanished: the process hands over."""


class Runner:
    """Lives in the engine process: owns the processor, the stream or the silent clock."""

    def __init__(self, ctl_name: str, met_name: str, config: EngineConfig) -> None:
        from .. import _dsp

        self._dsp = _dsp
        self.ctl_block = SharedBlock(N_CONTROLS, name=ctl_name)
        self.met_block = SharedBlock(METERS_SIZE, name=met_name)
        self.config = config
        self.stream: Any = None
        self.clock: threading.Thread | None = None
        self.clock_stop = threading.Event()
        self.proc: Any = None
        self.state = EngineState.STOPPED
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
        from .. import sources

        cfg = self.config
        if source == "demo":
            return sources.demo_source(cfg.samplerate, cfg.channels)
        if source in ("silence", "input"):
            return None
        return sources.load_file(source, cfg.samplerate, cfg.channels)

    def _set_state(self, state: EngineState) -> None:
        self.state = state
        self.met_block.array[METER_INDEX["state"]] = state.code

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """Open the configured device, or fall back to the silent clock."""
        cfg = self.config
        self._new_processor()
        self.source_array = self._load_source(cfg.source)
        self.source_name = cfg.source
        self.proc.set_source(self.source_array)
        self._set_state(EngineState.STOPPED)
        if cfg.silent:
            self._start_clock("silent clock requested")
            return
        try:
            self._open_stream()
        except Exception as exc:  # no sound card, device busy, unsupported rate, ...
            self._start_clock(one_line(exc))

    def _open_stream(self) -> None:
        from .. import devices

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
        self.lost_at = None
        self._set_state(EngineState.RUNNING)

    def _stream_finished(self) -> None:
        """PortAudio ended the stream (device unplugged, server gone): noted by the watchdog."""
        if self.state is EngineState.RUNNING:
            self.lost_at = time.monotonic()

    def _start_clock(self, why: str) -> None:
        """Run the processor on a real-time clock with no device: meters still move."""
        self.message = f"no audio device: silent clock ({why})"
        self.device_name = "silent clock"
        self.hostapi = ""
        self._set_state(EngineState.SILENT)
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
        self._set_state(EngineState.STOPPED)

    def watchdog(self) -> None:
        """Called a few times a second: notice a lost device and hand over to a new process.

        PortAudio cannot safely re-scan (or even shut down) after its JACK server or device
        vanished, so the engine process leaves with EXIT_DEVICE_LOST; the parent's
        supervisor starts a fresh one at once, which reopens the device by name when it is
        back and meanwhile runs the silent clock.
        """
        if self.proc is not None:
            self.proc.collect()
        now = time.monotonic()
        if self.state is EngineState.RUNNING and self.stream is not None:
            # A vanished JACK server just stops calling back: watch the heartbeat too.
            beat = self.met_block.array[METER_INDEX["heartbeat"]]
            stall = max(1.0, 20 * self.config.blocksize / self.config.samplerate)
            if self.lost_at is not None or (beat > 0 and now - beat > stall):
                self._set_state(EngineState.ERROR)
                raise DeviceLost("the audio device stopped calling back")
            return  # (stream.active is not asked: it can hang once JACK is gone)
        if self.state is EngineState.SILENT and self.config.recovering and not self.config.silent:
            if self.lost_at is None:
                self.lost_at = now
            elif now - self.lost_at >= self.config.reopen_seconds:
                raise DeviceLost("retrying the audio device")

    # ------------------------------------------------------------ requests

    def status(self) -> EngineStatus:
        """The status attached to every reply."""
        cfg = self.config
        return EngineStatus(
            state=self.state,
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

    def handlers(self) -> dict[str, Any]:
        """The dispatch table: request name -> handler(**args); the status rides on the reply."""
        return {
            "status": lambda: None,
            "open": self.open,
            "source": self.source,
            "get_capture": self.get_capture,
        }

    def open(self, config: EngineConfig) -> None:
        """Reopen with new settings; on failure go back to the old ones and raise."""
        old = self.config
        self.close()
        self.config = config
        self.message = ""
        try:
            self.start()
        except Exception:
            self.config = old
            self.start()
            raise

    def source(self, source: str = "demo", capture: int = 0) -> None:
        """Play "demo", "silence", "input" or a file from the next block (capturing N frames)."""
        source = str(source)
        if source == "input" and self.config.source != "input":
            self.open(replace(self.config, source=source))  # needs a duplex stream
            return
        arr = self._load_source(source)  # errors reach the caller as one line
        capture = int(capture)
        self.proc.set_source(arr, reset=capture > 0, capture=capture)
        self.source_array = arr
        self.source_name = source
        self.config.source = source

    def get_capture(self) -> np.ndarray | None:
        """The capture asked for with ``source(..., capture=N)``, None until complete."""
        data = self.proc.capture
        return None if data is None else data.copy()


# =================================================================== process-wide settings


def quiet_gc() -> None:
    """Keep the cyclic garbage collector out of the audio callback.

    A collection can start on any allocation, including the ones sounddevice makes in the
    callback, and a full one over numpy/scipy/the models takes milliseconds: an xrun. So
    everything loaded so far is frozen (never scanned again) and automatic collection is
    off; the command loop collects the young generations itself, now and then.
    """
    gc.collect()
    gc.freeze()
    gc.disable()


def realtime_main_thread() -> bool:
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


class NormalPriority:
    """Around heavy non-real-time work (file decoding...): ordinary scheduling, then back.

    Reusable: the channel enters it around every request it serves.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, Any] | None = None

    def __enter__(self) -> NormalPriority:
        self._saved = None
        try:
            policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
            if policy != os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
                self._saved = (policy, param)
        except (OSError, AttributeError):
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, *self._saved)
            self._saved = None


# =================================================================== entry point


def engine_main(conn: Any, ctl_name: str, met_name: str, config: EngineConfig) -> None:
    """Entry point of the engine process."""
    # The parent decides when we stop (Ctrl+C or a TERM sent to the whole process group
    # reaches us too); if the parent dies, the pipe closes and we leave.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The audio callback competes for the GIL only with this process's command loop; a
    # short switch interval bounds how long it can wait if that loop is busy in Python.
    sys.setswitchinterval(0.001)
    realtime_main_thread()
    runner: Runner | None = None
    try:
        runner = Runner(ctl_name, met_name, config)
        runner.start()
        quiet_gc()
    except Exception as exc:
        Channel(conn).failed(exc)
        if runner is not None:
            runner.close()
        return
    chan = Channel(conn, status=runner.status)
    handlers = runner.handlers()
    guard = NormalPriority()  # file decoding etc. must not hog a core at real-time priority
    chan.ready()
    last_gc = time.monotonic()
    try:
        while chan.wait(0.25) and chan.serve(handlers, guard):
            if time.monotonic() - last_gc > 5.0:
                gc.collect(1)
                last_gc = time.monotonic()
            try:
                runner.watchdog()
            except DeviceLost:
                os._exit(EXIT_DEVICE_LOST)  # no PortAudio shutdown: it may abort now
    finally:
        runner.close()
        runner.ctl_block.close()
        runner.met_block.close()
