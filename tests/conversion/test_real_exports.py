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
FP16_SCORE_TOL = 0.05  # FP16 network (build_engine's default precision): up to 0.020 seen on these images


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


def _reference_fn(source, info):
    """(image [1, H, W, 3] uint8 RGB at the input size) -> (raw enc [A, 4], raw logits [A, C],
    detections (yxyx normalised, scores, class ids))."""
    if source.suffix == ".tflite":
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
    if not source.is_dir():  # a frozen graph (a user's zoo ssdlite .pb would take this path too)
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


def _unmatched(a, b, score_tol: float = SCORE_TOL) -> list[str]:
    """Detections of ``a`` (xyxy, scores, classes) scoring >= MIN_SCORE without a counterpart in ``b``."""
    missing = []
    iou = box_iou(a[0], b[0]) if len(a[0]) and len(b[0]) else np.zeros((len(a[0]), len(b[0])))
    for i, (s, c) in enumerate(zip(a[1], a[2])):
        if s < MIN_SCORE:
            continue
        ok = (b[2] == c) & (iou[i] >= IOU_MIN) & (np.abs(b[1] - s) <= score_tol)
        if not ok.any():
            missing.append(f"class {c} score {s:.3f} box {np.round(a[0][i], 1).tolist()}")
    return missing


@pytest.mark.parametrize("name", ["pedestrian_ssdlite_mobilenet_v2", "ssdlite_mobilenet_v2_coco", "ssd_mobilenet_v2_oidv4"])
def test_detections_match_the_exports_own_runtime(real_export, shared_dir, name):
    artifact, info, source = real_export(name)
    reference = _reference_fn(source, info)
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


REAL = ["pedestrian_ssdlite_mobilenet_v2", "ssdlite_mobilenet_v2_coco", "ssd_mobilenet_v2_oidv4"]


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_ready_onnx_gives_the_same_detections(real_export, shared_dir, tmp_path, user_models_dir, name, precision):
    """``ssd/build_engine.py --onnx_only`` writes the engine-ready ONNX (NMS in-graph); it passes
    the full checker and, in ONNX Runtime, gives the CPU detector's detections: the same ones in
    FP32 (the file, and ``--backend onnxruntime-nms``); in FP16 (the build's default, network in
    half precision) the same classes and boxes (IoU >= 0.9) with scores within FP16_SCORE_TOL."""
    import subprocess
    import sys
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    from trtssd.backends.final import final_to_detections
    from trtssd.conversion.engine_onnx import OUTPUT_NAMES

    artifact, info, _ = real_export(name)
    out = tmp_path / f"{name}-engine.onnx"
    repo = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, str(repo / "ssd" / "build_engine.py"), name, "--model_dir", str(user_models_dir),
                        "--onnx_only", "--precision", precision, "--conf_th", "0.05", "-o", str(out)],
                       capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-2000:]
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    frames = [f for _, f in _images(shared_dir)[:12]]
    sizes = [(f.shape[1], f.shape[0]) for f in frames]
    outs = sess.run(list(OUTPUT_NAMES), {"images": preprocess(frames, info.input_size)})
    from_file = final_to_detections(outs, sizes, info.labels, 0.05)
    with Detector(str(artifact), "onnxruntime", conf_th=0.05) as cpu:
        want = cpu.detect_batch(frames)
    assert sum(len(w.class_id) for w in want) >= 10
    if precision == "fp16":
        problems = []
        for f, w in zip(from_file, want):
            a, b = (f.xyxy, f.confidence, f.class_id), (w.xyxy, w.confidence, w.class_id)
            problems += _unmatched(a, b, FP16_SCORE_TOL) + _unmatched(b, a, FP16_SCORE_TOL)
        assert not problems, problems
        return
    with Detector(str(artifact), "onnxruntime-nms", conf_th=0.05) as in_graph:
        got = in_graph.detect_batch(frames)
    for g, f, w in zip(got, from_file, want):
        for d in (g, f):
            np.testing.assert_array_equal(d.class_id, w.class_id)
            np.testing.assert_allclose(d.confidence, w.confidence, atol=1e-6)  # in-graph vs numpy sigmoid: ulps
            np.testing.assert_allclose(d.xyxy, w.xyxy, atol=0.01)  # pixels


