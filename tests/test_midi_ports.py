"""Port names, the choice of MIDI API, and the CLI options (no ports opened)."""

from __future__ import annotations

import os
import time

import pytest

from floweq_tui.cli import build_parser, main
from floweq_tui.cli.options import midi_fields as config_fields
from floweq_tui.engine import Engine, EngineConfig, EngineError
from floweq_tui.midi import ports as P
from floweq_tui.midi.state import LinkState, MidiStatus

ALSA_INS = [
    "Midi Through:Midi Through Port-0 14:0",
    "floweq-tui:floweq-tui 128:0",
    "nanoKONTROL2:nanoKONTROL2 nanoKONTROL2 _ CTR 20:0",
    "Launch Control XL:Launch Control XL MIDI 1 24:0",
]
JACK_INS = [
    "RtMidiOut Client:some app",
    "floweq-tui-out:feedback",
    "system:midi_capture_1",
    "a2j:nanoKONTROL2 [20] (capture): nanoKONTROL2 _ CTR",
]


def test_controller_name_drops_alsa_numbers():
    assert P.controller_name(ALSA_INS[2]) == "nanoKONTROL2:nanoKONTROL2 nanoKONTROL2 _ CTR"
    assert P.controller_name("system:midi_capture_1") == "system:midi_capture_1"
    # replugged on another client number: the same controller
    assert P.controller_name(ALSA_INS[2].replace("20:0", "28:0")) == P.controller_name(ALSA_INS[2])


def test_first_hardware_port_skips_ours_and_midi_through():
    assert P.find_port(ALSA_INS, None, "alsa") == ALSA_INS[2]
    assert P.find_port(JACK_INS, None, "jack") == "system:midi_capture_1"
    assert P.find_port(JACK_INS[:2], None, "jack") is None  # other software is not hardware
    assert P.find_port(ALSA_INS[:2], None, "alsa") is None


def test_find_by_substring_or_controller_name():
    assert P.find_port(ALSA_INS, "launch", "alsa") == ALSA_INS[3]
    replugged = [n.replace("24:0", "32:0") for n in ALSA_INS]
    want = P.controller_name(ALSA_INS[3])
    assert P.find_port(replugged, want, "alsa") == replugged[3]
    assert P.find_port(ALSA_INS, "floweq", "alsa") is None  # never our own port
    assert P.find_port(ALSA_INS, "missing", "alsa") is None


def test_matching_output():
    outs = ["Midi Through:Midi Through Port-0 14:0", "nanoKONTROL2:nanoKONTROL2 _ CTR 20:0"]
    assert P.matching_output("nanoKONTROL2:nanoKONTROL2 _ CTR 20:0", outs) == outs[1]
    assert P.matching_output("system:midi_capture_2", ["system:midi_playback_2"]) == (
        "system:midi_playback_2"
    )
    assert P.matching_output("dev:out", ["dev:in", "other:in"]) == "dev:in"  # same client
    assert P.matching_output("system:midi_capture_1", ["system:midi_playback_2"]) is None
    assert P.matching_output("lonely:x", ["other:y"]) is None


def test_choose_api(monkeypatch):
    state = {"alsa": "no ALSA sequencer", "jack": ""}
    monkeypatch.setattr(P, "api_works", lambda api: state[api])
    monkeypatch.delenv(P.ENV_API, raising=False)
    assert P.choose_api().api == "jack"  # ALSA missing: JACK
    state["alsa"] = ""
    assert P.choose_api().api == "alsa"  # a normal Linux box
    assert P.choose_api(audio_hostapi="JACK Audio Connection Kit").api == "jack"
    assert P.choose_api("jack").api == "jack"
    monkeypatch.setenv(P.ENV_API, "jack")
    assert P.choose_api().api == "jack"
    assert P.choose_api("alsa").api == "alsa"  # the option beats the environment
    monkeypatch.setenv(P.ENV_API, "bogus")
    assert P.choose_api().api is None and "bogus" in P.choose_api().reason
    monkeypatch.delenv(P.ENV_API)
    state["alsa"] = "nope"
    assert P.choose_api("alsa").api is None
    assert "alsa requested but unavailable" in P.choose_api("alsa").reason
    state["jack"] = "no JACK server is running"
    choice = P.choose_api()
    assert choice.api is None and "nope" in choice.reason and "JACK" in choice.reason


