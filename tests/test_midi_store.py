"""The MIDI mapping file: TOML round trip, line-numbered errors, atomic writes."""

from __future__ import annotations

import os

import pytest

from floweq_tui.midi import store
from floweq_tui.midi.mapping import Binding, MappingError, default_bindings
from floweq_tui.midi.store import MidiMap, dumps, load, loads, save

tomllib = store.tomllib


def sample() -> MidiMap:
    return MidiMap(
        {
            'nanoKONTROL2 "SLIDER/KNOB"': [
                Binding("x", "cc", 16, 1),
                Binding("y", "cc14", 1, None, min=-1.0, max=1.5, invert=True),
                Binding("z", "nrpn", 1000, 16, takeover=False),
                Binding("strength", "cc", 10, 2, encoding="relative_twos", step=0.02),
                Binding("bypass", "note", 36, 10, button="momentary"),
                Binding("mode", "cc", 32, 1, button="toggle"),
            ],
            "Ünïcode \\ back": default_bindings(),
            "empty": [],
        }
    )


def test_round_trip(tmp_path):
    m = sample()
    text = dumps(m)
    assert tomllib.loads(text)["version"] == 1
    assert loads(text) == m
    path = save(m, tmp_path / "sub" / "midi.toml")
    assert load(path) == m
    assert 'control = "x"' in text and "number = 16" in text  # readable
    assert 'channel = "any"' in text


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert store.default_path() == tmp_path / "floweq-tui" / "midi.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store.default_path() == tmp_path / ".config" / "floweq-tui" / "midi.toml"


def test_missing_file_is_empty_mapping(tmp_path):
    m = load(tmp_path / "none.toml")
    assert m.controllers == {}
    assert m.bindings_for("anything") == default_bindings()


GOOD_HEAD = 'version = 1\n\n[controllers."K"]\n'


def binding_block(**kw: object) -> str:
    fields = {"control": "x", "type": "cc", "number": 16, "channel": 1, **kw}
    body = "\n".join(
        f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
        for k, v in fields.items()
    )
    return f'[[controllers."K".bindings]]\n{body}\n'


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        (GOOD_HEAD + "control = \n", 4, "Invalid value"),
        ('version = 1\n[controllers."K"\n', 2, ""),
        (GOOD_HEAD + binding_block() + binding_block(number=200), 9, "binding 2: cc number"),
        (GOOD_HEAD + binding_block(control="nope"), 4, "binding 1: no control named 'nope'"),
        (GOOD_HEAD + binding_block() + "\n\n" + binding_block(encoding="x"), 11, "encoding"),
        (GOOD_HEAD + binding_block(channel=0.5), 4, "channel"),
        (GOOD_HEAD + binding_block(colour="red"), 4, "unknown key 'colour'"),
        ("version = 2\n", 1, "unsupported version"),
        ("version = 1\ncontrollers = 3\n", 1, "must be a table"),
        (GOOD_HEAD + "bindings = 3\n", 3, "bindings must be a list"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, text, line, why):
    path = tmp_path / "midi.toml"
    path.write_text(text)
    with pytest.raises(MappingError) as err:
        load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert why in msg
    assert "\n" not in msg


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "midi.toml"
    save(sample(), path)
    before = path.read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save(MidiMap({"other": []}), path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["midi.toml"]  # no temporary file left behind


def test_hand_edited_file_with_comments_and_inline_tables(tmp_path):
    path = tmp_path / "midi.toml"
    path.write_text(
        "# mine\nversion = 1\n"
        '[controllers."Arturia BeatStep"]  # a comment\n'
        'bindings = [ { control = "x", type = "cc", number = 10, channel = "any",'
        ' encoding = "relative_binary_offset" } ]\n'
    )
    m = load(path)
    (b,) = m.bindings_for("Arturia BeatStep")
    assert b.encoding == "relative_binary_offset" and b.channel is None
