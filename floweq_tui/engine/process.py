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

from ..controls import (
    CONTROL_INDEX,
    H_FRAMES,
    HISTORY_HEADER,
    METER_INDEX,
    METERS_SIZE,
    N_CONTROLS,
    SharedBlock,
    history_size,
)
from ..runtime import Channel, one_line
from ..vae import core_models
from .config import EXIT_DEVICE_LOST, EngineConfig, EngineError, EngineState, EngineStatus

POLL_S = 0.5
"""The command loop's wait between watchdog looks (a request wakes it at once)."""
LATE_S = 0.5
"""A watchdog look this much later than POLL_S means this whole process was stopped
(SIGSTOP, a suspended machine): the device is not to blame for the silence meanwhile."""
QUIET_POLL_S = 2.0
"""The wait between watchdog looks on a silent clock that was asked for (``--silent``): no
device to watch for, only buffers to let go of (a request still wakes it at once)."""
RETRY_AFTER_CHANGE = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
"""After a sound server or card appeared (or went), try the device at these delays: a
server's socket can appear a moment before it accepts clients."""
SLOW_RETRY_S = 30.0
"""With no change seen, try again this often anyway (a card that was busy), unless PortAudio
holds a JACK client (re-registering one disturbs the server's graph for nothing)."""
CLOCK_WAKE_S = 0.03
"""The silent clock wakes about this often and processes the blocks due since (a wake-up
costs more than the blocks it processes; nobody listens to it, and the meters and decoded
parameters still move more often than the UI draws them, at most 30 times a second)."""
CLOCK_DOZE_S = 0.1
"""... and this often once nothing moved for CLOCK_DOZE_AFTER_S: no control changed, no
modulator runs and the decoded point and parameters stand still (the meters still move ten
times a second, more than the UI's idle meters line shows; the heartbeat stays far younger
than the supervisor's stall limit). The first change seen makes it wake every CLOCK_WAKE_S."""
CLOCK_DOZE_AFTER_S = 2.0
CLOCK_BIG_FRAMES = 4800
"""The blocks due are processed as one block of at most this many frames (100 ms at
48 kHz; within the processor's and the input history's largest block)."""


class DeviceLost(Exception):
    """Raised in the engine process when its device vanished: the process hands over."""


