"""MIDI ports through mido + python-rtmidi: choose the API (ALSA or JACK), list, pick, open.

API choice (:func:`choose_api`): an explicit ``alsa``/``jack`` (option or FLOWEQ_MIDI_API)
wins; otherwise JACK when the audio runs on JACK, else ALSA when the sequencer opens, else
JACK when a JACK server answers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

API_NAMES = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK"}
VIRTUAL_CLIENT = "floweq-tui"
VIRTUAL_IN = "floweq-tui"
VIRTUAL_OUT_CLIENT = "floweq-tui-out"
VIRTUAL_OUT = "feedback"
CONTROLLER_CLIENT = "floweq-tui-controller"
SCAN_CLIENT = "floweq-tui-scan"
OWN_MARK = "floweq-tui"
ENV_API = "FLOWEQ_MIDI_API"


class MidiPortError(RuntimeError):
    """No MIDI API, or a port could not be opened (one-line message)."""


def backend(api: str) -> Any:
    import mido

    if api not in API_NAMES:
        raise MidiPortError(f"MIDI API must be 'alsa' or 'jack', not {api!r}")
    return mido.Backend(f"mido.backends.rtmidi/{API_NAMES[api]}", load=True)


def api_works(api: str) -> str:
    """'' if the API can make a client here, else why not (one line). Quiet for ALSA."""
    if api == "alsa" and not os.path.exists("/dev/snd/seq"):
        return "no ALSA sequencer (/dev/snd/seq is missing)"
    if api == "jack":
        # never an rtmidi client on JACK: python-rtmidi's wheels bundle their own libjack
        # (1.9.22); one of its clients, even a short-lived one listing ports, beside
        # Debian's jackd 1.9.21 and our client on the system's libjack wedged our client
        # (JACK left it "Triggered" every cycle: no MIDI either way). Ours lists the ports.
        from .. import jackserver

        if not jackserver.running():
            return "no JACK server is running"
        try:
            from . import _jackmidi  # noqa: F401  (the extension; libjack loads on open)
        except ImportError as exc:
            return f"the JACK MIDI client is not built: {exc}"
        return ""
    try:
        backend(api).get_input_names()
    except Exception as exc:  # rtmidi raises its own SystemError subclass
        text = str(exc).strip().splitlines()
        return text[0] if text else exc.__class__.__name__
    return ""


@dataclass
class ApiChoice:
    api: str | None
    reason: str


def choose_api(requested: str | None = None, audio_hostapi: str = "") -> ApiChoice:
    """Which MIDI API to use, and why (``api`` None when none works)."""
    req = (requested or os.environ.get(ENV_API) or "auto").strip().lower()
    if req in API_NAMES:
        why = api_works(req)
        if why:
            return ApiChoice(None, f"{req} requested but unavailable: {why}")
        return ApiChoice(req, f"{req} requested")
    if req != "auto":
        return ApiChoice(None, f"MIDI API must be alsa, jack or auto, not {req!r}")
    if "jack" in audio_hostapi.lower() and not api_works("jack"):
        return ApiChoice("jack", "the audio runs on JACK")
    why_alsa = api_works("alsa")
    if not why_alsa:
        return ApiChoice("alsa", "ALSA sequencer")
    why_jack = api_works("jack")
    if not why_jack:
        return ApiChoice("jack", f"JACK ({why_alsa})")
    return ApiChoice(None, f"no MIDI API: {why_alsa}; {why_jack}")


def is_own(name: str) -> bool:
    return OWN_MARK in name


def controller_name(port: str) -> str:
    """The stable part of a port name (ALSA adds ' 20:0' client:port numbers that change)."""
    name = re.sub(r"\s+\d+:\d+$", "", port.strip())
    return name or port


def is_hardware(name: str, api: str) -> bool:
    """A port that looks like a controller: not ours, not Midi Through, not other software."""
    low = name.lower()
    if is_own(name) or "midi through" in low or "rtmidi" in low:
        return False
    if api == "jack":  # hardware shows up as system:midi_capture_N or through a2j
        return low.startswith("system:") or low.startswith("a2j")
    return True


def find_port(names: list[str], spec: str | None, api: str) -> str | None:
    """The port for ``spec``: a case-insensitive name substring (or the controller name),
    or, with no spec, the first hardware port. Never one of our own ports."""
    candidates = [n for n in names if not is_own(n)]
    if spec is None or spec == "":
        hw = [n for n in candidates if is_hardware(n, api)]
        return hw[0] if hw else None
    low = spec.lower()
    for n in candidates:
        if controller_name(n).lower() == low:
            return n
    for n in candidates:
        if low in n.lower():
            return n
    return None


def matching_output(input_port: str, outputs: list[str]) -> str | None:
    """The output of the same controller (same name; JACK capture_N -> playback_N)."""
    want = controller_name(input_port)
    for n in outputs:
        if not is_own(n) and controller_name(n) == want:
            return n
    if "midi_capture" in input_port:
        twin = input_port.replace("midi_capture", "midi_playback")
        if twin in outputs:
            return twin
    client = want.split(":", 1)[0]
    if ":" in want and not client.lower().startswith(("system", "a2j")):
        for n in outputs:  # the same client (device) with a differently named port
            if not is_own(n) and controller_name(n).split(":", 1)[0] == client:
                return n
    return None


def list_ports(api: str) -> dict[str, list[str]]:
    """The MIDI ports that send (inputs for us) and receive (outputs), by name."""
    if api == "jack":  # our own client on the system's libjack (see api_works)
        from . import _jackmidi

        client = _jackmidi.Client(f"{OWN_MARK}-list")
        try:
            return {"inputs": list(client.ports(True)), "outputs": list(client.ports(False))}
        finally:
            client.close()
    b = backend(api)
    return {"inputs": list(b.get_input_names()), "outputs": list(b.get_output_names())}


def format_ports(requested: str | None = None) -> str:
    """The `floweq-tui midi` listing (every API that works, or why none does)."""
    choice = choose_api(requested)
    lines: list[str] = []
    apis = [choice.api] if choice.api else []
    if requested is None and os.environ.get(ENV_API) is None:
        apis = []
        for a in ("alsa", "jack"):
            why = api_works(a)
            if why:
                lines.append(f"{a.upper()}: unavailable ({why})")
            else:
                apis.append(a)
    if not apis:
        return "\n".join([*lines, f"no MIDI ports: {choice.reason}"])
    for api in apis:
        mark = "  (default)" if api == choice.api else ""
        lines.append(f"{api.upper()}{mark}")
        try:
            ports = list_ports(api)
        except Exception as exc:
            lines.append(f"  error: {exc}")
            continue
        first = find_port(ports["inputs"], None, api)
        for kind in ("inputs", "outputs"):
            lines.append(f"  {kind}:")
            if not ports[kind]:
                lines.append("    (none)")
            for n in ports[kind]:
                tag = []
                if is_own(n):
                    tag.append("floweq-tui")
                if kind == "inputs" and n == first:
                    tag.append("default controller")
                suffix = f"   [{', '.join(tag)}]" if tag else ""
                lines.append(f"    {n}{suffix}")
    return "\n".join(lines)