def test_cli_options_reach_the_engine_config():
    from floweq_tui.cli.options import engine_config

    args = build_parser().parse_args(
        ["--midi-in", "nano", "--midi-out", "none", "--midi-api", "jack", "--silent"]
    )
    cfg = engine_config(args)
    assert (cfg.midi, cfg.midi_in, cfg.midi_out, cfg.midi_api) == (True, "nano", "none", "jack")
    cfg = engine_config(build_parser().parse_args(["--no-midi", "--midi-api", "auto"]))
    assert cfg.midi is False and cfg.midi_api is None
    assert config_fields(build_parser().parse_args([]))["midi"] is True
    assert EngineConfig().midi is False  # library users opt in


def test_midi_subcommand(capsys):
    assert main(["midi", "--defaults"]) == 0
    out = capsys.readouterr().out
    assert "x" in out and "cc 16 ch1" in out and "note 38 ch10" in out
    assert main(["midi"]) == 0
    assert "mapping file:" in capsys.readouterr().out


def test_midi_subcommand_export_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    src = tmp_path / "mine.toml"
    src.write_text(
        'version = 1\n[controllers."K"]\n[[controllers."K".bindings]]\n'
        'control = "x"\ntype = "cc"\nnumber = 1\nchannel = 1\n'
    )
    assert main(["midi", "--import", str(src), "--export", str(tmp_path / "out.toml")]) == 0
    assert "number = 1" in (tmp_path / "cfg" / "floweq-tui" / "midi.toml").read_text()
    assert "number = 1" in (tmp_path / "out.toml").read_text()
    src.write_text("version = 1\n[controllers.\n")
    assert main(["midi", "--import", str(src)]) == 2
    assert f"{src}:2:" in capsys.readouterr().err


def test_engine_without_midi():
    eng = Engine(EngineConfig(silent=True))
    assert eng.midi is None
    with pytest.raises(EngineError, match="MIDI is off"):
        eng.midi_command("status")


def test_engine_starts_and_stops_the_midi_process(tmp_path):
    """The MIDI process lives and dies with the engine (whatever API this box has)."""
    cfg = EngineConfig(silent=True, midi=True, midi_in="none", midi_config=str(tmp_path / "m.toml"))
    eng = Engine(cfg)
    try:
        eng.start()
        st = eng.midi.status()
        assert isinstance(st, MidiStatus) and st.hw.state in (LinkState.OFF, LinkState.NONE)
        assert st.mapping_file == str(tmp_path / "m.toml")
        assert eng.midi_command("defaults")["table"][0]["control"] == "x"
        pid = eng.midi.pid
        assert pid and os.path.exists(f"/proc/{pid}")
    finally:
        eng.stop()
    assert eng.midi is None
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


class _FrozenClient:
    """Stands in for our JACK client whose cycles JACK no longer runs (the real fault is
    jackd's, not injectable on demand; tests/test_midi_jack.py checks the live count)."""

    def __init__(self) -> None:
        self.cycles, self.gone, self.closed = 5, False, False

    def close(self) -> None:
        self.closed = True


def test_a_client_jack_stopped_running_is_opened_again(monkeypatch):
    """Cycles standing still for STUCK_S with the server up: closed and opened again (the
    links say why meanwhile); cycles moving, or the server gone: left alone."""
    from floweq_tui.midi import links as L

    now = [100.0]
    links = L.Links({"midi_virtual": False}, lambda: now[0], lambda _name: [])
    frozen = _FrozenClient()
    links.jack, links.api = frozen, "jack"
    opened: list[str] = []
    monkeypatch.setattr(links, "open_jack", lambda: opened.append("jack"))
    monkeypatch.setattr(links, "open_virtual", lambda: opened.append("virtual"))
    assert not links.client_stuck(now[0])  # (the first look only notes the count)
    now[0] += 0.5
    frozen.cycles += 180  # running
    assert not links.client_stuck(now[0])
    now[0] += L.STUCK_S
    assert links.client_stuck(now[0])  # stood still for STUCK_S
    links.server_down = True
    assert not links.client_stuck(now[0])  # a gone server is its own fault
    links.server_down = False
    links.hw.controller = "nanoKONTROL2:out"
    links.restart_client()
    assert frozen.closed and opened == ["jack", "virtual"] and links.client_restarts == 1
    assert links.hw.state is LinkState.DISCONNECTED  # the next scan reconnects it
    links.close()
