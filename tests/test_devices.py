"""Device listing, choice and checks: unit tests on a fake PortAudio, and JACK-marked real ones."""

from __future__ import annotations

import builtins
import os
import re
import sys

import numpy as np
import pytest
from conftest import package_env

from floweq_tui import devices
from floweq_tui.devices import NO_DEVICES, DeviceError


class FakePortAudioError(Exception):
    """Stands in for sounddevice.PortAudioError (args: message, PaErrorCode)."""


HOSTAPIS = ("ALSA", "JACK Audio Connection Kit")
FAKE_DEVICES = [
    # name, hostapi, in, out, rate
    ("HDA Intel PCH: ALC892 Analog (hw:0,0)", 0, 2, 8, 44100.0),
    ("USB Audio CODEC: - (hw:1,0)", 0, 2, 2, 48000.0),
    ("HDMI 0 (hw:0,3)", 0, 0, 8, 48000.0),
    ("USB Audio CODEC: - (hw:2,0) a second one with a very long name indeed", 0, 1, 0, 48000.0),
    ("pulse", 0, 32, 32, 44100.0),
    ("default", 0, 32, 32, 44100.0),
    ("system", 1, 2, 2, 48000.0),
]


class FakeSD:
    """The parts of sounddevice that floweq_tui.devices uses, over a fixed device list."""

    PortAudioError = FakePortAudioError

    def __init__(self, rows=FAKE_DEVICES, default_in=5, default_out=5, rates=None):
        self.rows = list(rows)
        self.defaults = {"input": default_in, "output": default_out}
        self.rates = rates or {6: {48000.0}}  # device index -> supported rates (others: any)
        self.checked: list[tuple] = []

    def _dev(self, i):
        name, api, n_in, n_out, rate = self.rows[i]
        return {
            "name": name,
            "index": i,
            "hostapi": api,
            "max_input_channels": n_in,
            "max_output_channels": n_out,
            "default_samplerate": rate,
        }

    def query_devices(self, device=None, kind=None):
        if kind is not None:
            device = self.defaults[kind]
        if device is None:
            return [self._dev(i) for i in range(len(self.rows))]
        if not 0 <= device < len(self.rows):
            raise FakePortAudioError(f"Error querying device {device}")
        return self._dev(device)

    def query_hostapis(self):
        return tuple({"name": name} for name in HOSTAPIS)

    def _terminate(self):
        self.checked.append(("terminate",))

    def _initialize(self):
        self.checked.append(("initialize",))

    def _check(self, kind, device, channels, dtype, samplerate):
        self.checked.append((kind, device, channels, dtype, samplerate))
        dev = self._dev(device)
        if channels > dev[f"max_{kind}_channels"]:
            raise FakePortAudioError("Invalid number of channels", -9998)
        if device in self.rates and samplerate not in self.rates[device]:
            raise FakePortAudioError("Invalid sample rate", -9997)
        if device == 4:
            raise FakePortAudioError("Device unavailable", -9985)

    def check_input_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        self._check("input", device, channels, dtype, samplerate)

    def check_output_settings(self, device=None, channels=None, dtype=None, samplerate=None):
        self._check("output", device, channels, dtype, samplerate)


@pytest.fixture
def fake(monkeypatch) -> FakeSD:
    sd = FakeSD()
    monkeypatch.setattr(devices, "_sounddevice", lambda: sd)
    return sd


@pytest.fixture
def empty(monkeypatch) -> FakeSD:
    sd = FakeSD(rows=[], default_in=-1, default_out=-1)
    monkeypatch.setattr(devices, "_sounddevice", lambda: sd)
    return sd


def _error(func, *args, match: str) -> str:
    with pytest.raises(DeviceError, match=match) as info:
        func(*args)
    text = str(info.value)
    assert "\n" not in text
    return text


# --------------------------------------------------------------------------------- query


