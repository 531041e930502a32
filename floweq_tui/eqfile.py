"""Parametric EQ files of other programs: write our five bands for them, read theirs back.

Formats (docs/presets.md, "Export and import", says where each definition comes from):

* ``apo``: AutoEq ``ParametricEQ.txt`` / Equalizer APO (``Preamp:`` and ``Filter N: ON PK|LSC|HSC
  Fc F Hz Gain G dB Q Q`` lines); PipeWire's ``param_eq`` reads the same file;
* ``camilladsp``: a CamillaDSP config (a Gain and ``Biquad`` filters, one pipeline step);
* ``pipewire``: a PipeWire filter-chain snippet with a ``param_eq`` node and ``filters = [...]``;
* ``easyeffects``: an EasyEffects preset with its equalizer (LSP bands in ``APO (DR)`` mode).

Our bands are RBJ cookbook biquads as JUCE designs them (eqmath.py): peaks with Q, shelves
with Q (0.71) and the corner frequency f0 of the cookbook (where the shelf has half its dB
gain). APO's PK/LSC/HSC with Q, AutoEq's filters, CamillaDSP's Peaking/Lowshelf/Highshelf with
``q``, PipeWire's bq_peaking/bq_lowshelf/bq_highshelf and LSP's ``APO (DR)`` bands are the same
cookbook designs with the same meaning of f0 and Q, so a band is written as it is. What
differs is read back by conversion: APO's LS/HS (a fixed slope 0.9, or with Q or a slope a
frequency that is moved to the cookbook's f0) and slopes in dB (S = slope / 12).

Every export carries a preamp equal to the peak of the whole curve (all bands, DC to
Nyquist) so it never clips, and only the bands in effect (band switches, strength applied).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .eqmath import (
    KIND_HIGHSHELF,
    KIND_LOWSHELF,
    KIND_PEAK,
    clamp_freq,
    design_band,
    log_grid,
    sos_response,
)
from .params import (
    FREQ_INDEX,
    GAIN_INDEX,
    MAXS,
    MINS,
    N_BANDS,
    N_PARAMS,
    Q_INDEX,
    SHELF_Q,
    apply_strength,
)

FORMATS: dict[str, str] = {
    "apo": "AutoEq ParametricEQ.txt / Equalizer APO (also PipeWire param_eq's filename)",
    "camilladsp": "CamillaDSP config (YAML: Gain + Biquad filters, pipeline)",
    "pipewire": "PipeWire filter-chain snippet (param_eq with filters = [...])",
    "easyeffects": "EasyEffects preset (JSON, equalizer in APO (DR) mode)",
}
SUFFIXES = {"apo": ".txt", "camilladsp": ".yml", "pipewire": ".conf", "easyeffects": ".json"}
KINDS = ("LSC", "PK", "HSC")
_KIND_CODE = {"LSC": KIND_LOWSHELF, "PK": KIND_PEAK, "HSC": KIND_HIGHSHELF}
_BAND_KIND = ("LSC", "PK", "PK", "PK", "HSC")
APO_DEFAULT_SHELF_SLOPE = 0.9
"""Equalizer APO's slope S for LS/HS lines without Q or slope."""


class EqFileError(ValueError):
    """A file that cannot be read: one line, with the line number where there is one."""


@dataclass(frozen=True)
class Filter:
    """One cookbook biquad: kind (LSC, PK, HSC), f0 in Hz, gain in dB, Q."""

    kind: str
    freq: float
    gain: float
    q: float


@dataclass
class EqCurve:
    """A preamp (dB) and a list of filters: what every format holds."""

    filters: list[Filter] = field(default_factory=list)
    preamp: float = 0.0


# ------------------------------------------------------------------ our bands -> filters


def filters_from_params(
    params: ArrayLike, active: ArrayLike | None = None, strength: float = 1.0
) -> list[Filter]:
    """The bands in effect as filters: switched-off bands left out, gains times strength."""
    p = apply_strength(np.asarray(params, dtype=np.float64), strength)
    if p.shape != (N_PARAMS,):
        raise ValueError(f"expected {N_PARAMS} parameters, got shape {p.shape}")
    on = np.ones(N_BANDS, bool) if active is None else np.asarray(active, dtype=bool)
    out = []
    for b in range(N_BANDS):
        if not on[b]:
            continue
        qi = Q_INDEX[b]
        q = SHELF_Q if qi is None else float(p[qi])
        out.append(Filter(_BAND_KIND[b], float(p[FREQ_INDEX[b]]), float(p[GAIN_INDEX[b]]), q))
    return out


