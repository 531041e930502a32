"""A/B (floweq_tui/ab.py and the processor's second cascade): the swap of the slots, the
crossfade (at most 50 ms, click-free by the suite's click measure) and the loudness match."""

from __future__ import annotations

import numpy as np
import pyloudnorm as pyln
import pytest
from test_processor import hf_residual_db, make, noise, tone

from floweq_tui import ab
from floweq_tui.controls import CONTROL_DEFAULTS, SOUND_CONTROLS, Controls

BOOST = {"p0": 12.0, "p1": 800.0}
CUT = {"p0": -12.0, "p1": 800.0, "p11": -6.0}


def test_toggle_swaps_the_slots_and_copy_fills_the_other():
    ctl = Controls(CONTROL_DEFAULTS.copy())
    ctl.update({"mode": 2, **BOOST})
    assert ab.slot(ctl) == "A"
    assert ab.toggle(ctl) == "B"  # first toggle: armed, B a copy of A
    assert ctl["ab_on"] == 1 and ctl["p0"] == 12.0 and ctl["ab_p0"] == 12.0
    ctl.update(CUT)  # edit B
    assert ab.toggle(ctl) == "A"
    assert ctl["p0"] == 12.0 and ctl["ab_p0"] == -12.0 and ctl["ab_p11"] == -6.0
    ab.copy_to_other(ctl)  # A to B
    assert all(ctl[n] == ctl[f"ab_{n}"] for n in SOUND_CONTROLS)
    assert ab.apply_action(ctl, "ab_slot", 1) and ab.slot(ctl) == "B"
    assert ab.apply_action(ctl, "ab_slot", 1) and ab.slot(ctl) == "B"  # no change, no toggle
    assert not ab.apply_action(ctl, "p0", 3.0)


def _armed(fs, block, **extra):
    """A processor playing A = a +12 dB shelf, with B = a cut ready in the other slot."""
    proc, ctl, m = make(2, fs, block, **BOOST, **extra)
    ab.copy_to_other(ctl)
    ctl.update({f"ab_{k}": v for k, v in CUT.items()})
    return proc, ctl, m


