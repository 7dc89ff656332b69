"""Parity: the vectorised postprocess (score pre-filter, top-k rounds, one greedy pass over all
classes) against the per-class implementation it replaced (tests/postprocess/nms_oracle.py), which
follows the TF OD API's per-class NMS + merge + top-k. Results must be identical: same boxes (bit
for bit), scores and classes, in the same order, ties included."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # nms_oracle (helper module beside the tests)
from nms_oracle import old_multiclass_nms, old_postprocess_batch  # noqa: E402
from trtssd.models.spec import BoxCoderSpec  # noqa: E402
from trtssd.postprocess.detect import postprocess_batch  # noqa: E402
from trtssd.postprocess.nms import NmsParams, multiclass_nms  # noqa: E402


def _random_case(seed: int, anchors: int = 400, classes: int = 13, quantized: bool = False):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 0.8, (anchors, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(0.02, 0.3, (anchors, 2))]).astype(np.float32)
    boxes[rng.integers(0, anchors, anchors // 10)] = boxes[0]  # exact duplicates (IoU 1)
    scores = rng.uniform(0, 1, (anchors, classes)).astype(np.float32) ** 3
    if quantized:  # many equal scores, as the uint8 TFLite model produces; boxes on a 1/8 grid,
        # so that many IoUs are exactly 0.5 or 0.25 (IoU equal to the threshold keeps the box)
        scores = np.round(scores * 256) / 256
        boxes = np.round(boxes * 8) / 8
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.125)
    return boxes, scores.astype(np.float32)


def _assert_same(got, want):
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


CASES = [  # seed, score threshold, iou, max_per_class, max_total, class_agnostic, quantized, top_k
    (0, 0.3, 0.6, 100, 100, False, False, 256),
    (1, 0.01, 0.6, 100, 100, False, True, 256),
    (2, 1e-8, 0.5, 50, 300, False, False, 16),
    (3, 0.5, 0.6, 1, 5, False, True, 4),
    (4, 0.01, 0.3, 3, 1000, False, True, 1),
    (9, 0.01, 0.5, 100, 100, False, True, 32),
    (10, 0.3, 0.25, 100, 100, True, True, 32),
    (5, 0.3, 0.6, 100, 10, True, True, 256),
    (6, 0.0, 0.6, 100, 100, True, False, 8),
    (7, 0.9, 0.6, 100, 100, False, False, 256),
    (8, 1.0, 0.6, 100, 100, False, False, 256),  # nothing passes
]


@pytest.mark.parametrize("seed, thr, iou, per_class, total, agnostic, quantized, top_k", CASES)
def test_multiclass_nms_matches_per_class_oracle(seed, thr, iou, per_class, total, agnostic, quantized, top_k):
    boxes, scores = _random_case(seed, quantized=quantized)
    p = NmsParams(thr, iou, per_class, total, class_agnostic=agnostic)
    _assert_same(multiclass_nms(boxes, scores, p, pre_nms_top_k=top_k), old_multiclass_nms(boxes, scores, p))


@pytest.mark.parametrize("activation", ["none", "sigmoid", "softmax"])
@pytest.mark.parametrize("thr, agnostic", [(0.3, False), (0.01, False), (0.3, True), (0.0, False)])
def test_postprocess_batch_matches_oracle_random(activation, thr, agnostic):
    rng = np.random.default_rng(11)
    n, a, c = 3, 300, 9
    anchors = np.column_stack([rng.uniform(0.1, 0.9, (a, 2)), rng.uniform(0.05, 0.5, (a, 2))]).astype(np.float32)
    enc = rng.normal(0, 1, (n, a, 4)).astype(np.float32)
    raw = rng.normal(-2, 2, (n, a, c)).astype(np.float32)
    if activation == "none":
        raw = 1 / (1 + np.exp(-raw))
    p = NmsParams(thr, 0.6, 100, 100, class_agnostic=agnostic)
    coder = BoxCoderSpec()
    sizes = [(640, 480), (300, 300), (1, 1)]
    got = postprocess_batch(enc, raw, anchors, coder, activation, p, sizes)
    want = old_postprocess_batch(enc, raw, anchors, coder, activation, p, sizes)
    for g, w in zip(got, want):
        _assert_same((g.xyxy, g.confidence, g.class_id), (w.xyxy, w.confidence, w.class_id))


@pytest.mark.slow
@pytest.mark.parametrize("conf_th, agnostic", [(0.3, False), (0.01, False), (1e-8, False), (0.3, True)])
def test_postprocess_matches_oracle_on_real_outputs(shared_dir, cpu_detector, conf_th, agnostic):
    """Raw outputs of the real model on 12 COCO images and the two photos."""
    paths = sorted((shared_dir / "data" / "coco_val2017_subset158" / "val2017").glob("*.jpg"))[:12]
    paths += [shared_dir / "media" / "tensorrt_demos_huskies.png", shared_dir / "media" / "tensorrt_demos_dog.jpg"]
    info = cpu_detector.info
    p = NmsParams(conf_th, info.postprocess.iou_threshold, 100, 100, class_agnostic=agnostic)
    from trtssd.detector import preprocess

    frames = [cv2.imread(str(path)) for path in paths]
    boxes, scores = cpu_detector.backend.infer(preprocess(frames, info.input_size))
    sizes = [(f.shape[1], f.shape[0]) for f in frames]
    args = (boxes, scores, info.anchors_cyxhw, info.box_coder, info.score_activation, p, sizes, info.labels)
    total = 0
    for g, w in zip(postprocess_batch(*args), old_postprocess_batch(*args)):
        _assert_same((g.xyxy, g.confidence, g.class_id), (w.xyxy, w.confidence, w.class_id))
        total += len(g)
    assert total > 0