def filters_sos(filters: list[Filter], samplerate: float) -> NDArray[np.float64]:
    """(n, 6) SOS rows of the filters, designed exactly as our cascade designs its bands."""
    if not filters:
        return np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
    return np.stack(
        [design_band(_KIND_CODE[f.kind], f.gain, f.freq, f.q, samplerate) for f in filters]
    )


def response_db(filters: list[Filter], freqs: ArrayLike, samplerate: float) -> NDArray[np.float64]:
    """Magnitude of all filters together in dB at ``freqs`` (no preamp)."""
    h = sos_response(filters_sos(filters, samplerate), freqs, samplerate)
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-12)).sum(axis=0)


def peak_db(filters: list[Filter], samplerate: float) -> float:
    """The highest point of the whole curve from DC to Nyquist, in dB (0 for a cut-only curve)."""
    grid = np.concatenate([[0.0], np.geomspace(1.0, samplerate / 2.0, 8192)])
    return max(0.0, float(response_db(filters, grid, samplerate).max()))


def preamp_for(filters: list[Filter], samplerate: float, decimals: int = 2) -> float:
    """The preamp that keeps the curve at or below 0 dB, rounded down to ``decimals``."""
    scale = 10.0**decimals
    return -math.ceil(peak_db(filters, samplerate) * scale - 1e-9) / scale


def curve_for(
    params: ArrayLike, active: ArrayLike | None, strength: float, samplerate: float
) -> EqCurve:
    """The export of one EQ state: filters in effect (frequencies clamped as we design them)."""
    fs = float(samplerate)
    filters = [
        Filter(f.kind, float(clamp_freq(f.freq, fs)), f.gain, f.q)
        for f in filters_from_params(params, active, strength)
    ]
    return EqCurve(filters, preamp_for(filters, fs, 1))


# ----------------------------------------------------------------------------- writing


def _num(v: float, decimals: int) -> str:
    s = f"{v:.{decimals}f}"
    return "0" + s[2:] if s.startswith("-0") and float(s) == 0 else s


def write_apo(curve: EqCurve) -> str:
    """AutoEq / Equalizer APO text. Frequencies have two decimals at most (APO reads a value
    like ``1.234`` with three as thousands, a Room EQ Wizard habit)."""
    lines = [f"Preamp: {_num(curve.preamp, 1)} dB"]
    for i, f in enumerate(curve.filters, 1):
        lines.append(
            f"Filter {i}: ON {f.kind} Fc {_num(f.freq, 2)} Hz Gain {_num(f.gain, 2)} dB "
            f"Q {_num(f.q, 3)}"
        )
    return "\n".join(lines) + "\n"


_CAMILLA_TYPES = {"LSC": "Lowshelf", "PK": "Peaking", "HSC": "Highshelf"}


def write_camilladsp(curve: EqCurve, samplerate: float, channels: int = 2) -> str:
    """A complete CamillaDSP 3.x config (a pipeline step names its channels); replace the
    devices with your own."""
    ch = ", ".join(str(c) for c in range(channels))
    names = ["preamp"] + [f"band{i + 1}" for i in range(len(curve.filters))]
    out = [
        "# floweq-tui export for CamillaDSP (https://github.com/HEnquist/camilladsp).",
        "# Replace the devices section with your own capture and playback devices.",
        "devices:",
        f"  samplerate: {int(samplerate)}",
        "  chunksize: 1024",
        "  capture:",
        "    type: Stdin",
        f"    channels: {channels}",
        "    format: S32_LE",
        "  playback:",
        "    type: Stdout",
        f"    channels: {channels}",
        "    format: S32_LE",
        "filters:",
        "  preamp:",
        "    type: Gain",
        "    parameters:",
        f"      gain: {_num(curve.preamp, 2)}",
    ]
    for name, f in zip(names[1:], curve.filters, strict=True):
        out += [
            f"  {name}:",
            "    type: Biquad",
            "    parameters:",
            f"      type: {_CAMILLA_TYPES[f.kind]}",
            f"      freq: {_num(f.freq, 2)}",
            f"      gain: {_num(f.gain, 2)}",
            f"      q: {_num(f.q, 3)}",
        ]
    out += [
        "pipeline:",
        "  - type: Filter",
        f"    channels: [{ch}]",
        f"    names: [{', '.join(names)}]",
    ]
    return "\n".join(out) + "\n"


