"""The three real SSD exports (issue 10), converted and checked against each export's own runtime
on real images (the two photos and the first COCO_IMAGES images of the COCO subset):

* ``pedestrian_ssdlite_mobilenet_v2`` (TF1 frozen graph): TensorFlow running the frozen graph end
  to end, its in-graph ``BatchMultiClassNonMaxSuppression`` included;
* ``ssdlite_mobilenet_v2_coco`` (TF.js graph model): TensorFlow running the graph rebuilt from
  ``model.json``; the export stops before NMS, so its decoded boxes and sigmoid scores
  (``Postprocessor/ExpandDims_1``, ``Postprocessor/Slice``) go through TensorFlow's
  ``combined_non_max_suppression`` (per class, IoU 0.6, 100 per class and in total);
* ``ssd_mobilenet_v2_oidv4`` (raw-output TFLite): the TFLite interpreter (ai-edge-litert); the
  file has no postprocessing, so its raw outputs are decoded here (FasterRcnnBoxCoder 10/10/5/5
  with the spec's anchors, sigmoid) and go through the same TensorFlow NMS.

Every image is fed at the model's input size, resized once with OpenCV exactly as the Detector
does, so the in-graph resize of the TF graphs is the identity and all runtimes see the same pixels.

Tolerances: raw network outputs max |diff| <= RAW_ATOL; detections with score >= MIN_SCORE on
either side have a counterpart of the same class with IoU >= 0.9 and score within 0.02.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from trtssd.detector import Detector, preprocess
from trtssd.postprocess.boxes import box_iou

pytestmark = pytest.mark.slow

COCO_IMAGES = 22  # + 2 photos = 24 images
MIN_SCORE = 0.3
IOU_MIN, SCORE_TOL = 0.9, 0.02
RAW_ATOL = {"logits": 2e-3, "boxes": 2e-3}


def _images(shared_dir):
    paths = [shared_dir / "media" / "tensorrt_demos_huskies.png", shared_dir / "media" / "tensorrt_demos_dog.jpg"]
    paths += sorted((shared_dir / "data" / "coco_val2017_subset158" / "val2017").glob("*.jpg"))[:COCO_IMAGES]
    return [(p.name, cv2.imread(str(p))) for p in paths]


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def _tf_nms(boxes_yxyx: np.ndarray, scores: np.ndarray):
    """TensorFlow per-class NMS as the OD API SSD configs set it: boxes [A, 4], scores [A, K]
    (no background) -> (yxyx [D, 4], scores [D], class ids [D], 1-based)."""
    tf = _tf()
    b, s, c, n = tf.image.combined_non_max_suppression(
        boxes_yxyx[None, :, None, :].astype(np.float32), scores[None].astype(np.float32),
        max_output_size_per_class=100, max_total_size=100, iou_threshold=0.6, score_threshold=0.01,
        clip_boxes=False)
    n = int(n[0])
    return b[0, :n].numpy(), s[0, :n].numpy(), c[0, :n].numpy().astype(np.int64) + 1


class _TfGraph:
    """A GraphDef in a TF1 session; ``run(image [1, H, W, 3] uint8, names)``."""

    def __init__(self, graph_def) -> None:
        tf = _tf()
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.sess = tf.compat.v1.Session(graph=self.graph)

    def run(self, image: np.ndarray, names: list[str]):
        return self.sess.run([self.graph.get_tensor_by_name(n) for n in names], {"image_tensor:0": image})


def _decode(enc: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """FasterRcnnBoxCoder decode (scales 10, 10, 5, 5): [A, 4] (ty, tx, th, tw) -> yxyx."""
    ty, tx, th, tw = (enc / np.array([10.0, 10.0, 5.0, 5.0])).T
    yc, xc = ty * anchors[:, 2] + anchors[:, 0], tx * anchors[:, 3] + anchors[:, 1]
    h, w = np.exp(th) * anchors[:, 2], np.exp(tw) * anchors[:, 3]
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)


def _reference_fn(name: str, source, info):
    """(image [1, H, W, 3] uint8 RGB at the input size) -> (raw enc [A, 4], raw logits [A, C],
    detections (yxyx normalised, scores, class ids))."""
    if name == "ssd_mobilenet_v2_oidv4":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(str(source))
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        outs = {d["name"]: d["index"] for d in interp.get_output_details()}

        def run(image):
            interp.set_tensor(inp["index"], (image.astype(np.float32) * (2.0 / 255.0) - 1.0))
            interp.invoke()
            enc = interp.get_tensor(outs["raw_outputs/box_encodings"])[0]
            logits = interp.get_tensor(outs["raw_outputs/class_predictions"])[0]
            scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
            return enc, logits, _tf_nms(_decode(enc.astype(np.float64), info.anchors_cyxhw.astype(np.float64)), scores[:, 1:])
        return run
    if name == "pedestrian_ssdlite_mobilenet_v2":
        from trtssd.conversion.tfgraph import load_frozen_graph

        graph = _TfGraph(load_frozen_graph(source))

        def run(image):
            enc, logits, boxes, scores, classes, num = graph.run(image, [
                "concat:0", "concat_1:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0",
                "num_detections:0"])
            n = int(num[0])
            return enc[0].reshape(-1, 4), logits[0], (boxes[0, :n], scores[0, :n], classes[0, :n].astype(np.int64))
        return run
    from trtssd.conversion.tfjs import load_tfjs_graph

    graph = _TfGraph(load_tfjs_graph(source))

    def run(image):
        enc, logits, decoded, scores = graph.run(image, [
            "concat:0", "concat_1:0", "Postprocessor/ExpandDims_1:0", "Postprocessor/Slice:0"])
        return enc[0].reshape(-1, 4), logits[0], _tf_nms(decoded[0, :, 0], scores[0])
    return run


def _unmatched(a, b) -> list[str]:
    """Detections of ``a`` (xyxy, scores, classes) scoring >= MIN_SCORE without a counterpart in ``b``."""
    missing = []
    iou = box_iou(a[0], b[0]) if len(a[0]) and len(b[0]) else np.zeros((len(a[0]), len(b[0])))
    for i, (s, c) in enumerate(zip(a[1], a[2])):
        if s < MIN_SCORE:
            continue
        ok = (b[2] == c) & (iou[i] >= IOU_MIN) & (np.abs(b[1] - s) <= SCORE_TOL)
        if not ok.any():
            missing.append(f"class {c} score {s:.3f} box {np.round(a[0][i], 1).tolist()}")
    return missing


@pytest.mark.parametrize("name", ["pedestrian_ssdlite_mobilenet_v2", "ssdlite_mobilenet_v2_coco", "ssd_mobilenet_v2_oidv4"])
def test_detections_match_the_exports_own_runtime(real_export, shared_dir, name):
    artifact, info, source = real_export(name)
    reference = _reference_fn(name, source, info)
    compared, problems, raw_diff = 0, [], [0.0, 0.0]
    with Detector(str(artifact), "onnxruntime", conf_th=0.01) as det:
        for img_name, frame in _images(shared_dir):
            image = preprocess([frame], info.input_size)
            enc, logits = det.backend.infer(image)
            ref_enc, ref_logits, (yxyx, scores, classes) = reference(image)
            raw_diff = [max(raw_diff[0], float(np.abs(enc[0] - ref_enc).max())),
                        max(raw_diff[1], float(np.abs(logits[0] - ref_logits).max()))]
            assert raw_diff[0] <= RAW_ATOL["boxes"] and raw_diff[1] <= RAW_ATOL["logits"], (img_name, raw_diff)
            h, w = frame.shape[:2]
            ref = (np.clip(yxyx, 0, 1)[:, [1, 0, 3, 2]] * np.array([w, h, w, h]), scores, classes)
            got = det.detect(frame)
            mine = (got.xyxy, got.confidence, got.class_id)
            compared += int((scores >= MIN_SCORE).sum())
            problems += [f"{img_name}: reference {m} not reproduced" for m in _unmatched(ref, mine)]
            problems += [f"{img_name}: trtssd {m} not in the reference" for m in _unmatched(mine, ref)]
    print(f"{name}: {compared} reference detections >= {MIN_SCORE} on {len(_images(shared_dir))} images; "
          f"raw max |diff| boxes {raw_diff[0]:.2e} logits {raw_diff[1]:.2e}")
    assert not problems, "\n".join(problems)
    assert compared >= 20, f"only {compared} reference detections >= {MIN_SCORE}: the comparison says little"