def test_query_lists_every_device_with_defaults(fake):
    found = devices.query()
    assert [d["index"] for d in found] == list(range(len(FAKE_DEVICES)))
    system = found[6]
    assert system == {
        "index": 6,
        "name": "system",
        "hostapi": "JACK Audio Connection Kit",
        "max_input_channels": 2,
        "max_output_channels": 2,
        "default_samplerate": 48000.0,
        "default_input": False,
        "default_output": False,
    }
    assert [d["index"] for d in found if d["default_input"]] == [5]
    assert [d["index"] for d in found if d["default_output"]] == [5]


def test_query_is_empty_without_devices(empty):
    assert devices.query() == []


def test_query_is_empty_without_portaudio(monkeypatch):
    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    assert devices.query() == []
    assert devices.resolve(None, "output") is None
    _error(devices.resolve, "system", "output", match="no audio devices found")
    _error(devices.check, None, 0, 48000, 2, 256, match="no audio devices found")
    _error(devices.host_api_name, 0, match="does not exist")
    devices.rescan()  # a no-op, not a crash


def test_sounddevice_is_not_imported_with_the_module():
    import subprocess
    import sys

    code = "import sys, floweq_tui.devices; print('sounddevice' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=package_env()
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------- resolve


def test_resolve_by_index_and_digit_string(fake):
    assert devices.resolve(1, "output") == 1
    assert devices.resolve("6", "input") == 6
    assert devices.resolve(" 2 ", "output") == 2
    assert devices.resolve(np.int64(6), "output") == 6


def test_resolve_index_errors(fake):
    text = _error(devices.resolve, 42, "output", match="output device 42 does not exist")
    assert "6 'system'" in text
    _error(devices.resolve, "-1", "output", match="output device -1 does not exist")
    _error(devices.resolve, 2, "input", match=r"2 'HDMI 0 \(hw:0,3\)' \(ALSA\) has no input")
    _error(devices.resolve, 3, "output", match="has no output channels")


def test_resolve_by_name(fake):
    assert devices.resolve("SYSTEM", "output") == 6
    assert devices.resolve("hdmi", "output") == 2
    assert devices.resolve("alc892", "input") == 0
    # Devices without channels of the kind are not candidates: one USB match for output.
    assert devices.resolve("usb", "output") == 1
    # "name, host API" disambiguates like sounddevice does.
    assert devices.resolve("system, jack", "input") == 6


def test_resolve_prefers_exact_name(fake):
    # "default" is also a substring of nothing else here, but "pulse"/"default" style exact
    # names must win over longer names containing them.
    fake.rows.append(("default output with more words", 0, 0, 2, 48000.0))
    assert devices.resolve("default", "output") == 5
    assert devices.resolve("Default", "input") == 5


def test_resolve_ambiguous_lists_the_matches(fake):
    text = _error(devices.resolve, "usb audio", "input", match="input device 'usb audio' is ambig")
    assert "1 'USB Audio CODEC: - (hw:1,0)' (ALSA)" in text and "3 'USB Audio CODEC" in text
    assert "pulse" not in text


def test_resolve_no_match_lists_devices_of_that_kind(fake):
    text = _error(devices.resolve, "focusrite", "input", match="no input device matches 'focus")
    assert "6 'system' (JACK Audio Connection Kit)" in text
    assert "HDMI" not in text  # output-only devices are not offered for input


def test_resolve_none_gives_the_default(fake):
    assert devices.resolve(None, "input") == 5
    assert devices.resolve("", "output") == 5
    fake.defaults = {"input": 6, "output": 2}
    assert devices.resolve(None, "input") == 6
    assert devices.resolve(None, "output") == 2


def test_resolve_none_without_portaudio_default_takes_first_of_kind(fake):
    fake.defaults = {"input": -1, "output": -1}
    assert devices.resolve(None, "input") == 0
    fake.rows[0] = ("HDA Intel PCH: ALC892 Analog (hw:0,0)", 0, 0, 8, 44100.0)
    assert devices.resolve(None, "input") == 1


def test_resolve_without_devices(empty):
    assert devices.resolve(None, "output") is None
    assert devices.resolve(None, "input") is None
    text = _error(devices.resolve, "system", "output", match="output device 'system' not found")
    assert NO_DEVICES in text
    _error(devices.resolve, 0, "output", match="no audio devices found")