class Runner:
    """Lives in the engine process: owns the processor, the stream or the silent clock."""

    def __init__(
        self, ctl_name: str, met_name: str, config: EngineConfig, hist_name: str | None = None
    ) -> None:
        from .. import _dsp

        self._dsp = _dsp
        self.ctl_block = SharedBlock(N_CONTROLS, name=ctl_name)
        self.met_block = SharedBlock(METERS_SIZE, name=met_name)
        self.hist_block: SharedBlock | None = None
        if hist_name is not None:  # its length is in its header (set by the parent)
            probe = SharedBlock(HISTORY_HEADER, name=hist_name)
            frames = int(probe.array[H_FRAMES])
            probe.close()
            self.hist_block = SharedBlock(history_size(frames), name=hist_name)
        self.config = config
        self.stream: Any = None
        self.clock: threading.Thread | None = None
        self.clock_stop = threading.Event()
        self._clock_wake: tuple[int, int] = (-1, -1)
        """The silent clock sleeps on this pipe's read end: a write stops it."""
        self.proc: Any = None
        self.state = EngineState.STOPPED
        self.message = ""
        self.device_name = ""
        self.hostapi = ""
        self.source_name = ""
        self.source_array: np.ndarray | None = None
        self.lost_at: float | None = None
        self.opened_at = 0.0
        """When the stream was opened (its first callback is due from then)."""
        self.ticked_at: float | None = None
        """The watchdog's previous look (the command loop's start before the first)."""
        self.resumed_at = 0.0
        """When the watchdog last found it had been stopped (its own look came late)."""
        self.scanned: Any = None
        """``devices.presence()`` when PortAudio last scanned the devices here."""
        self.seen: Any = None
        """``devices.presence()`` at the watchdog's previous look."""
        self.retries: list[float] = []
        """When the next tries of the device are due (after a change was seen)."""
        self.slow_retry_at = 0.0
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
            history=None if self.hist_block is None else self.hist_block.array,
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
        from .. import devices

        cfg = self.config
        self._new_processor()
        self.source_array = self._load_source(cfg.source)
        self.source_name = cfg.source
        self.proc.set_source(self.source_array)
        self._set_state(EngineState.STOPPED)
        if cfg.silent:
            self._start_clock("silent clock requested")
            return
        if self.scanned is None:  # PortAudio scans when first imported, just below
            self.scanned = self.seen = devices.presence()
            self.slow_retry_at = time.monotonic() + SLOW_RETRY_S
        try:
            self._open_stream(*self._find_devices())
        except Exception as exc:  # no sound card, device busy, unsupported rate, ...
            self._start_clock(one_line(exc))
            if any(self.seen.jack) or any(self.seen.other):
                # something is there but would not open (busy, starting up): try again
                # soon, as after a change, not only on the slow retry
                now = time.monotonic()
                self.retries = [now + d for d in RETRY_AFTER_CHANGE[1:]]

    def _find_devices(self) -> tuple[int | None, int]:
        """(input or None, output) device indices for the configured settings, checked."""
        from .. import devices

        try:
            import sounddevice  # noqa: F401  (PortAudio itself)
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
        return in_dev, out_dev

    def _open_stream(self, in_dev: int | None, out_dev: int) -> None:
        import sounddevice as sd

        from .. import devices

        cfg = self.config
        proc = self.proc

        if in_dev is not None:

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
        self.lost_at = None
        self.opened_at = time.monotonic()
        stream.start()
        self.stream = stream
        info = sd.query_devices(out_dev)
        self.device_name = info["name"]
        self.hostapi = devices.host_api_name(out_dev)
        self._set_state(EngineState.RUNNING)

    def _stream_finished(self) -> None:
        """PortAudio ended the stream (device unplugged, server gone): noted by the watchdog."""
        if self.state is EngineState.RUNNING:
            self.lost_at = time.monotonic()

    def _start_clock(self, why: str) -> None:
        """Run the processor on a real-time clock with no device: meters still move."""
        self.message = self._silent_message(why)
        self.device_name = "silent clock"
        self.hostapi = ""
        self._set_state(EngineState.SILENT)
        self.clock_stop.clear()
        self._clock_wake = os.pipe()
        self.clock = threading.Thread(target=self._clock_loop, name="silent-clock", daemon=True)
        self.clock.start()

    def _silent_message(self, why: str) -> str:
        lost = "audio device lost" if self.config.recovering else "no audio device"
        return f"{lost}: silent clock ({why})"

    def _stop_clock(self) -> None:
        if self.clock is not None:
            self.clock_stop.set()
            wake = self._clock_wake
            with contextlib.suppress(OSError):
                os.write(wake[1], b"x")
            self.clock.join(2.0)
            if not self.clock.is_alive():  # (a clock that did not end keeps its pipe)
                for fd in wake:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self.clock = None

    def _clock_loop(self) -> None:
        """Process blocks at the real-time rate, a few per wake-up (about CLOCK_WAKE_S,
        CLOCK_DOZE_S once nothing moved for CLOCK_DOZE_AFTER_S): ``Processor.run_clock``,
        a loop in C without the GIL until :meth:`_stop_clock` writes to its pipe.

        With the controls as they were at the previous wake-up and nothing ramped or taken
        once a block (no auto gain, A/B, morph, outside tempo, or modulator on a gain:
        ``Processor._may_join``), dozing or hot (modulators on x and y move on the
        processor's own sample grid), all but the last of the blocks due are processed as
        one block: the same samples out, for less work per sample, and the last block on its
        own meters what it did (its peaks, the beat at its start). The meters' block count
        still counts device-size blocks.
        """
        cfg = self.config
        out = np.zeros((cfg.blocksize, cfg.channels), np.float32)
        period = cfg.blocksize / cfg.samplerate
        hot_batch = max(1, round(CLOCK_WAKE_S / period))
        doze_batch = max(hot_batch, round(CLOCK_DOZE_S / period))
        big = max(1, min(doze_batch, CLOCK_BIG_FRAMES // cfg.blocksize))  # blocks in one
        joined = np.zeros((big * cfg.blocksize, cfg.channels), np.float32)
        self.proc.run_clock(
            out, joined, period, hot_batch, doze_batch, CLOCK_DOZE_AFTER_S, self._clock_wake[0]
        )

    def close(self) -> None:
        """Stop the stream or the clock (idempotent)."""
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.abort()
            with contextlib.suppress(Exception):
                self.stream.close()
            self.stream = None
        self._stop_clock()
        self._set_state(EngineState.STOPPED)

    @property
    def poll_s(self) -> float:
        """How long the command loop waits between watchdog looks (POLL_S, QUIET_POLL_S)."""
        if self.config.silent and self.state is EngineState.SILENT:
            return QUIET_POLL_S
        return POLL_S

    def watchdog(self, guard: Any = None) -> None:
        """Called every POLL_S: notice a lost device (hand over), or look for one to open.

        On a device: a stream that stopped calling back (its heartbeat in the meters block
        is stale) is a lost device. PortAudio cannot safely re-scan (or even shut down)
        after its JACK server or device vanished, so the process leaves with
        EXIT_DEVICE_LOST and the parent's supervisor starts a fresh one at once. Silence
        while this whole process was stopped (this look came late too) is no loss: the
        stream gets a fresh grace period instead.

        On the silent clock (unless asked for): :meth:`_look_for_device`.
        """
        if self.proc is not None:
            self.proc.collect()
        now = time.monotonic()
        if self.ticked_at is not None and now - self.ticked_at > POLL_S + LATE_S:
            self.resumed_at = now  # we were stopped: nobody could call back meanwhile
        self.ticked_at = now
        if self.state is EngineState.RUNNING and self.stream is not None:
            beat = self.met_block.array[METER_INDEX["heartbeat"]]
            stall = max(1.0, 20 * self.config.blocksize / self.config.samplerate)
            alive_at = max(beat, self.opened_at, self.resumed_at)
            if self.lost_at is not None or now - alive_at > stall:
                self._set_state(EngineState.ERROR)
                raise DeviceLost("the audio device stopped calling back")
            return  # (stream.active is not asked: it can hang once JACK is gone)
        if self.state is EngineState.SILENT and not self.config.silent:
            self._look_for_device(now, guard)

    def _look_for_device(self, now: float, guard: Any) -> None:
        """On the silent clock: try the device when a sound server or card came or went.

        Looking costs a few ``stat`` calls (``devices.presence``); a PortAudio rescan and
        an open are tried only after a change (at RETRY_AFTER_CHANGE), and every
        SLOW_RETRY_S otherwise, so a box with no sound card idles.
        """
        from .. import devices

        seen = devices.presence()
        if seen != self.seen:
            self.seen = seen
            self.retries = [now + d for d in RETRY_AFTER_CHANGE]
        elif not self.retries and now >= self.slow_retry_at and not devices.holds_jack_client():
            self.retries = [now]
        if not self.retries or now < self.retries[0]:
            return
        self.retries = [t for t in self.retries if t > now]
        self.slow_retry_at = now + SLOW_RETRY_S
        if seen.jack != self.scanned.jack and devices.holds_jack_client():
            # PortAudio holds a client of a server that stopped or was replaced: a rescan
            # could abort this process. A fresh one scans safely.
            self._set_state(EngineState.ERROR)
            raise DeviceLost("an audio server changed")
        with guard if guard is not None else contextlib.nullcontext():
            self._reopen(seen)

    def _reopen(self, seen: Any) -> None:
        """Rescan PortAudio and open the device if it is there now; else stay silent."""
        from .. import devices

        try:
            devices.rescan()
        except devices.DeviceError:  # PortAudio holds an orphaned JACK client
            self._set_state(EngineState.ERROR)
            raise DeviceLost("an audio server stopped") from None
        self.scanned = seen
        try:
            found = self._find_devices()  # while the clock still runs
        except Exception as exc:
            self.message = self._silent_message(one_line(exc))
            return
        self._stop_clock()
        self._set_state(EngineState.STOPPED)  # (no heartbeat expected for a moment)
        try:
            self._open_stream(*found)
        except Exception as exc:
            self._start_clock(one_line(exc))
            return
        self.retries = []
        self.message = ""

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


def engine_main(
    conn: Any, ctl_name: str, met_name: str, config: EngineConfig, hist_name: str | None = None
) -> None:
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
        runner = Runner(ctl_name, met_name, config, hist_name)
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
    last_gc = runner.ticked_at = time.monotonic()
    try:
        while chan.wait(runner.poll_s) and chan.serve(handlers, guard):
            if time.monotonic() - last_gc > 5.0:
                gc.collect(1)
                last_gc = time.monotonic()
            try:
                runner.watchdog(guard)
            except DeviceLost:
                os._exit(EXIT_DEVICE_LOST)  # no PortAudio shutdown: it may abort now
    finally:
        runner.close()
        runner.ctl_block.close()
        runner.met_block.close()
        if runner.hist_block is not None:
            runner.hist_block.close()
