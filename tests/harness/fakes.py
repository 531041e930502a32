"""Test doubles for the UI: an engine and a MIDI service with no process, and a seeded
stand-in model family. The app sees them through its Protocols (floweq_tui.tui.engine_port).

:class:`FakeEngine` holds plain NumPy arrays laid out like the shared blocks and does what
the audio thread does when the controls change (decode, write the meters), with the same
controls -> latent point rule (:func:`floweq_tui.controls.latent_point`).
"""

from __future__ import annotations

from dataclasses import replace as evolve
from pathlib import Path
from typing import Any

import numpy as np

from floweq_tui import vae
from floweq_tui.controls import (
    CONTROL_DEFAULTS,
    METER_INDEX,
    METERS_SIZE,
    N_METERS,
    RING_FRAMES,
    Controls,
    History,
    Meters,
    latent_point,
)
from floweq_tui.engine import ENGINE, EngineError, EngineStatus
from floweq_tui.midi.mapping import Binding
from floweq_tui.midi.state import (
    Conflict,
    KnobInfo,
    LearnPhase,
    LearnState,
    LinkInfo,
    LinkState,
    MidiStatus,
)
from floweq_tui.params import clip as clip_params
from floweq_tui.params import sort_bands
from floweq_tui.runtime.supervisor import ChildHealth, RestartPolicy, Supervisor


class _FakeMeters(Meters):
    """Meters that re-derive the decoded parameters from the controls before each read."""

    def __init__(self, array: np.ndarray, engine: FakeEngine) -> None:
        super().__init__(array)
        self._engine = engine

    def __getitem__(self, name: str) -> float:
        self._engine.simulate()
        return super().__getitem__(name)

    def snapshot(self) -> dict[str, float]:
        self._engine.simulate()
        return super().snapshot()

    @property
    def params(self) -> np.ndarray:  # type: ignore[override]
        self._engine.simulate()
        return Meters.params.fget(self)  # type: ignore[attr-defined]


class FakeEngine:
    """An engine with no process: fixed, plausible meters; decoding done like the core.

    ``family`` is a loaded :class:`floweq_tui.vae.Family` (or None: modes act as manual).
    """

    def __init__(
        self,
        family: Any = None,
        samplerate: int = 48000,
        blocksize: int = 128,
        midi: FakeMidi | None = None,
        history_seconds: float = 30.0,
        **controls: float,
    ) -> None:
        """``midi``: None for an engine without MIDI (as ``--no-midi``), or a :class:`FakeMidi`.

        ``history``: an input history block in ordinary memory, empty (nothing heard yet):
        tests write it with a real ``_dsp.Processor`` (None with ``history_seconds`` 0)."""
        self.family = family
        self._models = list(family) if family is not None else []
        names = [m.name for m in self._models]
        anchors = [a.label for a in self._models[0].anchors] if self._models else []
        self.controls = Controls(CONTROL_DEFAULTS.copy())
        if family is not None and family.default.name in names:
            self.controls["model"] = names.index(family.default.name)
        for k, v in controls.items():
            self.controls[k] = v
        self.meters = _FakeMeters(np.zeros(METERS_SIZE), self)
        self.history = History.empty(history_seconds, samplerate) if history_seconds else None
        self.status = EngineStatus(
            state="no audio device: silent clock",
            message="",
            device="silent clock",
            samplerate=samplerate,
            blocksize=blocksize,
            channels=2,
            source="demo",
            models=names,
            anchors=anchors,
            pid=0,
        )
        self.stopped = False
        self.process = _FakeProcess(self)
        self.restart_failures = 0
        """Make the next N starts fail (automatic or by hand: tests of the backoff)."""
        self.supervisor = Supervisor(RestartPolicy(), threaded=False)
        """The real policy, stepped each time ``health`` is read (no thread)."""
        self.supervisor.add(ENGINE, self.process, label="the engine process")
        self._applied: np.ndarray | None = None
        self._fill_meters(samplerate, blocksize)
        self.midi = midi
        if midi is not None:
            midi.controls = self.controls

    def _fill_meters(self, samplerate: int, blocksize: int) -> None:
        a = self.meters.array
        fixed = {
            "callbacks": 1000, "frames": 128000, "xruns": 0, "cpu": 0.021, "cpu_max": 0.05,
            "callback_us": 56.0, "peak_in": 0.25, "peak_out": 0.3, "lufs_in": -18.2,
            "lufs_out": -17.5, "auto_gain_db": -0.7, "limited": 3, "limiter_db": 0.0,
            "samplerate": samplerate, "blocksize": blocksize, "channels": 2, "state": 2,
            "ring_pos": RING_FRAMES,
        }  # fmt: skip
        for k, v in fixed.items():
            a[METER_INDEX[k]] = v
        t = np.arange(RING_FRAMES) / samplerate
        ring = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 3000 * t)
        a[N_METERS + RING_FRAMES : N_METERS + 2 * RING_FRAMES] = ring
        a[N_METERS : N_METERS + RING_FRAMES] = ring

    @property
    def state(self) -> str:
        return "stopped" if not self.alive else self.status.state

    @property
    def alive(self) -> bool:
        return self.process.alive and not self.stopped

    @property
    def health(self) -> dict[str, ChildHealth]:
        """Like Engine.health (one supervisor step first: the fake has no thread)."""
        self.supervisor.step()
        return self.supervisor.health

    @property
    def restarts(self) -> int:
        return self.supervisor.health[ENGINE].restarts

    def start(self) -> EngineStatus:
        """Nothing to spawn: the fake runs from construction."""
        return self.status

    def stop(self) -> None:
        self.stopped = True
        self.supervisor.stop(ENGINE)

    def die(self, code: int = -9) -> None:
        """Simulate the engine process dying (the supervisor restarts it)."""
        self.process.exitcode, self.process.running = code, False

    def restart(self, timeout: float = 30.0) -> EngineStatus:
        """Like Engine.restart: a new "process" by hand, the controls block kept."""
        self.supervisor.restart(ENGINE, timeout)
        return self.status

    def simulate(self) -> None:
        """Do what the audio thread does when the controls change: decode, write the meters."""
        c = self.controls.array
        if self._applied is not None and np.array_equal(c, self._applied):
            return
        self._applied = c.copy()
        ctl = self.controls
        mode = int(ctl["mode"])
        z = np.zeros(3)
        m = self.meters.array
        if mode != 2 and self._models:
            model = self._models[min(int(ctl["model"]), len(self._models) - 1)]
            d = model.latent
            z[:d] = latent_point(ctl, d, [a.z for a in model.anchors])
            p = sort_bands(model.decode(z[:d]))
        else:
            mode = 2
            p = clip_params(ctl.params)
        m[METER_INDEX["mode"]] = mode
        m[METER_INDEX["model"]] = ctl["model"]
        m[METER_INDEX["zx"] : METER_INDEX["zx"] + 3] = z
        m[METER_INDEX["p0"] : METER_INDEX["p0"] + 13] = p