def test_resolve_rejects_odd_specs(fake):
    _error(devices.resolve, 1.5, "output", match="must be an index or a name")
    _error(devices.resolve, True, "output", match="must be an index or a name")
    with pytest.raises(ValueError, match="kind"):
        devices.resolve(None, "duplex")


# --------------------------------------------------------------------------------- check


def test_check_passes_and_checks_both_sides(fake):
    assert devices.check(6, 6, 48000, 2, 128) is None
    assert [c[:3] for c in fake.checked] == [("input", 6, 2), ("output", 6, 2)]
    assert all(c[3] == "float32" and c[4] == 48000 for c in fake.checked)
    fake.checked.clear()
    assert devices.check(None, np.int64(1), 44100.0, np.int32(2), 0) is None  # output only
    assert [c[:2] for c in fake.checked] == [("output", 1)]


def test_check_sample_rate_message(fake):
    _error(
        devices.check,
        None,
        6,
        44100,
        2,
        128,
        match=r"^output device 6 \('system'\) does not support 44100 Hz$",
    )
    _error(
        devices.check,
        6,
        None,
        96000.0,
        2,
        128,
        match=r"^input device 6 \('system'\) does not support 96000 Hz$",
    )


def test_check_channel_messages(fake):
    _error(
        devices.check,
        None,
        6,
        48000,
        3,
        128,
        match=r"^output device 6 \('system'\) does not support 3 channels \(it has at most 2\)$",
    )
    _error(
        devices.check,
        3,
        None,
        48000,
        2,
        128,
        match=r"input device 3 .* does not support 2 channels \(it has at most 1\)",
    )
    _error(
        devices.check,
        2,
        None,
        48000,
        2,
        128,
        match=r"^input device 2 \('HDMI 0 \(hw:0,3\)'\) has no input channels$",
    )


def test_check_other_errors(fake):
    _error(
        devices.check,
        None,
        4,
        48000,
        2,
        128,
        match=r"output device 4 \('pulse'\) rejects 48000 Hz, 2 channels: Device unavailable",
    )
    _error(devices.check, None, 9, 48000, 2, 128, match="output device 9 does not exist")
    _error(devices.check, None, None, 48000, 2, 128, match="no input or output device")
    _error(devices.check, None, 6, 0, 2, 128, match="sample rate must be positive")
    _error(devices.check, None, 6, float("nan"), 2, 128, match="sample rate must be positive")
    _error(devices.check, None, 6, 48000, 0, 128, match="channel count")
    _error(devices.check, None, 6, 48000, 2, -1, match="block size")
    _error(devices.check, None, 6, 48000, 2, 10**6, match="block size")
    _error(devices.check, "system", None, 48000, 2, 128, match="index from resolve")


def test_check_without_devices(empty):
    _error(devices.check, None, 0, 48000, 2, 128, match="^" + re.escape(NO_DEVICES) + "$")
    _error(devices.check, None, None, 48000, 2, 128, match="no audio devices found")


def test_rescan_reinitialises_portaudio(fake, monkeypatch):
    from floweq_tui import jackserver

    monkeypatch.setattr(jackserver, "running", lambda: True)
    devices.rescan()
    assert fake.checked == [("terminate",), ("initialize",)]


def test_rescan_refuses_when_its_jack_server_is_gone(fake, monkeypatch):
    # Pa_Terminate would abort the process (Debian PortAudio asserts on jack_client_close).
    from floweq_tui import jackserver

    monkeypatch.setattr(jackserver, "running", lambda: False)
    _error(devices.rescan, match="JACK server this process was connected to has stopped")
    assert fake.checked == []