_PW_TYPES = {"LSC": "bq_lowshelf", "PK": "bq_peaking", "HSC": "bq_highshelf"}


def write_pipewire(curve: EqCurve, channels: int = 2) -> str:
    """A drop-in for ~/.config/pipewire/pipewire.conf.d/: a filter-chain sink with param_eq.

    The preamp is a high shelf at 0 Hz (a plain gain), as PipeWire's own parser of APO files
    writes it."""
    pos = " ".join(["FL", "FR", "FC", "LFE", "RL", "RR", "SL", "SR"][:channels])
    rows = [f"{{ type = bq_highshelf, freq = 0, gain = {_num(curve.preamp, 2)}, q = 1.0 }}"]
    rows += [
        f"{{ type = {_PW_TYPES[f.kind]}, freq = {_num(f.freq, 2)}, gain = {_num(f.gain, 2)}, "
        f"q = {_num(f.q, 3)} }}"
        for f in curve.filters
    ]
    filters = "\n".join(f"                            {r}" for r in rows)
    return f"""# floweq-tui export: a PipeWire filter-chain sink "floweq-tui EQ".
# Put it in ~/.config/pipewire/pipewire.conf.d/ and restart PipeWire.
context.modules = [
    {{ name = libpipewire-module-filter-chain
        args = {{
            node.description = "floweq-tui EQ"
            media.name = "floweq-tui EQ"
            filter.graph = {{
                nodes = [
                    {{
                        type = builtin
                        name = eq
                        label = param_eq
                        config = {{
                            filters = [
{filters}
                            ]
                        }}
                    }}
                ]
            }}
            audio.channels = {channels}
            audio.position = [ {pos} ]
            capture.props = {{
                node.name = "effect_input.floweq_tui"
                media.class = Audio/Sink
            }}
            playback.props = {{
                node.name = "effect_output.floweq_tui"
                node.passive = true
            }}
        }}
    }}
]
"""


_EE_TYPES = {"LSC": "Lo-shelf", "PK": "Bell", "HSC": "Hi-shelf"}


def write_easyeffects(curve: EqCurve) -> str:
    """An EasyEffects (7.x) output preset holding one equalizer; bands in LSP's APO (DR) mode,
    which designs APO's (cookbook) filters."""
    bands = {
        f"band{i}": {
            "frequency": round(f.freq, 2),
            "gain": round(f.gain, 2),
            "mode": "APO (DR)",
            "mute": False,
            "q": round(f.q, 3),
            "slope": "x1",
            "solo": False,
            "type": _EE_TYPES[f.kind],
            "width": 4.0,
        }
        for i, f in enumerate(curve.filters)
    }
    eq = {
        "balance": 0.0,
        "bypass": False,
        "input-gain": round(curve.preamp, 2),
        "left": bands,
        "mode": "IIR",
        "num-bands": max(len(bands), 1),
        "output-gain": 0.0,
        "pitch-left": 0.0,
        "pitch-right": 0.0,
        "right": bands,
        "split-channels": False,
    }
    doc = {"output": {"blocklist": [], "equalizer#0": eq, "plugins_order": ["equalizer#0"]}}
    return json.dumps(doc, indent=4) + "\n"


def export_text(fmt: str, curve: EqCurve, samplerate: float, channels: int = 2) -> str:
    """The file text of ``curve`` in one of :data:`FORMATS`."""
    if fmt == "apo":
        return write_apo(curve)
    if fmt == "camilladsp":
        return write_camilladsp(curve, samplerate, channels)
    if fmt == "pipewire":
        return write_pipewire(curve, channels)
    if fmt == "easyeffects":
        return write_easyeffects(curve)
    raise ValueError(f"unknown format {fmt!r} (have: {', '.join(FORMATS)})")


# ----------------------------------------------------------------------------- reading


def shelf_q_from_slope(slope: float, gain: float) -> float:
    """The cookbook's shelf slope S (1 = steepest without overshoot) as a Q at this gain."""
    a = 10.0 ** (gain / 40.0)
    rad = (a + 1.0 / a) * (1.0 / slope - 1.0) + 2.0
    if not rad > 0.0:
        raise ValueError(f"shelf slope {slope:g} is too steep for {gain:g} dB")
    return 1.0 / math.sqrt(rad)