@pytest.mark.parametrize("fs", [44100, 48000, 96000])
@pytest.mark.parametrize("block", [64, 256])
@pytest.mark.parametrize("fade_ms", [1.0, 30.0, 50.0])
def test_the_switch_is_a_click_free_crossfade_of_at_most_50_ms(fs, block, fade_ms):
    """A 200 Hz tone; A and B differ by about 14 dB at 200 Hz. The slots are toggled four
    times at block boundaries: the output moves from one slot's steady output to the other's
    within fade_ms (sample-accurate), and the 4 kHz click residual stays at the level of
    the steady EQ (a hard switch measures far above: checked below)."""
    amp = 0.1
    x = tone(fs, 1.0, 200, -20)
    proc, ctl, m = _armed(fs, block, ab_fade_ms=fade_ms)
    out = np.zeros_like(x)
    flips = {int(fs * t) // block for t in (0.3, 0.5, 0.7, 0.8)}
    weights = []
    for k, i in enumerate(range(0, len(x), block)):
        if k in flips:
            ab.toggle(ctl)
        proc.process(x[i : i + block], out[i : i + block])
        weights.append(proc.ab_weight)
    # the levels: A until 0.3 s, B from 0.3 s + fade to 0.5 s
    fade = int(np.ceil(fade_ms * 1e-3 * fs))
    s1 = (int(fs * 0.3) // block) * block
    a_level = np.abs(out[s1 - 2000 : s1, 0]).max()
    b_level = np.abs(out[s1 + fade + 200 : s1 + fade + 2200, 0]).max()
    assert 20 * np.log10(a_level / b_level) > 10  # the switch really happened
    # B's own steady output right after the fade (sample-accurate: from s1 + fade on)
    ref, _, _ = make(2, fs, block, **CUT)
    ref_out = np.zeros_like(x)
    for i in range(0, len(x), block):
        ref.process(x[i : i + block], ref_out[i : i + block])
    seg = slice(s1 + fade, s1 + fade + 2000)
    np.testing.assert_allclose(out[seg], ref_out[seg], atol=2e-4)
    assert max(weights) == 1.0 and weights[-1] == 1.0
    # (a 1 ms fade is as fast as a mute ramp: the bound of those, tests/test_processor.py)
    assert hf_residual_db(out[:, 0], fs, amp, int(0.25 * fs)) < (-25 if fade_ms < 5 else -60)


def test_a_hard_switch_would_click():
    """The measure used above sees a switch without the crossfade: the same toggles through
    the ordinary controls, jumped to the new setting, measure well above the crossfade's -60 dB."""
    fs, block, amp = 48000, 64, 0.1
    x = tone(fs, 1.0, 200, -20)
    proc, ctl, _ = make(2, fs, block, glide_ms=0.0, **BOOST)
    out = np.zeros_like(x)
    flips = {int(fs * t) // block: v for t, v in ((0.3, CUT), (0.5, BOOST))}
    for k, i in enumerate(range(0, len(x), block)):
        if k in flips:
            ctl.update({"p11": 0.0, **flips[k]})
        proc.process(x[i : i + block], out[i : i + block])
        if k in flips:  # (even glide 0 takes 5 ms now: jump the rest of the way)
            proc.finish_glide()
    assert hf_residual_db(out[:, 0], fs, amp, int(0.25 * fs)) > -50


def test_loudness_match_holds_both_slots_at_the_input_loudness():
    """Noise; A boosts the highs, B cuts them. With the match on, both slots settle at
    the input's short-term loudness (as the auto gain measures it) and a switch keeps the
    level: right after the fade the short-term loudness is still within 1 dB."""
    fs, block = 48000, 512
    x = noise(fs, 14.0, -23)
    proc, ctl, m = make(2, fs, block, ab_match=1, auto_time=0.5, p11=12.0, p12=1000.0)
    ab.copy_to_other(ctl)
    ctl["ab_p11"] = -12.0
    out = np.zeros_like(x)
    levels = {}
    toggles = {int(fs * t) // block for t in (6.0, 10.0)}
    for k, i in enumerate(range(0, len(x), block)):
        if k in toggles:
            ab.toggle(ctl)
        proc.process(x[i : i + block], out[i : i + block])
        levels[k] = (m["lufs_in"], m["lufs_out"], m["auto_gain_db"])
    k6 = int(fs * 6.0) // block
    lin, lout, gain_a = levels[k6 - 1]
    assert abs(lout + gain_a - lin) < 0.5  # A matched
    lin, lout, gain_b = levels[int(fs * 9.9) // block]
    assert abs(lout + gain_b - lin) < 0.5  # B matched
    assert gain_a < -5 and gain_b > 5  # by different gains
    # the other slot's gain was held while it was not heard: right after each switch the
    # output's loudness (BS.1770, pyloudnorm over 1 s) stays within 1 dB of that before it
    meter = pyln.Meter(fs, block_size=0.4)
    for k in toggles:
        s = k * block
        before = meter.integrated_loudness(out[s - fs : s].astype(np.float64))
        after = meter.integrated_loudness(out[s + fs // 20 : s + fs + fs // 20].astype(np.float64))
        assert abs(after - before) < 1.0


def test_without_ab_the_second_cascade_is_idle_and_output_unchanged():
    fs, block = 48000, 128
    x = tone(fs, 0.3, 200, -20)
    p1, c1, _ = make(2, fs, block, **BOOST)
    p2, c2, _ = make(2, fs, block, **BOOST)
    c2.update({f"ab_{k}": v for k, v in CUT.items()})  # twins set but A/B off
    o1, o2 = np.zeros_like(x), np.zeros_like(x)
    for i in range(0, len(x), block):
        p1.process(x[i : i + block], o1[i : i + block])
        p2.process(x[i : i + block], o2[i : i + block])
    np.testing.assert_array_equal(o1, o2)


@pytest.mark.jack
def test_ab_on_the_live_engine_on_jack(jack_server, tmp_path):
    """The real engine on the JACK dummy server: a tone file streamed and captured while A/B
    is switched twice from outside (as the UI does); both slots are heard, click-free."""
    import time

    from floweq_tui import sources
    from floweq_tui.engine import Engine, EngineConfig

    sr, seconds = 48000, 3.0
    path = tmp_path / "tone.wav"
    sources.write_file(path, tone(sr, seconds, 200, -20), sr)
    data = sources.load_file(path, sr, 2)
    eng = Engine(EngineConfig(samplerate=sr, blocksize=128), mode=2, **BOOST)
    eng.start()
    try:
        assert eng.status.state == "running", eng.status.message
        ctl = eng.controls
        ab.copy_to_other(ctl)
        ctl.update({f"ab_{k}": v for k, v in CUT.items()})
        eng.load(str(path), capture=len(data))
        for at in (1.0, 2.0):  # switch when the file has played this far (polled)
            deadline = time.monotonic() + 30.0
            while eng.meters["source_pos"] < at * sr and time.monotonic() < deadline:
                time.sleep(0.005)
            ab.toggle(ctl)
        live = eng.captured(timeout=seconds + 30.0)
    finally:
        eng.stop()
    level = [20 * np.log10(np.abs(live[int(a * sr) : int(b * sr), 0]).max())
             for a, b in ((0.5, 0.9), (1.3, 1.9), (2.3, 2.9))]  # fmt: skip
    assert level[0] - level[1] > 10 and level[2] - level[1] > 10  # A, B, A
    assert hf_residual_db(live[:, 0], sr, 0.1, int(0.25 * sr)) < -60
