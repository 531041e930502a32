"""Headless from MIDI alone: the real `floweq-tui --headless` on a private JACK server; another
program sends Bank Select + Program Change to its virtual port; the preset is recalled (the
sound moves) and headless says which. Then the preset buttons step and save."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import package_env
from harness.jackctl import SEND_SCRIPT as SEND
from harness.procout import Lines

from floweq_tui import presets
from floweq_tui.controls import CONTROL_SPECS

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def test_headless_recalls_a_preset_by_program_change(tmp_path, private_jack) -> None:  # noqa: ARG001
    data = tmp_path / "data"
    env = package_env(
        XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(data),
    )  # fmt: skip
    defaults = {s.name: float(s.default) for s in CONTROL_SPECS}
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_DATA_HOME", str(data))
    from floweq_tui.vae import core_models

    models = core_models()  # the model and anchors are stored by name, resolved by MIDI
    defaults["model"] = float(models.default_index)
    try:
        corner = {**defaults, "x": -1.75, "y": 1.5}
        presets.save(presets.Preset.from_controls("corner", corner, models.names,
                                                  models.anchor_labels))  # fmt: skip
        assert 'model = "vae_d2_b0.001"' in presets.preset_path("corner").read_text()
        presets.save_bank(presets.Bank({presets.program_number(2, 1): "corner"}))
    finally:
        mp.undo()
    proc = subprocess.Popen(
        [sys.executable, "-m", "floweq_tui", "--headless", "--silent", "--status-every", "0.3",
         "--midi-in", "none", "--morph-ms", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    out = Lines(proc)
    try:
        at, line = out.wait("floweq-tui: MIDI (jack)")
        assert "virtual input floweq-tui:floweq-tui" in line, line
        subprocess.run(
            [sys.executable, "-c", SEND, "floweq-tui:floweq-tui", "B0,00,00", "B0,20,02", "C0,01"],
            check=True,
            timeout=30,
            env=env,
        )
        at, said = out.wait("bank 2 program 1: preset 'corner'", at)
        out.wait("z (-1.75, +1.50", at)  # the engine got there (through the morph)
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