def test_holds_jack_client_only_when_portaudio_opened_one(fake, monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    assert not devices.holds_jack_client()  # never loaded here: nothing is initialised
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert devices.holds_jack_client()
    monkeypatch.setattr(fake, "query_hostapis", lambda: ({"name": "ALSA"},))
    assert not devices.holds_jack_client()


def test_presence_sees_cards_and_sockets_come_and_go(monkeypatch, tmp_path):
    """The cheap watch: PipeWire's/PulseAudio's sockets under XDG_RUNTIME_DIR (files here)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    before = devices.presence()
    assert before == devices.presence()  # nothing changed: the same fingerprint
    (tmp_path / "pipewire-0").touch()
    with_pw = devices.presence()
    assert with_pw.jack != before.jack and with_pw.other == before.other
    (tmp_path / "pulse").mkdir()
    (tmp_path / "pulse" / "native").touch()
    assert devices.presence().other != with_pw.other
    (tmp_path / "new").touch()  # a restarted server: a new socket, a new fingerprint
    os.replace(tmp_path / "new", tmp_path / "pipewire-0")
    assert devices.presence().jack != with_pw.jack


@pytest.mark.jack
def test_presence_sees_a_jack_server_start_and_stop(monkeypatch, tmp_path):
    from harness import jack

    name = f"fq_presence_{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    before = devices.presence()
    assert before.jack[0] is None
    server = jack.start_dummy(48000, 128, tmp_path / "jackd.log", name=name)
    if server is None:
        pytest.skip(f"cannot start a private JACK dummy server here (see {tmp_path})")
    try:
        up = devices.presence()
        assert up.jack[0] is not None and up.jack != before.jack
    finally:
        jack.stop(server)
    assert devices.presence().jack == before.jack


# ------------------------------------------------------------------------ table, host API


def test_format_table_fits_80_columns_with_default_markers(fake):
    fake.defaults = {"input": 6, "output": 6}
    table = devices.format_table(devices.query())
    lines = table.splitlines()
    assert all(len(line) <= 80 for line in lines), max(map(len, lines))
    assert "name" in lines[0] and "host API" in lines[0]
    assert len(lines) == len(FAKE_DEVICES) + 2  # header, devices, legend
    system = next(line for line in lines if "system" in line)
    assert system.lstrip().startswith("*") and "JACK" in system and "48000" in system
    assert "..." in table  # the very long name is cut
    assert "default input" in lines[-1]

    fake.defaults = {"input": 1, "output": 6}
    lines = devices.format_table(devices.query()).splitlines()
    assert lines[2].lstrip().startswith(">")  # device 1: default input only
    assert next(line for line in lines if "system" in line).lstrip().startswith("<")
    assert sum(line.lstrip()[:1] in "*<>" for line in lines[1:-1]) == 2


def test_format_table_without_devices():
    assert devices.format_table([]) == NO_DEVICES
    assert "\n" not in NO_DEVICES and "jackd" in NO_DEVICES


def test_host_api_name(fake):
    assert devices.host_api_name(6) == "JACK Audio Connection Kit"
    assert devices.host_api_name(0) == "ALSA"
    _error(devices.host_api_name, 99, match="device 99 does not exist")


# ------------------------------------------------------------------- real JACK dummy server


def _jack_device() -> int:
    """The JACK 'system' device, rescanning once if PortAudio was started before jackd."""
    for attempt in range(2):
        for dev in devices.query():
            if dev["name"] == "system" and dev["hostapi"] == "JACK Audio Connection Kit":
                return dev["index"]
        if attempt == 0:
            devices.rescan()
    pytest.fail(f"JACK device 'system' not listed; devices: {devices.query()}")


@pytest.mark.jack
def test_jack_resolve_finds_system(jack_server):
    index = _jack_device()
    assert devices.resolve("system", "output") == index
    assert devices.resolve("System", "input") == index
    assert devices.host_api_name(index) == "JACK Audio Connection Kit"
    assert "system" in devices.format_table(devices.query())


@pytest.mark.jack
def test_jack_check_settings(jack_server):
    index = _jack_device()
    assert devices.check(None, index, 48000, 2, 128) is None
    assert devices.check(index, index, 48000, 2, 0) is None
    most = next(d for d in devices.query() if d["index"] == index)["max_output_channels"]
    text = _error(
        devices.check,
        None,
        index,
        48000,
        most + 1,
        128,
        match=f"does not support {most + 1} channels",
    )
    assert text.startswith(f"output device {index} ('system')")
    _error(
        devices.check,
        None,
        index,
        44100,
        2,
        128,
        match=rf"output device {index} \('system'\) does not support 44100 Hz",
    )
