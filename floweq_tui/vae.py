"""Load the shipped beta-VAE family with NumPy only, and a NumPy reference decoder/encoder.

Weights live in one ``.npz`` per model (float32, torch Linear layout, read with
``allow_pickle=False``) plus one ``manifest.json`` that records shapes and the sha256 of every
file. Anything missing, truncated or tampered with raises :class:`ModelError` with one line.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .params import N_PARAMS, denormalize, normalize, sort_bands

MANIFEST = "manifest.json"
FORMAT = "floweq-tui-models"
FORMAT_VERSION = 1
HIDDEN = 1024
WEIGHT_NAMES = (
    "enc_w1", "enc_b1", "enc_mu_w", "enc_mu_b", "enc_logvar_w", "enc_logvar_b",
    "dec_w1", "dec_b1", "dec_w2", "dec_b2",
)  # fmt: skip


class ModelError(ValueError):
    """A model file or the manifest is missing, unreadable, truncated or does not match."""


def expected_shapes(latent: int, hidden: int = HIDDEN) -> dict[str, tuple[int, ...]]:
    """Shapes of every weight array of a model with the given latent size (torch layout)."""
    return {
        "enc_w1": (hidden, N_PARAMS), "enc_b1": (hidden,),
        "enc_mu_w": (latent, hidden), "enc_mu_b": (latent,),
        "enc_logvar_w": (latent, hidden), "enc_logvar_b": (latent,),
        "dec_w1": (hidden, latent), "dec_b1": (hidden,),
        "dec_w2": (N_PARAMS, hidden), "dec_b2": (N_PARAMS,),
    }  # fmt: skip


def model_name(latent: int, beta: float) -> str:
    """Canonical model name, also the stem of its file: vae_d2_b0.001."""
    return f"vae_d{latent}_b{beta:g}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Anchor:
    """A semantic code: where a descriptor (at an intensity) sits in one model's latent space."""

    descriptor: str
    intensity: int
    """0 = all examples of the descriptor; 1, 2, 3 = terciles of distance from flat."""
    count: int
    z: tuple[float, ...]
    corr: float
    """Correlation of the decoded anchor curve with the mean dataset curve it stands for."""

    @property
    def label(self) -> str:
        return self.descriptor if self.intensity == 0 else f"{self.descriptor} {self.intensity}"


def _sigmoid(v: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


@dataclass
class Model:
    """One trained model: NumPy reference decoder/encoder, anchors and recorded metadata."""

    name: str
    latent: int
    beta: float
    weights: dict[str, NDArray[np.float32]]
    anchors: list[Anchor] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _core: Any = field(default=None, repr=False)
    _w64: dict[str, NDArray[np.float64]] = field(default_factory=dict, repr=False)

    def _w(self, key: str) -> NDArray[np.float64]:
        """float64 copy of a weight, transposed for ``x @ W`` (made once, on first use)."""
        arr = self._w64.get(key)
        if arr is None:
            src = self.weights[key]
            arr = np.ascontiguousarray(src.T if src.ndim == 2 else src, dtype=np.float64)
            self._w64[key] = arr
        return arr

    def decode_normalized(self, z: ArrayLike) -> NDArray[np.float64]:
        """Latent code(s) (..., d) -> normalised parameters (..., 13) in [0, 1] (float64)."""
        zz = np.asarray(z, dtype=np.float64)
        if zz.shape[-1:] != (self.latent,):
            raise ValueError(f"{self.name} takes {self.latent} latent values, got shape {zz.shape}")
        h = np.maximum(zz @ self._w("dec_w1") + self._w("dec_b1"), 0.0)
        return np.clip(_sigmoid(h @ self._w("dec_w2") + self._w("dec_b2")), 0.0, 1.0)

    def decode(self, z: ArrayLike) -> NDArray[np.float64]:
        """Latent code(s) (..., d) -> the 13 parameters in their units, always inside range."""
        return denormalize(self.decode_normalized(z))

    def encode_normalized(self, x: ArrayLike) -> NDArray[np.float64]:
        """Normalised parameters (..., 13) -> latent mean mu (..., d)."""
        xx = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        h = np.maximum(xx @ self._w("enc_w1") + self._w("enc_b1"), 0.0)
        return h @ self._w("enc_mu_w") + self._w("enc_mu_b")

    def encode(self, params: ArrayLike) -> NDArray[np.float64]:
        """13 parameters in their units (..., 13) -> latent mean mu (..., d).

        Middle bands are sorted first, as in training, so any band order gives the same code.
        """
        return self.encode_normalized(normalize(sort_bands(params)))

    def anchor(self, descriptor: str, intensity: int = 0) -> Anchor:
        """The anchor for a descriptor and intensity; KeyError if this model has none."""
        for a in self.anchors:
            if a.descriptor == descriptor and a.intensity == intensity:
                return a
        raise KeyError(f"{self.name} has no anchor {descriptor!r} at intensity {intensity}")

    def core_decoder(self) -> Any:
        """The Cython decoder (floweq_tui._dsp.Decoder) fed with these weights, built once."""
        if self._core is None:
            from ._dsp import Decoder  # compiled extension, imported only when needed

            w = self.weights
            self._core = Decoder(
                *(np.ascontiguousarray(w[k], dtype=np.float32) for k in
                  ("dec_w1", "dec_b1", "dec_w2", "dec_b2"))
            )  # fmt: skip
        return self._core


@dataclass
class Family:
    """All shipped models plus the manifest they came from."""

    models: dict[str, Model]
    manifest: dict[str, Any]
    path: Path
    problems: list[str] = field(default_factory=list)
    """One line per model left out because its file was bad (``strict=False`` loading)."""

    def __getitem__(self, name: str) -> Model:
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"no model {name!r}; have {', '.join(self.models)}") from None

    def __iter__(self):
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def get(self, latent: int, beta: float) -> Model:
        """The model with this latent size and beta."""
        return self[model_name(latent, beta)]

    @property
    def default_name(self) -> str:
        """The manifest's default model (which may have been left out as bad)."""
        return str(self.manifest.get("default", model_name(2, 0.001)))

    @property
    def default(self) -> Model:
        """The default model, or the first usable one if it was left out as bad."""
        return self.models.get(self.default_name) or next(iter(self.models.values()))


