"""Final-detections backend helpers: baked-NMS coverage and output conversion (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from trtssd.backends.final import DEFAULT_MIN_SCORE, covers, engine_nms, final_to_detections
from trtssd.postprocess.nms import NmsParams

BAKED = NmsParams(0.05, 0.6, 100, 100)


@pytest.mark.parametrize("requested,expected", [
    (NmsParams(0.3, 0.6, 100, 100), True),
    (NmsParams(0.05, 0.6, 100, 100), True),
    (NmsParams(0.01, 0.6, 100, 100), False),   # lower threshold than baked
    (NmsParams(0.3, 0.5, 100, 100), False),    # IoU differs
    (NmsParams(0.3, 0.6, 50, 100), False),     # max per class differs
    (NmsParams(0.3, 0.6, 100, 10), False),     # max total differs
    (NmsParams(0.3, 0.6, 100, 100, True), False),
])
def test_covers(requested, expected):
    assert covers(BAKED, requested) is expected


def test_covers_class_agnostic_ignores_max_per_class():
    assert covers(NmsParams(0.05, 0.6, 100, 100, True), NmsParams(0.3, 0.6, 7, 100, True))


@pytest.mark.parametrize("requested,baked", [
    (NmsParams(0.3, 0.6, 100, 100), NmsParams(DEFAULT_MIN_SCORE, 0.6, 100, 100)),
    (NmsParams(0.01, 0.5, 20, 50), NmsParams(0.01, 0.5, 20, 50)),
    (NmsParams(0.3, 0.6, 7, 50, True), NmsParams(DEFAULT_MIN_SCORE, 0.6, 50, 50, True)),
])
def test_engine_nms(requested, baked):
    assert engine_nms(requested) == baked
    assert covers(engine_nms(requested), requested)


def test_final_to_detections_filters_pads_and_scales():
    num = np.array([3, 0], np.int32)
    boxes = np.zeros((2, 4, 4), np.float32)
    boxes[0, :3] = [[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1], [0.5, 0.5, 0.75, 1.0]]
    scores = np.array([[0.9, 0.5, 0.3, 0.0], [0, 0, 0, 0]], np.float32)
    classes = np.array([[1, 18, 3, 0], [0, 0, 0, 0]], np.int32)
    dets = final_to_detections((num, boxes, scores, classes), [(200, 100), (10, 10)], ("bg", "person"), 0.3)
    assert len(dets) == 2 and len(dets[1].class_id) == 0
    d = dets[0]
    np.testing.assert_array_equal(d.class_id, [1, 18])  # score 0.3 is not > 0.3
    assert d.class_id.dtype == np.int64 and d.xyxy.dtype == np.float32
    np.testing.assert_allclose(d.xyxy, [[20, 20, 100, 60], [0, 0, 200, 100]])
    np.testing.assert_allclose(d.confidence, [0.9, 0.5])


def test_final_to_detections_size_mismatch():
    with pytest.raises(ValueError, match="expected 2 images, found 1"):
        final_to_detections((np.zeros(1, np.int32), np.zeros((1, 1, 4)), np.zeros((1, 1)), np.zeros((1, 1))),
                            [(1, 1), (1, 1)], (), 0.3)