def apo_corner_to_center(kind: str, freq: float, gain: float, q: float) -> float:
    """APO's LS/HS with Q or slope: its frequency is moved to the cookbook's f0 (APO's BiQuad
    does the same: factor 10^(|gain| / 80 / S), S from Q at this gain)."""
    a = 10.0 ** (gain / 40.0)
    denom = (1.0 / (q * q) - 2.0) / (a + 1.0 / a) + 1.0
    if not denom > 0.0:
        raise ValueError(f"shelf Q {q:g} is out of range for {gain:g} dB")
    slope = 1.0 / denom
    factor = 10.0 ** (abs(gain) / 80.0 / slope)
    return freq * factor if kind == "LSC" else freq / factor


_NUM = r"([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)"
_RE_PREAMP = re.compile(r"^\s*Preamp\s*:\s*" + _NUM + r"\s*dB\s*$", re.I)
_RE_FILTER = re.compile(r"^\s*Filter\s*\d*\s*:\s*(ON|OFF)\s+(\S+)(.*)$", re.I)
_RE_FC = re.compile(r"\bFc\s+" + _NUM + r"\s*Hz", re.I)
_RE_GAIN = re.compile(r"\bGain\s+" + _NUM + r"\s*dB", re.I)
_RE_Q = re.compile(r"\bQ\s+" + _NUM, re.I)
_RE_SLOPE = re.compile(r"^\s*" + _NUM + r"\s*dB\b", re.I)


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_apo(text: str, name: str = "file") -> EqCurve:
    """AutoEq / Equalizer APO parametric text: Preamp, PK, LSC, HSC, LS, HS (ON lines; OFF
    lines, comments and blank lines skipped). Any other line is an error naming its number."""
    curve = EqCurve()
    preamps = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name}:{n}"
        m = _RE_PREAMP.match(line)
        if m:
            curve.preamp += _float(m.group(1))
            preamps += 1
            continue
        m = _RE_FILTER.match(line)
        if not m:
            raise EqFileError(f"{where}: not a Preamp or Filter line: {line[:60]!r}")
        if m.group(1).upper() == "OFF":
            continue
        kind, rest = m.group(2).upper(), m.group(3)
        if kind not in ("PK", "PEQ", "LSC", "HSC", "LS", "HS"):
            raise EqFileError(
                f"{where}: filter type {m.group(2)} is not supported (PK, LSC, HSC, LS, HS)"
            )
        try:
            curve.filters.append(_apo_filter(kind, rest))
        except ValueError as exc:
            raise EqFileError(f"{where}: {exc}") from None
    if not curve.filters and not preamps:
        raise EqFileError(f"{name}: no Preamp or Filter lines")
    return curve


def _apo_filter(kind: str, rest: str) -> Filter:
    fc, gain, q = _RE_FC.search(rest), _RE_GAIN.search(rest), _RE_Q.search(rest)
    slope = _RE_SLOPE.match(rest)
    if fc is None:
        raise ValueError("no frequency (Fc ... Hz)")
    if gain is None:
        raise ValueError("no gain (Gain ... dB)")
    f, g = _float(fc.group(1)), _float(gain.group(1))
    if not (math.isfinite(f) and 0.0 < f <= 96000.0):
        raise ValueError(f"frequency {f:g} Hz is out of range")
    if not (math.isfinite(g) and abs(g) <= 60.0):
        raise ValueError(f"gain {g:g} dB is out of range (+-60)")
    qv = _float(q.group(1)) if q else None
    if qv is not None and not (math.isfinite(qv) and 0.01 <= qv <= 100.0):
        raise ValueError(f"Q {qv:g} is out of range (0.01-100)")
    if kind in ("PK", "PEQ"):
        if qv is None:
            raise ValueError("a PK filter needs a Q")
        return Filter("PK", f, g, qv)
    shelf = "LSC" if kind.startswith("L") else "HSC"
    s = _float(slope.group(1)) / 12.0 if slope else None
    if s is not None and not (math.isfinite(s) and 0.0 < s <= 1.0):
        raise ValueError("shelf slope must be above 0 and at most 12 dB")
    if kind in ("LSC", "HSC"):  # f0 as given; Q, a slope in dB, or S 0.9
        if qv is None:
            qv = shelf_q_from_slope(s if s is not None else APO_DEFAULT_SHELF_SLOPE, g)
        return Filter(shelf, f, g, qv)
    if qv is None and s is None:  # LS/HS alone: S 0.9 at the given frequency
        return Filter(shelf, f, g, shelf_q_from_slope(APO_DEFAULT_SHELF_SLOPE, g))
    if qv is None:
        qv = shelf_q_from_slope(s, g)  # type: ignore[arg-type]
    return Filter(shelf, apo_corner_to_center(shelf, f, g, qv), g, qv)


