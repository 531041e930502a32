"""The command line reads what users type (negative settings, ranges) and answers bad input
with one line and a non-zero status, never a traceback or a silent clamp."""

from __future__ import annotations

import pytest

from floweq_tui.cli import build_parser, main
from floweq_tui.cli.options import control_values, join_negative_values
from floweq_tui.params import DEFAULTS

SETTING = "-5.4,120,3,500,1.2,-2,1000,0.9,1.5,3300,0.8,4,8000"


def parse(*argv: str):
    parser = build_parser()
    return parser.parse_args(join_negative_values(parser, list(argv)))


@pytest.mark.parametrize("form", [["--params", SETTING], [f"--params={SETTING}"]])
def test_negative_first_gain_in_both_spellings(form) -> None:
    args = parse("--silent", *form)
    values = control_values(args, [], [])
    assert values["p0"] == -5.4 and values["p11"] == 4.0 and values["mode"] == 2


@pytest.mark.parametrize(
    "argv, name, value",
    [(["-x", "-1e-1"], "x", -0.1), (["--in-gain", "-6"], "in_gain", -6.0),
     (["--out-gain", "-.5"], "out_gain", -0.5), (["-y", "-2"], "y", -2.0)],
)  # fmt: skip
def test_negative_numbers_of_any_spelling(argv, name, value) -> None:
    assert control_values(parse(*argv), [], [])[name] == value


def test_render_takes_negative_values_too() -> None:
    args = parse("render", "in.wav", "out.wav", "--params", SETTING, "-z", "-1.5e0")
    assert args.params == SETTING and args.z == -1.5


@pytest.mark.parametrize(
    "argv, words",
    [(["-x", "1e308"], "-x 1e+308 is outside -2 to 2"),
     (["--strength", "-5"], "--strength -5 is outside 0 to 1"),
     (["--glide-ms", "1e9"], "--glide-ms 1e+09 is outside 0 to 1000 ms"),
     (["-y", "nan"], "-y nan is outside"),
     (["--params", "1,2,3"], "--params:")],
)  # fmt: skip
def test_out_of_range_is_refused_in_one_line(capsys, argv, words) -> None:
    assert main(["render", "in.wav", "out.wav", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_params_defaults_are_in_range() -> None:
    text = ",".join(f"{v:g}" for v in DEFAULTS)
    assert len(control_values(parse("--params", text), [], [])) == 14


def test_midi_import_of_a_missing_file_fails(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["midi", "--import", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and err.count("\n") == 1
    assert not (tmp_path / "floweq-tui" / "midi.toml").exists()
