"""The parent side of the engine: start it, set controls, read meters, ask, restart, stop.

Why a process: a Python audio callback sharing a process (and so a GIL) with a Textual UI
dropped out hundreds of times in seconds at 128 frames; alone in its own process it did
not. So :class:`Engine` spawns the engine process (:mod:`.process`) through the runtime's
child-process base and talks to it through

* the controls block (shared memory): anyone writes, the audio thread only reads;
* the meters block (shared memory): the audio thread writes, anyone reads;
* the input history block (shared memory, ``config.history_seconds`` of the mono input):
  the audio thread writes, anyone reads (:class:`~floweq_tui.controls.History`);
* typed requests for non-real-time work (open a device, load a file), each answered with
  an :class:`EngineStatus`.

The engine owns one :class:`~floweq_tui.runtime.supervisor.Supervisor` for its children
(the engine process and, when asked, the MIDI process): a child that exits on its own is
restarted with one policy, and ``health`` says where each one is.

With no usable audio device the engine runs the same processing on a silent real-time
clock, so meters and curves still move; it never fails to start for lack of a sound card.
"""

from __future__ import annotations

import atexit
import contextlib
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from ..controls import (
    CONTROL_DEFAULTS,
    CONTROL_INDEX,
    METER_INDEX,
    METERS_SIZE,
    N_CONTROLS,
    Controls,
    History,
    Meters,
    SharedBlock,
    history_frames,
    history_size,
)
from ..runtime import ChildError, ChildProcess
from ..runtime.supervisor import ChildHealth, ChildState, RestartPolicy, Supervisor
from .config import EXIT_DEVICE_LOST, EngineConfig, EngineError, EngineState, EngineStatus
from .process import engine_main

ENGINE = "engine"
"""The engine process's name in ``Engine.health``."""
MIDI = "midi"
"""The MIDI process's name in ``Engine.health`` (when MIDI runs)."""


SAY_STALL_S = 0.8
"""The engine's stall (no block for the policy's ``stall_after``) is said at most this long
after its latest block: its supervisor looks about once a second while it runs, not every
time a silence would reach ``stall_after``, and the UI hears it at once."""


class EngineProcess(ChildProcess):
    """The engine process as a child: attached to the shared blocks by name.

    A process started after one that left with EXIT_DEVICE_LOST is told it is recovering
    (it says "audio device lost" while it waits on the silent clock for the device).
    """

    def __init__(
        self, ctl_name: str, met_name: str, config: EngineConfig, hist_name: str | None = None
    ) -> None:
        super().__init__("floweq-engine", engine_main, label="the engine process")
        self.ctl_name, self.met_name, self.hist_name = ctl_name, met_name, hist_name
        self.config = config

    def start(self, wait: bool = True, timeout: float = 30.0) -> Any:
        recovering = self.exitcode == EXIT_DEVICE_LOST
        config = replace(self.config, recovering=recovering)
        self._args = (self.ctl_name, self.met_name, config, self.hist_name)
        return super().start(wait=wait, timeout=timeout)


