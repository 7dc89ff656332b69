import math

import numpy as np
import pytest

from trtssd.models.spec import GridAnchorSpec
from trtssd.postprocess.priors import grid_anchors_cyxhw, layer_box_specs


def test_default_spec_has_1917_anchors():
    assert grid_anchors_cyxhw(GridAnchorSpec()).shape == (1917, 4)


@pytest.mark.parametrize(
    "spec, layer, expected",
    [
        (GridAnchorSpec(), 0, [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)]),
        (GridAnchorSpec(), 5, [(0.95, a) for a in (1.0, 2.0, 0.5, 3.0, 0.3333)] + [(math.sqrt(0.95), 1.0)]),
        (GridAnchorSpec(min_scale=0.05), 1, [(0.23, a) for a in (1.0, 2.0, 0.5, 3.0, 0.3333)] + [(math.sqrt(0.23 * 0.41), 1.0)]),
    ],
)
def test_layer_box_specs(spec, layer, expected):
    got = layer_box_specs(spec)[layer]
    assert [s for s, _ in got] == pytest.approx([s for s, _ in expected])
    assert [a for _, a in got] == pytest.approx([a for _, a in expected])


def test_first_anchors_follow_od_api_order():
    a = grid_anchors_cyxhw(GridAnchorSpec())
    # layer 0, cell (0, 0): centre (0.5/19, 0.5/19); box specs (0.1, 1), (0.2, 2), (0.2, 0.5)
    c = 0.5 / 19
    np.testing.assert_allclose(a[0], [c, c, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(a[1], [c, c, 0.2 / math.sqrt(2), 0.2 * math.sqrt(2)], rtol=1e-6)
    np.testing.assert_allclose(a[3, :2], [c, 1.5 / 19], rtol=1e-6)  # next column, same row
    np.testing.assert_allclose(a[-1], [0.5, 0.5, math.sqrt(0.95), math.sqrt(0.95)], rtol=1e-6)


def test_matches_the_anchors_inside_the_tflite_model(quant_artifact):
    """The TFLite export stores its anchors (uint8, scale ~0.00645): ours agree within half a step."""
    stored = quant_artifact[1].anchors_cyxhw
    assert np.abs(grid_anchors_cyxhw(GridAnchorSpec()) - stored).max() <= 0.00645 / 2 + 1e-6
