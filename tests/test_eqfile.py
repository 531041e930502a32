"""Export and import of parametric EQ files (floweq_tui/eqfile.py, `floweq-tui export|import`).

The AutoEq export is read by a real consumer: the `autoeq` package's own filters, in their own
venv (tests/harness/consumers.py). The other formats are read back by our importer (and, for
CamillaDSP, by PyYAML) and must give the same curve.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from harness.consumers import ensure_autoeq

from floweq_tui import eqfile, eqmath
from floweq_tui.cli import main
from floweq_tui.params import apply_strength

CONSUMER = Path(__file__).parent / "harness" / "autoeq_consumer.py"
FS = 48000
GRID = eqmath.log_grid(400)

CASES = {
    "boosts": ([9, 60, 6, 200, 0.3, -5, 1200, 2.5, 8, 5000, 0.7, 10, 12000], None, 1.0),
    "cuts": ([-12, 300, -8, 90, 8, -10, 4000, 0.1, -12, 9000, 10, -12, 700], None, 1.0),
    "strength+switches": (
        [6, 150, -4, 400, 2, 5, 1500, 0.5, -6, 6000, 4, 6, 9000],
        [True, False, True, True, True],
        0.6,
    ),
    "edges": ([12, 22, 12, 3900, 10, 12, 180, 0.1, -12, 10000, 0.1, 12, 20000], None, 1.0),
}


def _ours(params, active, strength, fs=FS):
    p = apply_strength(np.asarray(params, float), strength)
    return eqmath.response_db(p, GRID, fs, active)


@pytest.fixture(scope="module")
def autoeq_python():
    python, why = ensure_autoeq()
    if python is None:
        pytest.skip(why)
    return python


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("case", list(CASES))
def test_autoeq_reads_our_export_as_our_curve(autoeq_python, tmp_path, case, fs):
    params, active, strength = CASES[case]
    curve = eqfile.curve_for(params, active, strength, fs)
    out = tmp_path / "ParametricEQ.txt"
    out.write_text(eqfile.write_apo(curve))
    r = subprocess.run(
        [str(autoeq_python), str(CONSUMER), str(out), str(fs), *map(str, GRID)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    ours = _ours(params, active, strength, fs)
    assert np.max(np.abs(np.array(got["fr"]) - ours)) < 0.1
    # the preamp is the peak of the whole curve (never clips), to the 0.1 dB the format has
    peak = max(0.0, float(eqmath.response_db(
        apply_strength(np.asarray(params, float), strength),
        np.geomspace(1, fs / 2, 20000), fs, active).max()))  # fmt: skip
    assert got["preamp"] <= -peak + 1e-9
    assert got["preamp"] > -peak - 0.1 - 1e-9
    assert max(got["fr"]) + got["preamp"] <= 1e-6


@pytest.mark.parametrize("fmt", list(eqfile.FORMATS))
@pytest.mark.parametrize("case", list(CASES))
def test_every_format_reads_back_as_the_same_curve(tmp_path, fmt, case):
    params, active, strength = CASES[case]
    curve = eqfile.curve_for(params, active, strength, FS)
    path = tmp_path / f"eq{eqfile.SUFFIXES[fmt]}"
    path.write_text(eqfile.export_text(fmt, curve, FS))
    back = eqfile.read_curve(path)
    assert back.preamp == pytest.approx(curve.preamp, abs=0.005)
    assert len(back.filters) == sum(active or [True] * 5)
    diff = eqfile.response_db(back.filters, GRID, FS) - _ours(params, active, strength)
    assert np.max(np.abs(diff)) < 0.02
    res = eqfile.import_curve(back, FS)  # and into our five bands, exactly
    assert res.exact and res.max_error_db < 0.02


def test_camilladsp_export_is_a_valid_yaml_config(tmp_path):
    yaml = pytest.importorskip("yaml")
    params, active, strength = CASES["strength+switches"]
    doc = yaml.safe_load(
        eqfile.write_camilladsp(eqfile.curve_for(params, active, strength, FS), FS)
    )
    assert set(doc) == {"devices", "filters", "pipeline"}
    assert doc["devices"]["samplerate"] == FS
    step = doc["pipeline"][0]
    assert step["type"] == "Filter" and step["channels"] == [0, 1]
    assert all(n in doc["filters"] for n in step["names"])
    assert doc["filters"]["band1"]["parameters"] == {
        "type": "Lowshelf", "freq": 150.0, "gain": 3.6, "q": 0.71,
    }  # fmt: skip


def test_pipewire_shelves_match_with_its_fixed_slope_too():
    """PipeWire before its shelves took Q used the fixed slope S = 1, i.e. Q = 1/sqrt(2):
    our 0.71 shelves sound the same there (well within 0.1 dB)."""
    p = np.array([12, 150, 0, 650, 0.71, 0, 1000, 0.71, 0, 3300, 0.71, -12, 5000.0])
    ours = eqmath.response_db(p, GRID, FS)
    lo = eqmath.design_band(eqmath.KIND_LOWSHELF, 12, 150, 1 / np.sqrt(2), FS)
    hi = eqmath.design_band(eqmath.KIND_HIGHSHELF, -12, 5000, 1 / np.sqrt(2), FS)
    theirs = 20 * np.log10(np.abs(eqmath.sos_response(np.stack([lo, hi]), GRID, FS))).sum(0)
    assert np.max(np.abs(ours - theirs)) < 0.1


def test_apo_ls_hs_and_slopes_convert_to_cookbook_shelves():
    text = (
        "Preamp: -3 dB\n"
        "Filter 1: ON LS Fc 100 Hz Gain 6 dB\n"  # S 0.9 at f0 = 100
        "Filter 2: ON HSC 12dB Fc 5000 Hz Gain -4 dB\n"  # S 1
        "Filter 3: ON LS Fc 200 Hz Gain 5 dB Q 0.7\n"  # corner frequency -> f0
        "Filter 4: OFF PK Fc 1000 Hz Gain 5 dB Q 1\n"
        "# a comment\n"
    )
    c = eqfile.parse_apo(text)
    assert c.preamp == -3 and len(c.filters) == 3
    a = 10 ** (6 / 40)
    assert c.filters[0].q == pytest.approx(1 / np.sqrt((a + 1 / a) * (1 / 0.9 - 1) + 2))
    assert c.filters[1].q == pytest.approx(1 / np.sqrt(2))
    assert c.filters[2].freq > 200 and c.filters[2].q == 0.7


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("Preamp: -3 dB\nFilter 1: ON PK Fc 100 Hz Gain 3 dB\n", "t.txt:2: a PK filter needs a Q"),
        ("Filter 1: ON LP Fc 100 Hz\n", "t.txt:1: filter type LP is not supported"),
        ("Preamp: -1 dB\nhello\n", "t.txt:2: not a Preamp or Filter line"),
        ("Filter 1: ON PK Fc 100 Hz Gain 300 dB Q 1\n", "t.txt:1: gain 300 dB is out of range"),
        ("Filter 1: ON PK Gain 3 dB Q 1\n", "t.txt:1: no frequency"),
        ("\n\n", "t.txt: no Preamp or Filter lines"),
    ],
)
def test_bad_files_give_one_line_errors_with_line_numbers(tmp_path, capsys, text, expect):
    f = tmp_path / "t.txt"
    f.write_text(text)
    assert main(["import", str(f), "--print"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expect in err and "Traceback" not in err


def test_binary_and_missing_files(tmp_path, capsys):
    b = tmp_path / "b.txt"
    b.write_bytes(b"\xff\xfe\x00\x81")
    assert main(["import", str(b), "--print"]) == 2
    assert main(["import", str(tmp_path / "none.txt"), "--print"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "not a text file" in err[0] and "cannot read" in err[1]


def test_export_command_writes_the_controls_in_effect(tmp_path, capsys):
    out = tmp_path / "eq.txt"
    args = ["export", "apo", str(out), "--params", "-3,150,4,400,2,0,1000,1,0,3300,1,2,9000"]
    assert main([*args, "--strength", "0.5"]) == 0
    text = out.read_text()
    assert "Filter 2: ON PK Fc 400.00 Hz Gain 2.00 dB Q 2.000" in text
    assert text.startswith("Preamp: -")
    assert main(args) == 2  # exists
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert "Gain 4.00 dB" in out.read_text()


def test_export_of_a_latent_point_is_what_the_processor_plays(tmp_path):
    """Traverse mode: the exported bands are the decoder's parameters (the meters')."""
    from floweq_tui.render import eq_in_effect

    state = eq_in_effect({"mode": 0, "x": 1.0, "y": -0.5}, FS)
    assert np.abs(state.params[[0, 2, 5, 8, 11]]).max() > 0.1  # not flat
    out = tmp_path / "eq.json"
    assert (
        main(["export", "easyeffects", str(out), "--mode", "traverse", "-x", "1", "-y=-0.5"]) == 0
    )
    back = eqfile.read_curve(out)
    diff = eqfile.response_db(back.filters, GRID, FS) - eqmath.response_db(state.params, GRID, FS)
    assert np.max(np.abs(diff)) < 0.02


# ------------------------------------------------------------------ import into a preset

AUTOEQ_10 = """Preamp: -6.4 dB
Filter 1: ON LSC Fc 105 Hz Gain 5.8 dB Q 0.70
Filter 2: ON PK Fc 180 Hz Gain -3.1 dB Q 0.45
Filter 3: ON PK Fc 1327 Hz Gain 3.2 dB Q 1.81
Filter 4: ON PK Fc 2698 Hz Gain -2.6 dB Q 2.50
Filter 5: ON PK Fc 4179 Hz Gain 4.4 dB Q 3.40
Filter 6: ON PK Fc 6100 Hz Gain -3.7 dB Q 4.50
Filter 7: ON PK Fc 7500 Hz Gain 1.9 dB Q 2.00
Filter 8: ON PK Fc 9200 Hz Gain -2.2 dB Q 3.00
Filter 9: ON HSC Fc 10000 Hz Gain -3.5 dB Q 0.70
Filter 10: ON PK Fc 60 Hz Gain 1.0 dB Q 1.00
"""


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_import_of_five_bands_is_exact_and_becomes_a_preset_on_the_map(data_home, capsys):
    from floweq_tui import presets
    from floweq_tui.vae import core_models, load_family

    params, active, strength = CASES["strength+switches"]
    src = data_home / "mine.txt"
    src.write_text(eqfile.write_apo(eqfile.curve_for(params, active, strength, FS)))
    assert main(["import", str(src)]) == 0
    out = capsys.readouterr().out
    assert "4 filters loaded exactly" in out and "on the map of" in out
    p = presets.load("mine")
    models = core_models()
    values, _ = p.to_controls(models.names, models.anchor_labels)
    got = np.array([values[f"p{i}"] for i in range(13)])
    on = [values[f"active{b}"] >= 0.5 for b in range(5)]
    diff = eqmath.response_db(got, GRID, FS, on) - _ours(params, active, strength)
    assert np.max(np.abs(diff)) < 0.01
    assert values["mode"] == 2 and values["out_gain"] < 0  # the preamp, as output gain
    z = load_family().default.encode(got)
    assert (values["x"], values["y"]) == pytest.approx((z[0], z[1]), abs=1e-5)
    # and it exports again as the same curve (export --preset)
    again = data_home / "again.txt"
    assert main(["export", "apo", str(again), "--preset", "mine"]) == 0
    back = eqfile.read_curve(again)
    assert np.max(np.abs(eqfile.response_db(back.filters, GRID, FS) - eqmath.response_db(
        got, GRID, FS, on))) < 0.02  # fmt: skip
    assert main(["import", str(src)]) == 2  # the preset exists
    assert "--force" in capsys.readouterr().err


def test_import_of_more_bands_is_fitted_and_reports_the_largest_error(data_home, capsys):
    from floweq_tui import presets

    src = data_home / "ParametricEQ.txt"
    src.write_text(AUTOEQ_10)
    assert main(["import", str(src), "--name", "hp"]) == 0
    out = capsys.readouterr().out
    assert "10 filters fitted into the 5 bands" in out
    reported = float(out.split("largest error ")[1].split(" dB")[0])
    values = presets.load("hp").values
    got = np.array([values[f"p{i}"] for i in range(13)])
    target = eqfile.parse_apo(AUTOEQ_10)
    assert eqfile.curve_error_db(target, got, FS) == pytest.approx(reported, abs=0.005)
    flat = float(np.max(np.abs(eqfile.response_db(target.filters, eqmath.log_grid(512), FS))))
    assert reported < 0.6 * flat  # a real fit, not a flat curve
