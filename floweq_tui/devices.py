"""Audio devices: list them, pick one from a user's spec, and check settings before opening.

A thin layer over sounddevice (PortAudio) that turns its failures into one-line
:class:`DeviceError` messages for the CLI and the engine, and copes with machines that have no
PortAudio library or no devices at all (a headless box with no sound server yet).

sounddevice is imported inside the functions, never at module import, so the TUI does not pay
for PortAudio's start-up. Note that PortAudio scans the devices once, when sounddevice is first
imported: a sound server (JACK) started later is only seen after :func:`rescan`. And Debian's
PortAudio aborts the process at ``Pa_Terminate`` (rescan, interpreter exit) when the JACK server
it connected to has gone: terminate PortAudio *before* stopping a JACK server.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any, Literal, NamedTuple

from .runtime import one_line

__all__ = [
    "NO_DEVICES",
    "DeviceError",
    "Presence",
    "check",
    "format_table",
    "holds_jack_client",
    "host_api_name",
    "presence",
    "query",
    "rescan",
    "resolve",
]

Kind = Literal["input", "output"]

NO_DEVICES = "no audio devices found (is a sound server running? on JACK: start jackd)"
"""The message shown wherever a device is needed and PortAudio lists none."""
MAX_BLOCKSIZE = 65536

# PortAudio error codes (portaudio.h) that get a message of their own.
_PA_INVALID_CHANNEL_COUNT = -9998
_PA_INVALID_SAMPLE_RATE = -9997
_PA_INVALID_DEVICE = -9996
_PA_SAMPLE_FORMAT_NOT_SUPPORTED = -9994

_JACK_API = "JACK Audio Connection Kit"
_SHORT_HOSTAPI = {
    _JACK_API: "JACK",
    "Windows WASAPI": "WASAPI",
    "Windows WDM-KS": "WDM-KS",
    "Windows DirectSound": "DirectSound",
}


class DeviceError(RuntimeError):
    """A device cannot be found, chosen or used; the message is one line for the user."""


def _sounddevice() -> Any:
    """Import sounddevice, or raise DeviceError when the PortAudio library is missing."""
    try:
        import sounddevice
    except OSError as exc:
        raise DeviceError(f"PortAudio is not available ({one_line(exc)})") from None
    return sounddevice


def _check_kind(kind: str) -> Kind:
    if kind not in ("input", "output"):
        raise ValueError(f"kind must be 'input' or 'output', not {kind!r}")
    return kind  # type: ignore[return-value]


def _channels_key(kind: Kind) -> str:
    return "max_input_channels" if kind == "input" else "max_output_channels"


def rescan() -> None:
    """Make PortAudio scan the devices again (e.g. after jackd was started).

    This re-initialises PortAudio: every open stream is closed, so call it only while no
    stream is running. Does nothing when PortAudio is missing. Raises :class:`DeviceError`
    instead when PortAudio holds a client of a JACK server that has stopped: Debian's
    PortAudio asserts in ``Pa_Terminate`` then and aborts the whole process (PortAudio issue
    #819), so such a process can only be replaced, not rescanned.
    """
    try:
        sd = _sounddevice()
    except DeviceError:
        return
    if _jack_client_orphaned(sd):
        raise DeviceError(
            "cannot rescan audio devices: the JACK server this process was connected to has "
            "stopped (restart the process)"
        )
    sd._terminate()
    sd._initialize()


def _jack_client_orphaned(sd: Any) -> bool:
    """True if PortAudio opened a JACK client at start-up and no JACK server answers now."""
    try:
        apis = [h["name"] for h in sd.query_hostapis()]
    except (sd.PortAudioError, OSError, RuntimeError):
        return False
    if _JACK_API not in apis:
        return False
    from .jackserver import running

    return not running()


def holds_jack_client() -> bool:
    """True if this process's PortAudio connected to a JACK server when it last scanned.

    Such a process must not rescan after that server stopped or was replaced (see
    :func:`rescan`); it is replaced instead. False when PortAudio is missing or was never
    loaded here (nothing is initialised by asking).
    """
    import sys

    if "sounddevice" not in sys.modules:
        return False
    try:
        sd = _sounddevice()
    except DeviceError:
        return False
    try:
        return _JACK_API in [h["name"] for h in sd.query_hostapis()]
    except (sd.PortAudioError, OSError, RuntimeError):
        return False


class Presence(NamedTuple):
    """What sound servers and cards are there, cheaply (see :func:`presence`)."""

    jack: tuple[Any, ...]
    """The JACK server socket (jackd2, jackd1) and PipeWire's: (inode, ctime) or None each."""
    other: tuple[Any, ...]
    """PulseAudio's socket and the text of /proc/asound/cards (None when absent)."""


def presence() -> Presence:
    """A fingerprint of the sound servers and cards this process could open, without PortAudio.

    A few ``stat`` calls and one small read: cheap enough to look every second while the
    engine waits on the silent clock for a device, and only a change is worth a PortAudio
    rescan. JACK is the server this process's clients connect to (``JACK_DEFAULT_SERVER``,
    else "default"), by the socket jackd2 (``/dev/shm/jack_NAME_UID_0``) or jackd1
    (``/dev/shm/jack-UID/NAME/jack_0``) listens on; its inode tells a restarted server from
    the stale socket a killed one leaves. A USB card plugged in changes /proc/asound/cards.
    """
    uid = os.getuid()
    server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    jack = (
        _file_id(f"/dev/shm/jack_{server}_{uid}_0"),
        _file_id(f"/dev/shm/jack-{uid}/{server}/jack_0"),
        _file_id(os.path.join(runtime, "pipewire-0")),
    )
    try:
        with open("/proc/asound/cards", encoding="utf-8", errors="replace") as fh:
            cards: str | None = fh.read(65536)
    except OSError:
        cards = None
    return Presence(jack, (_file_id(os.path.join(runtime, "pulse", "native")), cards))


def _file_id(path: str) -> tuple[int, int] | None:
    """(inode, ctime ns) of a path, None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_ctime_ns)


def query() -> list[dict[str, Any]]:
    """All devices as dicts, or [] when PortAudio is missing or finds nothing.

    Keys: ``index``, ``name``, ``hostapi`` (the host API's name), ``max_input_channels``,
    ``max_output_channels``, ``default_samplerate`` and two booleans, ``default_input`` and
    ``default_output``, that mark PortAudio's default devices.
    """
    try:
        sd = _sounddevice()
    except DeviceError:
        return []
    try:
        raw = list(sd.query_devices())
        hostapis = [h["name"] for h in sd.query_hostapis()]
    except (sd.PortAudioError, OSError, RuntimeError):
        return []
    defaults = {kind: _default_index(sd, kind) for kind in ("input", "output")}
    devices = []
    for position, dev in enumerate(raw):
        index = int(dev.get("index", position))
        api = dev.get("hostapi", -1)
        devices.append(
            {
                "index": index,
                "name": str(dev["name"]),
                "hostapi": hostapis[api] if 0 <= api < len(hostapis) else "?",
                "max_input_channels": int(dev["max_input_channels"]),
                "max_output_channels": int(dev["max_output_channels"]),
                "default_samplerate": float(dev["default_samplerate"]),
                "default_input": index == defaults["input"],
                "default_output": index == defaults["output"],
            }
        )
    return devices


def _default_index(sd: Any, kind: Kind) -> int | None:
    """PortAudio's default device of a kind (honouring sd.default.device), or None."""
    try:
        return int(sd.query_devices(kind=kind)["index"])
    except (sd.PortAudioError, RuntimeError, ValueError, KeyError, TypeError):
        return None


def _label(dev: dict[str, Any]) -> str:
    return f"{dev['index']} {dev['name']!r} ({dev['hostapi']})"


def _listing(devices: list[dict[str, Any]], kind: Kind | None = None) -> str:
    """'0 'system' (JACK), 3 'USB' (ALSA)' for error messages (devices of a kind if given)."""
    if kind is not None:
        devices = [d for d in devices if d[_channels_key(kind)] > 0]
    if not devices:
        return "none"
    return ", ".join(_label(d) for d in devices)


def resolve(spec: int | str | None, kind: Kind) -> int | None:
    """Turn a user's device spec into a PortAudio device index, the way sounddevice does.

    ``spec`` is an index (int or a string of digits), or a case-insensitive substring of the
    device name (also matched against "name, host API" so ``"system, jack"`` works). Only
    devices with channels of ``kind`` are candidates; an exact name match wins over substring
    matches. ``None`` (or an empty string) gives the default device of that kind, the first
    device of that kind when PortAudio names no default, or None when there is none.
    Raises :class:`DeviceError` for unknown indices, no match, or several matches.
    """
    kind = _check_kind(kind)
    devices = query()
    key = _channels_key(kind)
    usable = [d for d in devices if d[key] > 0]
    if isinstance(spec, str) and not spec.strip():
        spec = None
    if spec is None:
        for dev in usable:
            if dev[f"default_{kind}"]:
                return int(dev["index"])
        return int(usable[0]["index"]) if usable else None

    if isinstance(spec, bool) or not isinstance(spec, (numbers.Integral, str)):
        raise DeviceError(f"{kind} device must be an index or a name, not {spec!r}")
    if isinstance(spec, numbers.Integral):
        spec = int(spec)
    elif spec.strip().lstrip("+-").isdigit():
        spec = int(spec.strip())
    if not devices:
        raise DeviceError(f"{kind} device {spec!r} not found: {NO_DEVICES}")

    if isinstance(spec, int):
        match = [d for d in devices if d["index"] == spec]
        if not match:
            raise DeviceError(f"{kind} device {spec} does not exist (devices: {_listing(devices)})")
        dev = match[0]
        if dev[key] < 1:
            raise DeviceError(
                f"device {_label(dev)} has no {kind} channels "
                f"({kind} devices: {_listing(devices, kind)})"
            )
        return spec

    needle = spec.strip().lower()
    exact = [d for d in usable if d["name"].lower() == needle]
    if len(exact) == 1:
        return int(exact[0]["index"])
    found = exact or [d for d in usable if needle in d["name"].lower()]
    if not found:
        found = [d for d in usable if needle in f"{d['name']}, {d['hostapi']}".lower()]
    if len(found) == 1:
        return int(found[0]["index"])
    if found:
        raise DeviceError(
            f"{kind} device {spec!r} is ambiguous, it matches {_listing(found)} "
            "(give the index, or add the host API: 'name, host API')"
        )
    raise DeviceError(
        f"no {kind} device matches {spec!r} ({kind} devices: {_listing(devices, kind)})"
    )


def check(
    input_device: int | None,
    output_device: int | None,
    samplerate: float,
    channels: int,
    blocksize: int,
) -> None:
    """Check that the devices accept these settings before a stream is opened.

    ``input_device``/``output_device`` are indices from :func:`resolve`; None skips that
    side (a file or demo source needs no input), but at least one must be given. Returns
    None, or raises :class:`DeviceError` with a message like
    ``output device 3 ('system') does not support 44100 Hz``.
    """
    if isinstance(samplerate, bool) or not isinstance(samplerate, numbers.Real):
        raise DeviceError(f"sample rate must be a number of Hz, not {samplerate!r}")
    if not math.isfinite(samplerate) or samplerate <= 0:
        raise DeviceError(f"sample rate must be positive, not {samplerate}")
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 1:
        raise DeviceError(f"channel count must be a whole number >= 1, not {channels!r}")
    if (
        isinstance(blocksize, bool)
        or not isinstance(blocksize, numbers.Integral)
        or not 0 <= blocksize <= MAX_BLOCKSIZE
    ):
        raise DeviceError(
            f"block size must be a whole number from 0 (automatic) to {MAX_BLOCKSIZE}, "
            f"not {blocksize!r}"
        )
    devices = {d["index"]: d for d in query()}
    if not devices:
        raise DeviceError(NO_DEVICES)
    if input_device is None and output_device is None:
        raise DeviceError("no input or output device to check")
    sd = _sounddevice()
    rate = f"{samplerate:g} Hz"
    for kind, index in (("input", input_device), ("output", output_device)):
        if index is None:
            continue
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise DeviceError(f"{kind} device must be an index from resolve(), not {index!r}")
        index = int(index)
        dev = devices.get(index)
        if dev is None:
            listing = _listing(list(devices.values()), kind)
            raise DeviceError(f"{kind} device {index} does not exist ({kind} devices: {listing})")
        name = f"{kind} device {index} ({dev['name']!r})"
        most = dev[_channels_key(kind)]
        if most < 1:
            raise DeviceError(f"{name} has no {kind} channels")
        if channels > most:
            raise DeviceError(
                f"{name} does not support {channels} channels (it has at most {most})"
            )
        checker = sd.check_input_settings if kind == "input" else sd.check_output_settings
        try:
            checker(device=index, channels=channels, dtype="float32", samplerate=samplerate)
        except sd.PortAudioError as exc:
            code = exc.args[1] if len(exc.args) > 1 else None
            text = one_line(exc.args[0] if exc.args else exc)
            if code == _PA_INVALID_SAMPLE_RATE or "sample rate" in text.lower():
                raise DeviceError(f"{name} does not support {rate}") from None
            if code == _PA_INVALID_CHANNEL_COUNT or "number of channels" in text.lower():
                raise DeviceError(f"{name} does not support {channels} channels") from None
            if code == _PA_SAMPLE_FORMAT_NOT_SUPPORTED:
                raise DeviceError(f"{name} does not support 32-bit float samples") from None
            raise DeviceError(f"{name} rejects {rate}, {channels} channels: {text}") from None
        except ValueError as exc:  # sounddevice's own argument checks
            raise DeviceError(f"{name}: {one_line(exc)}") from None


def host_api_name(device_index: int) -> str:
    """The name of the host API (ALSA, JACK Audio Connection Kit, ...) a device belongs to."""
    for dev in query():
        if dev["index"] == device_index:
            return str(dev["hostapi"])
    raise DeviceError(f"device {device_index!r} does not exist")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(devices: list[dict[str, Any]]) -> str:
    """A plain-text table of devices (at most 80 columns) for ``floweq-tui devices``.

    The first column marks PortAudio's defaults: ``>`` input, ``<`` output, ``*`` both.
    With no devices it is the one-line :data:`NO_DEVICES` message.
    """
    if not devices:
        return NO_DEVICES
    name_w, api_w = 34, 12
    lines = [
        f"    {'#':>3}  {'name':<{name_w}}  {'host API':<{api_w}}  "
        f"{'in':>3} {'out':>3}  {'rate':>6}"
    ]
    for d in devices:
        is_in, is_out = bool(d.get("default_input")), bool(d.get("default_output"))
        mark = "*" if is_in and is_out else ">" if is_in else "<" if is_out else " "
        api = _SHORT_HOSTAPI.get(str(d["hostapi"]), str(d["hostapi"]))
        rate = d.get("default_samplerate") or 0
        lines.append(
            f"  {mark} {d['index']:>3}  {_fit(str(d['name']), name_w):<{name_w}}  "
            f"{_fit(api, api_w):<{api_w}}  {d['max_input_channels']:>3} "
            f"{d['max_output_channels']:>3}  {rate:>6.0f}".rstrip()
        )
    lines.append("  (> default input, < default output, * both)")
    return "\n".join(lines)
