import numpy as np
import pytest

from trtssd.models.spec import BoxCoderSpec
from trtssd.postprocess.boxes import box_iou, cyxhw_to_yxyx, scale_boxes, yxyx_to_xyxy
from trtssd.postprocess.coder import decode_boxes, encode_boxes


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: no division by zero
    ],
)
def test_box_iou(a, b, expected):
    assert box_iou(np.array([a], float), np.array([b], float))[0, 0] == pytest.approx(expected)


def test_format_conversions():
    assert yxyx_to_xyxy(np.array([1, 2, 3, 4])).tolist() == [2, 1, 4, 3]
    assert cyxhw_to_yxyx(np.array([0.5, 0.5, 0.2, 0.4])).tolist() == pytest.approx([0.4, 0.3, 0.6, 0.7])
    assert scale_boxes(np.array([[0.5, 0.25, 1, 1]]), 200, 100).tolist() == [[100, 25, 200, 100]]


@pytest.mark.parametrize("coder", [BoxCoderSpec(), BoxCoderSpec(1.0, 1.0, 1.0, 1.0), BoxCoderSpec(8, 9, 4, 3)])
def test_encode_decode_roundtrip(coder):
    rng = np.random.default_rng(0)
    anchors = np.column_stack([rng.uniform(0.2, 0.8, (50, 2)), rng.uniform(0.05, 0.5, (50, 2))]).astype(np.float32)
    boxes = cyxhw_to_yxyx(np.column_stack([rng.uniform(0.2, 0.8, (50, 2)), rng.uniform(0.05, 0.5, (50, 2))]))
    np.testing.assert_allclose(decode_boxes(encode_boxes(boxes, anchors, coder), anchors, coder), boxes, atol=1e-5)


def test_zero_encoding_decodes_to_the_anchor():
    anchors = np.array([[0.5, 0.4, 0.2, 0.1]], np.float32)
    np.testing.assert_allclose(decode_boxes(np.zeros((1, 4), np.float32), anchors, BoxCoderSpec()), [[0.4, 0.35, 0.6, 0.45]], atol=1e-6)
