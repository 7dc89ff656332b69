"""Parity: converted artifact + trtssd postprocess vs the reference TFLite interpreter (ai-edge-litert)
running the original quantized .tflite with its own TFLite_Detection_PostProcess.

The one intended difference: TFLite runs uint8 activations, the artifact float activations with
dequantized weights. Stated tolerances, on the two photos and the first EVAL_IMAGES COCO images:

* raw outputs (the postprocess op's inputs, read with preserve_all_tensors and dequantized):
  class scores mean |diff| <= 0.003 and max <= 0.12 (score quantisation step 1/256; the max is one
  anchor out of 32 x 1917 x 91 values);
  box encodings mean |diff| <= 0.06 (below one quantisation step, 0.079) and max <= 1.5;
* detections: of the reference detections scoring >= REF_MIN_SCORE, at least REPRODUCED_MIN
  have a trtssd detection (per-class NMS) of the same class with IoU >= 0.9, each within SCORE_TOL;
  configured exactly like the TFLite op (class-agnostic fast NMS, 10 detections) at least
  FAST_MATCH_MIN are reproduced. Misses are near ties (two classes of one box, or two overlapping
  anchors, within the activation-quantisation noise) that flip, and, for per-class NMS, boxes that
  fast NMS keeps because their suppressor's best class was another one.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trtssd.detector import Detector
from trtssd.postprocess.boxes import box_iou

litert = pytest.importorskip("ai_edge_litert.interpreter")

REF_MIN_SCORE = 0.3
SCORE_TOL = 0.08
IOU_MIN = 0.9
FAST_MATCH_MIN = 0.9
REPRODUCED_MIN = 0.95
EVAL_IMAGES = 30  # first N (sorted) images of the COCO subset, plus the two photos


def _tflite_path(interp) -> Path:
    return interp._trtssd_path  # set by the fixture


def _reference(interpreter, image_bgr: np.ndarray):
    """TFLite outputs -> (xyxy pixels [K,4], scores [K], class ids [K] (COCO id = cls + 1))."""
    h, w = image_bgr.shape[:2]
    inp = interpreter.get_input_details()[0]
    rgb = cv2.cvtColor(cv2.resize(image_bgr, (300, 300), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    interpreter.set_tensor(inp["index"], rgb[None])
    interpreter.invoke()
    outs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    boxes, classes, scores, num = outs[0][0], outs[1][0], outs[2][0], int(outs[3][0])
    yxyx = np.clip(boxes[:num], 0, 1)
    xyxy = yxyx[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
    return xyxy, scores[:num], classes[:num].astype(np.int64) + 1


def _images(shared_dir):
    paths = [shared_dir / "media" / "tensorrt_demos_huskies.png", shared_dir / "media" / "tensorrt_demos_dog.jpg"]
    paths += sorted((shared_dir / "data" / "coco_val2017_subset158" / "val2017").glob("*.jpg"))[:EVAL_IMAGES]
    return paths


@pytest.fixture(scope="module")
def interpreter(shared_dir):
    interp = litert.Interpreter(str(shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite"),
                                experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    interp._trtssd_path = shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite"
    return interp


@pytest.fixture(scope="module")
def reference(shared_dir, interpreter):
    return {p.name: (cv2.imread(str(p)), *_reference(interpreter, cv2.imread(str(p)))) for p in _images(shared_dir)}


def _dequantized(interp, name: str) -> np.ndarray:
    detail = next(t for t in interp.get_tensor_details() if t["name"] == name)
    scale, zero = detail["quantization"]
    return (interp.get_tensor(detail["index"]).astype(np.float32) - zero) * scale


def test_raw_outputs_match(reference, interpreter, cpu_detector):
    from trtssd.conversion.tflite import inspect_tflite
    from trtssd.detector import preprocess

    info = inspect_tflite(_tflite_path(interpreter))
    score_diffs, box_diffs = [], []
    for image, *_ in reference.values():
        x = preprocess([image], (300, 300))
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        boxes, scores = cpu_detector.backend.infer(x)
        score_diffs.append(np.abs(_dequantized(interpreter, info.score_tensor) - scores))
        box_diffs.append(np.abs(_dequantized(interpreter, info.box_tensor) - boxes))
    s, b = np.stack(score_diffs), np.stack(box_diffs)
    print(f"scores max {s.max():.4f} mean {s.mean():.5f}; box encodings max {b.max():.3f} mean {b.mean():.4f}")
    assert s.mean() <= 0.003 and s.max() <= 0.12
    assert b.mean() <= 0.06 and b.max() <= 1.5


def _detector(quant_artifact, fast: bool) -> Detector:
    iou = quant_artifact[1].postprocess.iou_threshold
    if fast:
        return Detector(str(quant_artifact[0]), conf_th=1e-8, iou_th=iou, max_det=10, class_agnostic=True)
    return Detector(str(quant_artifact[0]), conf_th=0.01, iou_th=iou, max_det=100)


def _match(ours, box, cls):
    """Best IoU among our detections of class ``cls`` and that detection's score."""
    same = ours[ours.class_id == cls]
    if not len(same):
        return 0.0, None
    ious = box_iou(box[None], same.xyxy)[0]
    j = int(ious.argmax())
    return float(ious[j]), float(same.confidence[j])


def test_reference_detections_are_reproduced(reference, quant_artifact):
    checked, reproduced, worst_score, misses = 0, 0, 0.0, []
    with _detector(quant_artifact, fast=False) as det:
        for name, (image, ref_xyxy, ref_scores, ref_cls) in reference.items():
            ours = det.detect(image)
            for box, score, cls in zip(ref_xyxy, ref_scores, ref_cls):
                if score < REF_MIN_SCORE:
                    continue
                checked += 1
                iou, our_score = _match(ours, box, cls)
                if iou < IOU_MIN:
                    misses.append(f"{name}: class {cls} ({score:.2f}) best IoU {iou:.2f}")
                    continue
                reproduced += 1
                assert abs(our_score - score) <= SCORE_TOL, f"{name}: class {cls}: score {our_score:.3f} vs {score:.3f}"
                worst_score = max(worst_score, abs(our_score - float(score)))
    assert checked >= 30, f"expected >= 30 reference detections to compare, found {checked}"
    print(f"reproduced {reproduced}/{checked}, worst |score diff| {worst_score:.3f}; misses: {misses}")
    assert reproduced / checked >= REPRODUCED_MIN, misses


def test_fast_nms_configuration_gives_the_same_detections(reference, quant_artifact):
    total = same = 0
    with _detector(quant_artifact, fast=True) as det:
        for name, (image, ref_xyxy, ref_scores, ref_cls) in reference.items():
            ours = det.detect(image)
            assert len(ours) <= 10
            if name.startswith("tensorrt_demos"):  # the photos' best detection is the same object
                assert ours.class_id[0] == ref_cls[0]
                assert box_iou(ref_xyxy[:1], ours.xyxy[:1])[0, 0] >= IOU_MIN
            for box, score, cls in zip(ref_xyxy, ref_scores, ref_cls):
                if score >= REF_MIN_SCORE:
                    total += 1
                    same += _match(ours, box, cls)[0] >= IOU_MIN
    assert same / total >= FAST_MATCH_MIN, f"fast NMS: {same}/{total} reference detections reproduced"
    print(f"fast NMS: {same}/{total} reference detections reproduced with the same class")