class _FakeProcess:
    """The fake engine's "process", as the supervisor sees it: dies and starts on request."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.running = True
        self.pid: int | None = 0
        self.exitcode: int | None = None

    @property
    def alive(self) -> bool:
        return self.running

    def start(self, wait: bool = True, timeout: float = 30.0) -> None:  # noqa: ARG002
        if self.engine.restart_failures > 0:
            self.engine.restart_failures -= 1
            raise EngineError("the engine failed to start (simulated)")
        self.running, self.pid, self.exitcode = True, 0, None

    def stop(self, timeout: float = 5.0) -> None:  # noqa: ARG002
        self.running, self.pid = False, None


class FakeMidi:
    """Stands in for :class:`floweq_tui.midi.MidiProcess` (``engine.midi``) in tests and demos:
    the same methods and typed replies (:mod:`floweq_tui.midi.state`), no process, no ports.
    ``move(source)`` plays the part of a knob or button on the controller (``"cc 21 ch1"``);
    ``set_knob`` an unpicked knob; ``state``/``learn_state`` may be set directly."""

    def __init__(
        self,
        controller: str = "nanoKONTROL2",
        state: LinkState | None = None,
        virtual: str = "floweq-tui:floweq-tui",
        api: str = "alsa",
    ) -> None:
        from floweq_tui.midi import default_bindings

        self.controller = controller
        self.state = LinkState.CONNECTED if state is None else state
        self.detail = ""
        """The state in words, when there is more to say ("disconnected: waiting for K")."""
        self.virtual = virtual
        self.api = api
        self.controls: Any = None
        self.bound: dict[str, dict[str, Any]] = {}
        for b in default_bindings():
            self.bound[b.source()] = b.to_dict()
        self.learn_state = LearnState()
        self._pending: tuple[str, Binding] | None = None
        self._knobs: dict[str, KnobInfo] = {}
        self.calls: list[str] = []
        self.alive = True

    # ---- what the UI calls (MidiProcess's API)

    def status(self) -> MidiStatus:
        self.calls.append("status")
        connected = self.state is LinkState.CONNECTED
        return MidiStatus(
            api=self.api,
            hw=LinkInfo(
                controller=self.controller,
                port=f"{self.controller} 20:0" if connected else None,
                state=self.state,
                detail=self.detail,
            ),
            virtual=LinkInfo(
                controller="floweq-tui",
                port=self.virtual,
                state=LinkState.OPEN,
                output_state=LinkState.OPEN,
            ),
            mapping_file="midi.toml",
            learn=self.learn_state,
            knobs=self.knobs(),
        )

    def knobs(self) -> dict[str, KnobInfo]:
        out = {}
        for name, k in self._knobs.items():
            value = float(self.controls[name]) if self.controls is not None else 0.0
            out[name] = evolve(k, value=value, controller=self.controller)
        return out

    def learn_start(self, control: str, timeout: float | None = None) -> LearnState:
        self.calls.append(f"learn_start {control}")
        self._pending = None
        self.learn_state = LearnState(LearnPhase.WAITING, control=control)
        return self.learn_state

    def learn_status(self) -> LearnState:
        return self.learn_state

    def learn_cancel(self) -> LearnState:
        self.calls.append("learn_cancel")
        self._pending = None
        if self.learn_state.phase in (LearnPhase.WAITING, LearnPhase.CONFLICT):
            self.learn_state = evolve(self.learn_state, phase=LearnPhase.CANCELLED)
        return self.learn_state

    def learn_commit(self, replace: bool = True) -> LearnState:
        self.calls.append(f"learn_commit {replace}")
        if self._pending is None:
            return self.learn_state
        if not replace:
            return self.learn_cancel()
        source, binding = self._pending
        self._pending = None
        self.bound[source] = binding.to_dict()
        self.learn_state = evolve(
            self.learn_state,
            phase=LearnPhase.DONE,
            replaced=self.learn_state.conflicts,
            saved=True,
            error="",
        )
        return self.learn_state

    def bindings(self, controller: str | None = None) -> dict[str, Any]:
        return {
            "controller": self.controller,
            "custom": False,
            "bindings": list(self.bound.values()),
        }

    # ---- test hooks

    def move(self, source: str) -> None:
        """A control on the controller sends ``source`` ("cc 21 ch1", "note 36 ch10")."""
        if self.learn_state.phase is not LearnPhase.WAITING:
            return
        control = self.learn_state.control
        kind, number, ch = source.split()
        channel: Any = int(ch[2:]) if ch.startswith("ch") else "any"
        binding = Binding.from_dict(
            {"control": control, "type": kind, "number": int(number), "channel": channel}
        )
        base = LearnState(
            LearnPhase.WAITING,
            control=control,
            controller=self.controller,
            binding=binding,
            source=source,
        )
        other = self.bound.get(source)
        if other is not None and other["control"] != control:
            self._pending = (source, binding)
            conflict = Conflict(other["control"], source)
            self.learn_state = evolve(base, phase=LearnPhase.CONFLICT, conflicts=(conflict,))
            return
        self.bound[source] = binding.to_dict()
        self.learn_state = evolve(base, phase=LearnPhase.DONE, saved=True, error="")

    def set_knob(self, control: str, knob: float | None, picked_up: bool = False) -> None:
        self._knobs[control] = KnobInfo(knob=knob, picked_up=picked_up, source="cc 16 ch1")


def synthetic_family(seed: int = 0) -> vae.Family:
    """A deterministic stand-in for the shipped family (same names, shapes and anchors),
    with seeded random weights: tests and snapshots do not depend on retrained models."""
    rng = np.random.default_rng(seed)
    descriptors = ("warm", "bright", "clear", "full", "thin", "vocal")
    models: dict[str, Any] = {}
    for d in (1, 2, 3):
        for beta in (0.0, 0.001, 0.01, 0.02):
            shapes = vae.expected_shapes(d, 64)
            w = {
                k: (rng.standard_normal(s) * (0.6 if k.endswith("w1") else 0.25)).astype(np.float32)
                for k, s in shapes.items()
            }
            anchors = []
            for i, desc in enumerate(descriptors):
                for intensity in (0, 1, 2, 3) if i < 2 else (0,):
                    z = tuple(float(v) for v in rng.uniform(-1.6, 1.6, d))
                    anchors.append(vae.Anchor(desc, intensity, 10, z, 0.9))
            name = vae.model_name(d, beta)
            models[name] = vae.Model(name, d, beta, w, anchors)
    return vae.Family(models, {"default": "vae_d2_b0.001"}, Path("."))
