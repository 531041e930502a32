"""The controls -> latent point rule has one Python home (controls.latent_point, used by the
UI's Controller and the FakeEngine); the audio path has its own in C. They must agree: the
point the C processor reports in the meters (zx, zy, zz) equals latent_point's."""

from __future__ import annotations

import numpy as np
import pytest
from harness.fakes import FakeEngine, synthetic_family

from floweq_tui import _dsp
from floweq_tui.controls import CONTROL_DEFAULTS, METERS_SIZE, Controls, Meters, latent_point

FAMILY = synthetic_family()
MODELS = list(FAMILY)
TRAVERSE = [
    dict(x=0.6, y=-0.4, z=0.0, extend=0),
    dict(x=2.0, y=-2.0, z=1.3, extend=1),
    dict(x=-1.25, y=0.5, z=-2.0, extend=1),
    dict(x=0.05, y=1.95, z=0.35, extend=0),
]
SEMANTIC = [
    dict(anchor_a=0, anchor_b=4, interpolate=0.35),
    dict(anchor_a=3, anchor_b=0, interpolate=1.0),
    dict(anchor_a=11, anchor_b=2, interpolate=0.0),
    dict(anchor_a=5, anchor_b=7, interpolate=0.8),
    dict(anchor_a=63, anchor_b=40, interpolate=0.5),  # past the last anchor: clamped to it
]
CASES = (
    [(0, s) for s in TRAVERSE] + [(1, s) for s in SEMANTIC] + [(2, dict(x=1.0, y=1.0))]
)  # fmt: skip


def processor() -> tuple[object, Controls, Meters]:
    """A processor holding the family's decoders and anchor codes, as the engine builds it."""
    ctl, met = CONTROL_DEFAULTS.copy(), np.zeros(METERS_SIZE)
    decoders = [m.core_decoder() for m in MODELS]
    anchors = [np.array([a.z for a in m.anchors]).reshape(-1, m.latent) for m in MODELS]
    proc = _dsp.Processor(2, 48000.0, 128, ctl, met, decoders, anchors)
    return proc, Controls(ctl), Meters(met)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode,setting", CASES)
def test_latent_point_is_the_point_the_processor_decodes(mode, setting, dims) -> None:
    model = FAMILY.get(dims, 0.01)
    proc, ctl, met = processor()
    ctl.update({"mode": mode, "model": MODELS.index(model), **setting})
    block = np.zeros((128, 2), np.float32)
    proc.process(block, block.copy())
    want = latent_point(ctl, dims, [a.z for a in model.anchors])
    got = tuple(met[k] for k in ("zx", "zy", "zz"))
    assert got[:dims] == pytest.approx(want, abs=1e-12)
    assert got[dims:] == (0.0,) * (3 - dims)
    if mode != 2:
        assert any(v != 0.0 for v in want), "a case that does not move the point proves little"
    # the FakeEngine reports the same point
    fake = FakeEngine(FAMILY, mode=mode, model=MODELS.index(model), **setting)
    assert tuple(fake.meters[k] for k in ("zx", "zy", "zz")) == pytest.approx(got, abs=1e-12)