def default_path() -> Path:
    """Where the shipped models are: installed package data, else the repo's models/ dir."""
    try:
        res = resources.files("floweq_tui.models")
        cand = Path(str(res))
        if (cand / MANIFEST).is_file():
            return cand
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[1] / "models"


def _load_weights(path: Path, entry: dict[str, Any]) -> dict[str, NDArray[np.float32]]:
    name = path.name
    if not path.is_file():
        raise ModelError(f"model file missing: {path}")
    data = path.read_bytes()
    if "bytes" in entry and len(data) != entry["bytes"]:
        raise ModelError(
            f"model file {name} is {len(data)} bytes, manifest says {entry['bytes']} (truncated?)"
        )
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ModelError(f"model file {name} does not match its sha256 in the manifest")
    latent = int(entry["latent"])
    want = expected_shapes(latent)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if keys != set(WEIGHT_NAMES):
                raise ModelError(f"model file {name} has arrays {sorted(keys)}, expected the 10")
            out = {k: npz[k] for k in WEIGHT_NAMES}
    except ModelError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"model file {name} cannot be read: {exc}") from None
    for k, arr in out.items():
        if arr.dtype != np.float32:
            raise ModelError(f"model file {name}: {k} is {arr.dtype}, expected float32")
        if arr.shape != want[k]:
            raise ModelError(f"model file {name}: {k} has shape {arr.shape}, expected {want[k]}")
        if not np.isfinite(arr).all():
            raise ModelError(f"model file {name}: {k} has non-finite values")
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    """Parse and sanity-check manifest.json in a models directory."""
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ModelError(f"no {MANIFEST} in {path}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mpath} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{mpath} is not a floweq-tui model manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise ModelError(f"{mpath} has format version {manifest.get('version')}, need 1")
    if not isinstance(manifest.get("models"), list) or not manifest["models"]:
        raise ModelError(f"{mpath} lists no models")
    return manifest


def load_family(path: str | Path | None = None, strict: bool = True) -> Family:
    """Load and validate every model listed in the manifest (NumPy only).

    ``strict``: any bad model file raises :class:`ModelError`. Otherwise a bad model is left
    out and named in ``Family.problems`` (the others still load); a bad manifest, or no
    usable model at all, still raises.
    """
    root = Path(path) if path is not None else default_path()
    manifest = read_manifest(root)
    models: dict[str, Model] = {}
    problems: list[str] = []
    for entry in manifest["models"]:
        try:
            name, model = _load_model(root, entry)
        except ModelError as exc:
            if strict:
                raise
            problems.append(str(exc))
            continue
        models[name] = model
    if not models:
        raise ModelError(f"no usable model in {root}: {problems[0] if problems else 'none'}")
    return Family(models, manifest, root, problems)


def _load_model(root: Path, entry: Any) -> tuple[str, Model]:
    """One manifest entry -> (name, Model), or ModelError with one line naming the file."""
    try:
        name, file, latent, beta = entry["name"], entry["file"], entry["latent"], entry["beta"]
    except (KeyError, TypeError):
        raise ModelError(f"{root / MANIFEST}: a model entry lacks name/file/latent/beta") from None
    if Path(file).name != file:
        raise ModelError(f"{root / MANIFEST}: model file name {file!r} must be a plain name")
    weights = _load_weights(root / file, entry)
    try:
        anchors = [
            Anchor(a["descriptor"], int(a["intensity"]), int(a["count"]),
                   tuple(float(v) for v in a["z"]), float(a.get("corr", float("nan"))))
            for a in entry.get("anchors", [])
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{root / MANIFEST}: an anchor of {name} is malformed") from None
    model = Model(
        name=name,
        latent=int(latent),
        beta=float(beta),
        weights=weights,
        anchors=anchors,
        metrics=dict(entry.get("metrics", {})),
        meta={k: v for k, v in entry.items() if k not in ("anchors", "metrics")},
    )
    return name, model


def default_model(path: str | Path | None = None) -> Model:
    """The default model (d=2, beta=0.001 unless the manifest says otherwise)."""
    return load_family(path).default


# ===================================================================== the core's view


@dataclass
class CoreModels:
    """The model family as the processor needs it: C decoders and anchor codes, in order."""

    decoders: list[Any] = field(default_factory=list)
    anchors: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    anchor_labels: list[str] = field(default_factory=list)
    default_index: int = 0
    default_name: str = ""
    """The manifest's default (it may be missing from ``names`` if its file was bad)."""

    @property
    def default_anchors(self) -> dict[str, float]:
        """anchor_a and anchor_b of the default Semantic pair (warm -> bright)."""
        a, b = default_anchor_pair(self.anchor_labels)
        return {"anchor_a": float(a), "anchor_b": float(b)}

    error: str = ""
    """One line for the user when any model could not be loaded ("" when all loaded)."""
    problems: list[str] = field(default_factory=list)
    """One line per model left out."""


DEFAULT_PAIR = ("warm", "bright")
"""The default Semantic pair (as the flowEQ plugin's): from warm to bright."""


def default_anchor_pair(labels: list[str]) -> tuple[int, int]:
    """Indices of the default anchors A and B among ``labels``: warm -> bright, or else the
    first label and the first one of another descriptor (never the same descriptor twice)."""
    if not labels:
        return 0, 1
    a = labels.index(DEFAULT_PAIR[0]) if DEFAULT_PAIR[0] in labels else 0
    if DEFAULT_PAIR[1] in labels and labels.index(DEFAULT_PAIR[1]) != a:
        return a, labels.index(DEFAULT_PAIR[1])
    first = labels[a].split()[0]
    other = [i for i, label in enumerate(labels) if label.split()[0] != first]
    return a, (other[0] if other else min(1, len(labels) - 1))


def core_models(path: str | Path | None = None) -> CoreModels:
    """Load the shipped (or given) family for the processor (engine and render); never raises.

    Without models, Traverse and Semantic act as Manual, and ``error`` says why.
    """
    out = CoreModels()
    try:
        family = load_family(path, strict=False)
        for m in family:
            out.decoders.append(m.core_decoder())
            z = np.array([a.z for a in m.anchors], dtype=np.float64).reshape(-1, m.latent)
            out.anchors.append(z)
            out.names.append(m.name)
        out.anchor_labels = [a.label for a in next(iter(family)).anchors]
        out.default_name = family.default_name
        out.default_index = out.names.index(family.default.name)
        out.problems = list(family.problems)
        if out.problems:
            more = f" (+{len(out.problems) - 1} more)" if len(out.problems) > 1 else ""
            out.error = f"model left out: {out.problems[0]}{more}"
    except Exception as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__  # one line
        out = CoreModels(error=f"models not loaded ({why}); traverse/semantic act as manual")
    return out