_RE_PW_ROW = re.compile(r"\{([^{}]*)\}")
_RE_PW_KV = re.compile(r"([A-Za-z_.]+)\s*[=:]\s*(\"[^\"]*\"|[^\s,}]+)")
_PW_KINDS = {v: k for k, v in _PW_TYPES.items()}


def parse_pipewire(text: str, name: str = "file") -> EqCurve:
    """The ``filters = [...]`` of a param_eq node (bq_peaking/lowshelf/highshelf; a high shelf
    at 0 Hz is a preamp)."""
    start = text.find("filters")
    if start < 0:
        raise EqFileError(f"{name}: no param_eq 'filters = [ ... ]'")
    lb = text.find("[", start)
    rb = text.find("]", lb)
    if lb < 0 or rb < 0:
        raise EqFileError(f"{name}:{text.count(chr(10), 0, start) + 1}: unclosed filters list")
    curve = EqCurve()
    for m in _RE_PW_ROW.finditer(text, lb, rb):
        line = text.count("\n", 0, m.start()) + 1
        kv = {k: v.strip('"') for k, v in _RE_PW_KV.findall(m.group(1))}
        try:
            kind = kv["type"]
            freq, gain = float(kv.get("freq", "nan")), float(kv.get("gain", "0"))
            q = float(kv.get("q", kv.get("Q", "0.707")))
        except (KeyError, ValueError):
            raise EqFileError(f"{name}:{line}: a filter needs type, freq, gain and q") from None
        if kind == "bq_highshelf" and freq == 0.0:
            curve.preamp += gain
        elif kind in _PW_KINDS and math.isfinite(freq) and freq > 0:
            curve.filters.append(Filter(_PW_KINDS[kind], freq, gain, q))
        else:
            raise EqFileError(f"{name}:{line}: filter type {kind} at {freq:g} Hz not supported")
    return curve


_EE_KINDS = {v: k for k, v in _EE_TYPES.items()}


def parse_easyeffects(text: str, name: str = "file") -> EqCurve:
    """The (left) bands of the first equalizer in an EasyEffects preset."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EqFileError(f"{name}:{exc.lineno}: not JSON ({exc.msg})") from None
    side = doc.get("output") or doc.get("input") if isinstance(doc, dict) else None
    eq = next((v for k, v in (side or {}).items() if k.startswith("equalizer")), None)
    if not isinstance(eq, dict):
        raise EqFileError(f"{name}: no equalizer in the preset")
    curve = EqCurve(preamp=float(eq.get("input-gain", 0.0)) + float(eq.get("output-gain", 0.0)))
    bands = eq.get("left", {})
    for i in range(int(eq.get("num-bands", len(bands)))):
        b = bands.get(f"band{i}", {})
        if b.get("mute") or b.get("type", "Off") == "Off":
            continue
        if b.get("type") not in _EE_KINDS:
            raise EqFileError(f"{name}: band{i} type {b.get('type')} not supported")
        curve.filters.append(
            Filter(_EE_KINDS[b["type"]], float(b["frequency"]), float(b["gain"]), float(b["q"]))
        )
    return curve


def parse_camilladsp(text: str, name: str = "file") -> EqCurve:
    """The Gain and Biquad (Peaking, Lowshelf, Highshelf with q) filters of the pipeline's
    first Filter step, in order (needs PyYAML)."""
    try:
        import yaml
    except ImportError:
        raise EqFileError(f"{name}: reading CamillaDSP configs needs PyYAML") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise EqFileError(f"{name}{at}: not YAML") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("filters"), dict):
        raise EqFileError(f"{name}: no filters section")
    steps = [
        s for s in doc.get("pipeline") or [] if isinstance(s, dict) and s.get("type") == "Filter"
    ]
    if not steps:
        raise EqFileError(f"{name}: no Filter step in the pipeline")
    types = {v: k for k, v in _CAMILLA_TYPES.items()}
    curve = EqCurve()
    for fname in steps[0].get("names", []):
        spec = doc["filters"].get(fname)
        if not isinstance(spec, dict):
            raise EqFileError(f"{name}: the pipeline names an unknown filter {fname}")
        p = spec.get("parameters") or {}
        if spec.get("type") == "Gain":
            curve.preamp += float(p.get("gain", 0.0))
        elif spec.get("type") == "Biquad" and p.get("type") in types and "q" in p:
            curve.filters.append(
                Filter(types[p["type"]], float(p["freq"]), float(p["gain"]), float(p["q"]))
            )
        else:
            raise EqFileError(f"{name}: filter {fname} is not a Gain or a Biquad with q")
    return curve


def read_curve(path: str | Path) -> EqCurve:
    """Any of our formats, told apart by content; one-line errors."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EqFileError(f"{p}: not a text file") from None
    except OSError as exc:
        raise EqFileError(f"cannot read {p}: {exc.strerror or exc}") from None
    head = text.lstrip()
    if head.startswith("{"):
        return parse_easyeffects(text, p.name)
    if "param_eq" in text or "filter-chain" in text:
        return parse_pipewire(text, p.name)
    if re.search(r"^pipeline\s*:", text, re.M) and re.search(r"^filters\s*:", text, re.M):
        return parse_camilladsp(text, p.name)
    return parse_apo(text, p.name)


