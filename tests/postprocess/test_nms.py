import numpy as np
import pytest

from trtssd.postprocess.nms import NmsParams, batched_nms, multiclass_nms, nms

BOXES = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32)


@pytest.mark.parametrize(
    "scores, iou, max_out, expected",
    [
        ([0.9, 0.8, 0.7, 0.6], 0.5, None, [0, 2]),
        ([0.9, 0.8, 0.7, 0.6], 0.99, None, [0, 1, 2, 3]),
        ([0.5, 0.8, 0.7, 0.6], 0.5, None, [1, 2]),
        ([0.9, 0.8, 0.7, 0.6], 0.5, 1, [0]),
        ([0.9, 0.9, 0.9, 0.9], 0.5, None, [0, 2]),  # ties keep input order
    ],
)
def test_nms(scores, iou, max_out, expected):
    assert nms(BOXES, np.array(scores, np.float32), iou, max_out).tolist() == expected


def test_iou_equal_to_threshold_is_kept():
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], np.float32)  # IoU = 1/3
    assert nms(boxes, np.array([0.9, 0.8]), 1 / 3).tolist() == [0, 1]


def test_batched_nms_separates_classes():
    keep = batched_nms(BOXES, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 1, 0, 0]), 0.5)
    assert keep.tolist() == [0, 1, 2]


@pytest.mark.parametrize("agnostic", [False, True])
def test_multiclass_nms_thresholds_and_background(agnostic):
    scores = np.array([[0.99, 0.9, 0.1], [0.0, 0.8, 0.85], [0.0, 0.2, 0.1], [0.0, 0.05, 0.05]], np.float32)
    b, s, c = multiclass_nms(BOXES, scores, NmsParams(0.3, 0.5, 100, 100, class_agnostic=agnostic))
    if agnostic:  # anchor 1's best class is 2 but it overlaps anchor 0 (class 1, 0.9) -> suppressed
        assert c.tolist() == [1] and s.tolist() == pytest.approx([0.9])
    else:  # per class: class 1 keeps anchor 0, class 2 keeps anchor 1; background never reported
        assert c.tolist() == [1, 2] and s.tolist() == pytest.approx([0.9, 0.85])


def _brute_force(boxes, scores, p: NmsParams):
    out = []
    for c in range(1, scores.shape[1]):
        cand = np.nonzero(scores[:, c] > p.score_threshold)[0]
        for k in cand[nms(boxes[cand], scores[cand, c], p.iou_threshold, p.max_per_class)]:
            out.append((scores[k, c], c, k))
    out.sort(key=lambda t: -t[0])
    return out[: p.max_total]


@pytest.mark.parametrize("seed, max_total, thr", [(0, 100, 0.01), (1, 10, 0.3), (2, 300, 1e-8), (3, 1, 0.5)])
def test_early_stopping_equals_brute_force(seed, max_total, thr):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 0.8, (300, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(0.05, 0.2, (300, 2))]).astype(np.float32)
    scores = rng.uniform(0, 1, (300, 12)).astype(np.float32) ** 3
    p = NmsParams(thr, 0.5, 50, max_total)
    b, s, c = multiclass_nms(boxes, scores, p)
    ref = _brute_force(boxes, scores, p)
    assert s.tolist() == pytest.approx([r[0] for r in ref])
    assert c.tolist() == [r[1] for r in ref]
    np.testing.assert_array_equal(b, boxes[[r[2] for r in ref]])


@pytest.mark.parametrize("kwargs", [dict(score_threshold=1.5), dict(iou_threshold=0.0), dict(max_total=0)])
def test_params_validation(kwargs):
    with pytest.raises(ValueError, match="expected"):
        NmsParams(**kwargs)
