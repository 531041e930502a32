"""Preset files: round trip, atomic writes, line-numbered errors, bad files skipped, untouched."""

from __future__ import annotations

import pytest

from floweq_tui import presets
from floweq_tui.controls import CONTROL_SPECS, MOD_TARGETS, MODES
from floweq_tui.presets import Preset, PresetError
from floweq_tui.vae import core_models

MODELS = core_models()


def _controls(**over: float) -> dict[str, float]:
    c = {s.name: float(s.default) for s in CONTROL_SPECS}
    c.update(over)
    return c


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path / "floweq-tui" / "presets"


def test_round_trip_keeps_the_sound_and_the_scene(store) -> None:
    c = _controls(
        mode=1.0, model=5.0, anchor_a=0.0, anchor_b=4.0, interpolate=0.4, x=0.25, p0=-3.5,
        p1=120.0, active2=0.0, strength=0.8, out_gain=-2.0, auto_gain=1.0, lfo1_on=1.0,
        lfo1_target=3.0, lfo1_shape=2.0, lfo1_depth=-0.3, fig_on=1.0, fig_shape=1.0,
        bypass=1.0, glide_ms=300.0, bpm=90.0,
    )  # fmt: skip
    curve = [1.0] + [200.0] * 12
    p = Preset.from_controls("Warm vocal", c, MODELS.names, MODELS.anchor_labels, curve)
    path = presets.save(p)
    assert path == store / "Warm vocal.toml"
    text = path.read_text()
    assert 'mode = "semantic"' in text and 'anchor_b = "bright"' in text
    assert 'lfo1_target = "interpolate"' in text and "ls_gain = -3.5" in text
    back = presets.load("Warm vocal")
    values, notice = back.to_controls(MODELS.names, MODELS.anchor_labels)
    assert notice == ""
    for k in presets.PRESET_CONTROLS + ("model", "anchor_a", "anchor_b"):
        assert values[k] == pytest.approx(c[k]), k
    # the moment's switches, the glide and the clock are not the sound
    for k in ("bypass", "glide_ms", "bpm", "mute"):
        assert k not in values
    assert back.curve == pytest.approx(tuple(curve))
    assert back.mode == MODES[1]


def test_list_rename_duplicate_delete(store) -> None:
    for name in ("b", "A", "c"):
        presets.save(Preset.from_controls(name, _controls(), [], []))
    assert presets.names() == ["A", "b", "c"]
    presets.rename("c", "d")
    assert presets.names() == ["A", "b", "d"]
    with pytest.raises(PresetError, match="already exists"):
        presets.rename("A", "b")
    copy = presets.duplicate("A")
    assert copy.name == "A 2" and presets.exists("A 2")
    presets.delete("A 2")
    assert presets.names() == ["A", "b", "d"]
    with pytest.raises(PresetError, match="no preset 'zz'"):
        presets.load("zz")
    with pytest.raises(PresetError, match="no preset"):
        presets.delete("zz")


@pytest.mark.parametrize("name", ["", " x", "a/b", ".hidden", "x" * 65, "tab\there"])
def test_bad_names_are_refused(name, store) -> None:
    with pytest.raises(PresetError):
        presets.save(Preset.from_controls(name, _controls(), [], []))


BAD = [
    ('version = 1\nmode = "sideways"\n', 2, "mode must be one of"),
    ("version = 1\n[latent]\nx = 9\n", 3, "x = 9 is outside [-2, 2]"),
    ('version = 1\n[manual]\nls_gain = 1\nls_freq = "high"\n', 4, "ls_freq must be a number"),
    ("version = 1\n\n[gain]\nauto_gain = 1\n", 4, "auto_gain must be true or false"),
    ("version = 1\n[bands]\nactive = [true]\n", 3, "five true/false"),
    ("version = 1\n[automation]\nlfo9_on = true\n", 3, "unknown key 'lfo9_on'"),
    ("version = 1\nfoo = 1\n", 2, "unknown key 'foo'"),
    ("version = 1\n[latent\n", 2, "invalid TOML"),
    ("version = 7\n", 1, "version 7"),
    ("version = 1\n[curve]\nparams = [1, 2]\n", 3, "13 numbers"),
]


@pytest.mark.parametrize(("text", "line", "what"), BAD)
def test_bad_file_is_one_line_with_its_line_number(store, text, line, what) -> None:
    store.mkdir(parents=True)
    path = store / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError) as err:
        presets.load("bad")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: "), msg
    assert what in msg


def test_bad_file_is_reported_skipped_and_never_touched(store) -> None:
    presets.save(Preset.from_controls("good", _controls(), [], []))
    bad = store / "bad.toml"
    bad.write_bytes(b"\xff\xfe not text")
    before = bad.read_bytes()
    found, problems = presets.list_presets()
    assert [p.name for p in found] == ["good"]
    assert len(problems) == 1 and "bad.toml" in problems[0] and "UTF-8" in problems[0]
    with pytest.raises(PresetError):
        presets.save(Preset.from_controls("bad", _controls(), [], []))
    assert bad.read_bytes() == before
    assert sorted(p.name for p in store.iterdir()) == ["bad.toml", "good.toml"]


def test_missing_keys_take_defaults_and_unknown_model_is_a_notice(store) -> None:
    store.mkdir(parents=True)
    (store / "short.toml").write_text('mode = "traverse"\nmodel = "gone"\n[latent]\nx = 1.5\n')
    p = presets.load("short")
    values, notice = p.to_controls(MODELS.names, MODELS.anchor_labels)
    assert values["x"] == 1.5 and values["strength"] == 1.0 and values["lfo1_on"] == 0.0
    assert "model" not in values
    assert "model 'gone' not in this model family" in notice


def test_write_is_atomic(store, monkeypatch) -> None:
    presets.save(Preset.from_controls("keep", _controls(x=1.0), [], []))
    before = (store / "keep.toml").read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("floweq_tui.paths.os.replace", boom)
    with pytest.raises(OSError):
        presets.save(Preset.from_controls("keep", _controls(x=-1.0), [], []))
    assert (store / "keep.toml").read_text() == before
    assert sorted(p.name for p in store.iterdir()) == ["keep.toml"]


def test_a_scene_keeps_its_path_and_recording(store) -> None:
    """The automation issue's paths and recordings belong to a preset (it is a scene then):
    saved and loaded as they were; an armed or running take is not."""
    controls = {s.name: float(s.default) for s in CONTROL_SPECS}
    controls.update(
        path_on=1.0, path_n=2.0, path_wp0_x=-1.5, path_wp1_y=1.25, rec_play=1.0, rec_n=2.0,
        rec_target=float(MOD_TARGETS.index("path_pos")), rec_v0=0.25, rec_v1=0.75,
        rec_beats=8.0, rec_arm=1.0,
    )  # fmt: skip
    p = presets.Preset.from_controls("superknob", controls, ["m"], ["warm", "bright"])
    presets.save(p, store)
    text = (store / "superknob.toml").read_text()
    assert 'rec_target = "path_pos"' in text and "rec_arm" not in text
    back = presets.load("superknob", store)
    for k in ("path_on", "path_n", "path_wp0_x", "path_wp1_y", "rec_play", "rec_n", "rec_v0",
              "rec_v1", "rec_beats", "rec_target"):  # fmt: skip
        assert back.values[k] == controls[k], k
    assert "rec_arm" not in back.values