class Engine:
    """Start/stop the engine process, set controls, read meters. Usable without any UI.

    >>> with Engine(EngineConfig(silent=True)) as eng:
    ...     eng.set("x", 1.0)
    ...     peak = eng.meters["peak_out"]
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        policy: RestartPolicy | None = None,
        **controls: float,
    ) -> None:
        self.config = config or EngineConfig()
        self.config.validate()
        self._initial = controls
        self._ctl_block: SharedBlock | None = None
        self._met_block: SharedBlock | None = None
        self._hist_block: SharedBlock | None = None
        self.controls: Controls | None = None
        self.meters: Meters | None = None
        self.history: History | None = None
        """The last ``config.history_seconds`` of the input (None with 0 seconds)."""
        self._child: EngineProcess | None = None
        self._status = EngineStatus()
        self._stopped = True
        self.supervisor = Supervisor(policy or RestartPolicy(say_stall_within=SAY_STALL_S))
        """Watches the engine and MIDI processes; restarts them; publishes ``health``."""
        self.midi: Any = None  # MIDI: a floweq_tui.midi.MidiProcess while MIDI runs

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> EngineStatus:
        """Spawn the engine process and wait until it runs (on a device or the silent clock)."""
        if self.alive:
            return self.status
        if not self._stopped and self._child is not None:
            return self.restart(timeout)  # under supervision: start it again now
        if self._ctl_block is None or self._met_block is None:
            self._ctl_block = SharedBlock(N_CONTROLS, create=True)
            self._ctl_block.array[:] = CONTROL_DEFAULTS
            self._met_block = SharedBlock(METERS_SIZE, create=True)
            self.controls = Controls(self._ctl_block.array)
            self.meters = Meters(self._met_block.array)
            for k, v in self._initial.items():
                self.controls[k] = v
            self._new_history()
        self._stopped = False
        atexit.register(self.stop)
        hist = self._hist_block.name if self._hist_block is not None else None
        child = EngineProcess(self._ctl_block.name, self._met_block.name, self.config, hist)
        self._child = child
        try:
            child.start(wait=True, timeout=timeout)
        except ChildError as exc:
            self.stop()
            raise EngineError(str(exc)) from None
        self.supervisor.add(
            ENGINE,
            child,
            handover={EXIT_DEVICE_LOST: "the audio device was lost"},
            liveness=self._heartbeat,
            stall_after=self._stall_after,
        )
        self._start_midi()  # MIDI
        return self.status

    def _new_history(self) -> None:
        """The input history block, sized for ``config.history_seconds`` at its rate."""
        cfg = self.config
        if cfg.history_seconds <= 0:
            return
        frames = history_frames(cfg.history_seconds, cfg.samplerate)
        self._hist_block = SharedBlock(history_size(frames), create=True)
        self.history = History.format(self._hist_block.array, frames, cfg.samplerate)

    def _heartbeat(self) -> float | None:
        """When the audio thread (or silent clock) last finished a block (CLOCK_MONOTONIC,
        read from the meters block); None while no block is expected (opening a device,
        handing over): the supervisor's sign of life for the engine process."""
        block = self._met_block
        if block is None:
            return None
        meters = block.array
        state = EngineState.from_code(meters[METER_INDEX["state"]])
        if state not in (EngineState.RUNNING, EngineState.SILENT):
            return None
        return float(meters[METER_INDEX["heartbeat"]])

    def _stall_after(self) -> float:
        """Silence before the engine counts as stalled: the policy's, or 4 blocks if longer."""
        cfg = self.config
        return max(self.supervisor.policy.stall_after, 4 * cfg.blocksize / cfg.samplerate)

    # --- MIDI: the service process beside the engine (floweq_tui/midi, docs/midi.md)

    def _start_midi(self) -> None:
        if not self.config.midi or self._ctl_block is None:
            return
        if self.midi is not None and self.midi.alive:
            return
        from ..midi.client import MidiProcess

        cfg = self.config
        options = {
            "midi_in": cfg.midi_in,
            "midi_out": cfg.midi_out,
            "midi_api": cfg.midi_api,
            "midi_config": cfg.midi_config,
            "midi_virtual": cfg.midi_virtual,
            "clock_out": cfg.midi_clock_out,
            "model_count": len(self.status.models) or 64,
            "model_names": list(self.status.models),
            "anchor_labels": list(self.status.anchors),
            "audio_hostapi": self.status.hostapi,
        }
        self.midi = MidiProcess(self._ctl_block.name, options)
        self.midi.start(wait=False)  # opens its ports in the background
        self.supervisor.add(MIDI, self.midi, ready=False, label="the MIDI process")

    def midi_command(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """A request to the MIDI process (status, knobs, learn, ...; see docs/midi.md)."""
        if self.midi is None:
            raise EngineError("MIDI is off (EngineConfig.midi is False or --no-midi)")
        try:
            return self.midi.command(cmd, timeout=timeout, **args)
        except RuntimeError as exc:  # MidiError / ChildError: one line
            raise EngineError(str(exc)) from None

    # --- end MIDI

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the children (never restarted), release shared memory. Idempotent."""
        if self._stopped and self._child is None and self._ctl_block is None:
            return
        self._stopped = True
        # MIDI first: it is attached to the controls block that goes away below
        self.supervisor.stop(MIDI, timeout=3.0)
        midi, self.midi = self.midi, None
        if midi is not None:
            midi.stop()
        self.supervisor.stop(ENGINE, timeout)
        self.supervisor.close()
        if self._child is not None:
            self._child.stop(timeout)
            self._status = replace(self.status, state=EngineState.STOPPED)
        self._child = None
        self.history = None
        for block in (self._ctl_block, self._met_block, self._hist_block):
            if block is not None:
                block.close()
        self._ctl_block = self._met_block = self._hist_block = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def restart(self, timeout: float = 30.0) -> EngineStatus:
        """Start a new engine process now (by hand), keeping the controls.

        Goes through the supervisor (which also restarts it on its own after a crash);
        raises EngineError if the new process cannot start (the supervisor keeps trying).
        """
        if self._child is None or self._stopped:
            raise EngineError("the engine is not started")
        try:
            self.supervisor.restart(ENGINE, timeout)
        except ChildError as exc:
            raise EngineError(str(exc)) from None
        return self.status

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ state

    @property
    def health(self) -> dict[str, ChildHealth]:
        """{"engine": ChildHealth, "midi": ChildHealth (when MIDI runs)}, from the supervisor."""
        return self.supervisor.health

    @property
    def alive(self) -> bool:
        """True while the engine process runs and answers (not while it is restarting)."""
        child = self._child
        h = self.supervisor.get(ENGINE)
        return child is not None and child.alive and h is not None and h.up

    @property
    def stopped(self) -> bool:
        """True once ``stop`` was called (a deliberate stop, not a crash)."""
        return self._stopped

    @property
    def restarts(self) -> int:
        """How many times a new engine process replaced the previous one."""
        h = self.supervisor.get(ENGINE)
        return h.restarts if h is not None else 0

    @property
    def status(self) -> EngineStatus:
        """What the engine process said about itself in its latest reply."""
        child = self._child
        if child is not None and isinstance(child.status, EngineStatus):
            self._status = child.status
        return self._status

    @property
    def state(self) -> EngineState:
        """The engine state as the audio thread last wrote it (STOPPED when it is down,
        STALLED while its process shows no sign of life).

        During a hand-over after a device loss it stays what the old process last wrote.
        """
        if self.meters is None or self._stopped:
            return EngineState.STOPPED
        if not self.alive:
            h = self.supervisor.get(ENGINE)
            if h is not None and h.state is ChildState.STALLED:
                return EngineState.STALLED
            if h is None or not (h.handover and h.state is ChildState.RESTARTING):
                return EngineState.STOPPED
        return EngineState.from_code(self.meters["state"])

    @property
    def controls_name(self) -> str | None:
        """Name of the shared controls block (another process may attach and write)."""
        return self._ctl_block.name if self._ctl_block is not None else None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

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

    # ------------------------------------------------------------ requests

    def command(self, cmd: str, timeout: float = 30.0, **args: Any) -> Any:
        """Send a non-real-time request and wait for its answer (the handler's data).

        Fails at once (EngineError, one line) while the engine is down or restarting.
        """
        child = self._child
        if child is None or not self.alive:
            raise EngineError(self._down_note())
        try:
            return child.request(cmd, timeout=timeout, **args)
        except ChildError as exc:
            raise EngineError(str(exc)) from None

    def _down_note(self) -> str:
        h = self.supervisor.get(ENGINE)
        if self._stopped or h is None or h.state is ChildState.STOPPED:
            return "the engine is not running"
        why = h.error or h.reason
        return f"the engine is {h.state.value}" + (f" ({why})" if why else "")

    def open(self, timeout: float = 30.0, **changes: Any) -> EngineStatus:
        """Reopen the stream with changed settings (device, rate, block size, channels)."""
        for k in changes:
            if not hasattr(self.config, k):
                raise EngineError(f"no engine setting named {k!r}")
        new = EngineConfig(**{**asdict(self.config), **changes})
        new.validate()
        self.command("open", timeout=timeout, config=new)
        self._set_config(new)
        return self.status

    def _set_config(self, config: EngineConfig) -> None:
        """The settings a restarted process opens (the MIDI options are not changed here)."""
        self.config = config
        if self._child is not None:
            self._child.config = config

    def load(self, source: str, capture: int = 0, timeout: float = 60.0) -> EngineStatus:
        """Play "demo", "silence", "input" or an audio file (looped) from the next block.

        With ``capture`` > 0 the output from that very block is recorded (see ``captured``).
        """
        self.command("source", timeout=timeout, source=source, capture=int(capture))
        self._set_config(replace(self.config, source=source))
        return self.status

    def captured(self, timeout: float = 60.0) -> np.ndarray:
        """Wait for the capture requested with ``load(..., capture=N)`` and return it."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.command("get_capture")
            if data is not None:
                return np.asarray(data, dtype=np.float32)
            if time.monotonic() > deadline:
                raise EngineError("capture did not complete in time")
            time.sleep(0.05)

    def refresh_status(self) -> EngineStatus:
        """Ask the engine for a fresh status."""
        self.command("status")
        return self.status