# -------------------------------------------------------------------- filters -> five bands


def exact_params(curve: EqCurve) -> tuple[NDArray[np.float64], list[bool]] | None:
    """Our 13 parameters and band switches that give exactly these filters, or None when they
    do not fit (more than one shelf of a kind or three peaks, a shelf Q other than ours, a
    value outside our ranges)."""
    lows = [f for f in curve.filters if f.kind == "LSC"]
    highs = [f for f in curve.filters if f.kind == "HSC"]
    peaks = sorted((f for f in curve.filters if f.kind == "PK"), key=lambda f: f.freq)
    if len(lows) > 1 or len(highs) > 1 or len(peaks) > 3:
        return None
    if any(abs(f.q - SHELF_Q) > 5e-4 for f in lows + highs):
        return None
    from .params import DEFAULTS

    p = DEFAULTS.copy()
    active = [False] * N_BANDS
    slots: list[tuple[int, Filter]] = []
    if lows:
        slots.append((0, lows[0]))
    if highs:
        slots.append((4, highs[0]))
    # peaks into bands 1-3 in frequency order; with fewer than three, any order that fits
    for combo in _peak_slots(len(peaks)):
        trial = slots + list(zip(combo, peaks, strict=True))
        q = p.copy()
        for b, f in trial:
            q[GAIN_INDEX[b]], q[FREQ_INDEX[b]] = f.gain, f.freq
            if Q_INDEX[b] is not None:
                q[Q_INDEX[b]] = f.q  # type: ignore[index]
        if np.all((q >= MINS - 1e-9) & (q <= MAXS + 1e-9)):
            for b, _ in trial:
                active[b] = True
            for b in range(N_BANDS):  # bands without a filter: flat, and switched on
                if not active[b]:
                    q[GAIN_INDEX[b]] = 0.0
                    active[b] = True
            return np.clip(q, MINS, MAXS), active
    return None


def _peak_slots(n: int) -> list[tuple[int, ...]]:
    from itertools import combinations

    return list(combinations((1, 2, 3), n))


def curve_error_db(
    curve: EqCurve, params: ArrayLike, samplerate: float, active: ArrayLike | None = None
) -> float:
    """Largest |difference| in dB between a file's filters and our bands, 20 Hz-20 kHz."""
    from .eqmath import response_db as bands_db

    f = log_grid(512)
    ours = bands_db(np.asarray(params, dtype=np.float64), f, samplerate, active)
    return float(np.max(np.abs(ours - response_db(curve.filters, f, samplerate))))


@dataclass
class ImportResult:
    """A file's curve as our five bands."""

    params: NDArray[np.float64]
    active: list[bool]
    preamp: float
    exact: bool
    max_error_db: float
    n_filters: int


def import_curve(curve: EqCurve, samplerate: float = 48000.0) -> ImportResult:
    """Five or fewer compatible filters load exactly; anything else is fitted into our five
    bands by least squares on the dB curve from 20 Hz to 20 kHz (eqfit)."""
    exact = exact_params(curve)
    if exact is not None:
        params, active = exact
        err = curve_error_db(curve, params, samplerate, active)
        return ImportResult(params, active, curve.preamp, True, err, len(curve.filters))
    from . import eqfit

    freqs = log_grid(512)
    target = response_db(curve.filters, freqs, samplerate)
    fit = eqfit.fit_curve(freqs, target, samplerate)
    params = np.asarray(fit.params, dtype=np.float64)
    err = curve_error_db(curve, params, samplerate)
    return ImportResult(params, [True] * N_BANDS, curve.preamp, False, err, len(curve.filters))