@pytest.mark.parametrize("name, image, anchors, coder", [
    ("pedestrian_ssdlite_mobilenet_v2", "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0",
     "Concatenate/concat:0", (10.0, 10.0, 5.0, 5.0)),
    ("ssdlite_mobilenet_v2_coco", "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0",
     "Postprocessor/Reshape:0", None),  # TF.js folded the anchors and the coder's divisors
])
def test_cut_points_found_from_structure(real_export, name, image, anchors, coder):
    from trtssd.conversion.tfgraph import (
        evaluate_anchors_and_coder,
        find_ssd_graph,
        load_frozen_graph,
        spec_anchors,
    )
    from trtssd.conversion.tfjs import load_tfjs_graph
    from trtssd.models.zoo import get_spec

    source = real_export(name)[2]
    if not source.is_dir() and anchors.startswith("Postprocessor"):  # the zoo .pb instead of the TF.js files
        anchors, coder = "Concatenate/concat:0", (10.0, 10.0, 5.0, 5.0)
    gd = load_tfjs_graph(source) if source.is_dir() else load_frozen_graph(source)
    ssd = find_ssd_graph(gd)
    assert (ssd.image, ssd.boxes, ssd.classes, ssd.anchors) == (image, "concat:0", "concat_1:0", anchors)
    assert ssd.input_size == (300, 300) and ssd.coder_scales == coder and ssd.score_activation == "sigmoid"
    graph_anchors, fitted = evaluate_anchors_and_coder(gd, ssd, ssd.input_size)
    assert fitted == (10.0, 10.0, 5.0, 5.0)
    np.testing.assert_allclose(graph_anchors, spec_anchors(get_spec(name), (300, 300)), atol=1e-5)


def test_unknown_graph_lists_what_was_found_near_the_cut_points(real_export):
    """The TF.js graph with its box head and box concat renamed: the error says what is there."""
    import re

    from trtssd.conversion.tfgraph import find_ssd_graph
    from trtssd.conversion.tfjs import load_tfjs_graph
    from trtssd.errors import ConversionError

    gd = load_tfjs_graph(real_export("ssdlite_mobilenet_v2_coco")[2])
    for node in gd.node:
        node.name = re.sub("^concat$", "box_outputs", node.name.replace("BoxEncodingPredictor", "LocHead"))
        node.input[:] = [re.sub("^concat$", "box_outputs", i.replace("BoxEncodingPredictor", "LocHead")) for i in node.input]
    with pytest.raises(ConversionError) as err:
        find_ssd_graph(gd)
    msg = str(err.value)
    assert "--box_node" in msg and "Found near the cut points" in msg
    assert "resize ops: Preprocessor/map/while/ResizeImage/ResizeBilinear size 300x300" in msg
    assert "box/class concats: concat_1, box_outputs" in msg


def test_raw_output_tflite_is_described(real_export):
    from trtssd.conversion.tflite import inspect_tflite
    from trtssd.models.spec import GridAnchorSpec

    source = real_export("ssd_mobilenet_v2_oidv4")[2]
    info = inspect_tflite(source)
    assert (info.box_tensor, info.score_tensor) == ("raw_outputs/box_encodings", "raw_outputs/class_predictions")
    assert info.input_shape == (1, 300, 300, 3) and info.anchors_cyxhw.shape == (1917, 4)
    assert info.options["num_classes"] == 23
    from trtssd.errors import ModelFormatError

    with pytest.raises(ModelFormatError, match="raw outputs have 1917 anchors, the SSD anchor spec generates 2034"):
        inspect_tflite(source, GridAnchorSpec(feature_map_sizes=((20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))))


@pytest.mark.parametrize("name", REAL)
def test_torch_backend_runs_each_export(real_export, shared_dir, name):
    """The artifacts hold only ops the torch backend builds (Sum, BatchNormalization and
    Shape-computed reshapes are simplified away at conversion); on the CPU its raw outputs match
    ONNX Runtime (the GPU run is bench/gpu_real_exports.py)."""
    pytest.importorskip("torch")
    artifact, info, _ = real_export(name)
    frames = [f for _, f in _images(shared_dir)[:4]]
    images = preprocess(frames, info.input_size)
    with Detector(str(artifact), "onnxruntime") as ort_det, \
            Detector(str(artifact), "torch", backend_options={"device": "cpu"}) as torch_det:
        (b0, s0), (b1, s1) = ort_det.backend.infer(images), torch_det.backend.infer(images)
    assert np.abs(b1 - b0).max() <= 1e-3 and np.abs(s1 - s0).max() <= 1e-3
