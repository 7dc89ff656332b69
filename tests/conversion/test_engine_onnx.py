"""Engine-ready ONNX (NMS in-graph): validity, and agreement with the numpy CPU postprocessing,
on synthetic outputs (threshold/tie semantics) and on the real quantised SSD (detections + mAP)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtssd.backends.final import default_nms, final_to_detections
from trtssd.backends.onnxruntime_nms import OnnxRuntimeNmsBackend
from trtssd.conversion.artifact import ArtifactInfo, write_info
from trtssd.conversion.engine_onnx import (NMS_METADATA_KEY, OUTPUT_NAMES, ensure_engine_onnx, read_nms,
                                           write_engine_onnx)
from trtssd.detector import Detector, preprocess
from trtssd.models.spec import BoxCoderSpec, PostprocessSpec
from trtssd.postprocess.detect import postprocess_batch
from trtssd.postprocess.nms import NmsParams

@pytest.fixture(scope="module")
def cpu_detector(quant_artifact):
    """CPU reference Detector (numpy decoding + NMS) at conf 0.05, on the session's artifact."""
    with Detector(str(quant_artifact[0]), conf_th=0.05) as det:
        yield det


# ---- synthetic artifact: constant raw outputs broadcast to the batch -----------------------------

def _synthetic_artifact(path: Path, enc: np.ndarray, raw: np.ndarray, anchors: np.ndarray, activation: str) -> ArtifactInfo:
    """A trtssd artifact whose outputs are ``enc`` [A, 4] / ``raw`` [A, C] for every image."""
    a, c = raw.shape
    shape_n = helper.make_node("Shape", ["images"], ["shp"], start=0, end=1)
    nodes = [shape_n]
    inits = [numpy_helper.from_array(enc[None].astype(np.float32), "enc"),
             numpy_helper.from_array(raw[None].astype(np.float32), "raw"),
             numpy_helper.from_array(np.array([a, 4], np.int64), "s_enc"),
             numpy_helper.from_array(np.array([a, c], np.int64), "s_raw")]
    for name, out, s in (("enc", "box_encodings", "s_enc"), ("raw", "class_scores", "s_raw")):
        nodes += [helper.make_node("Concat", ["shp", s], [f"{name}_shape"], axis=0),
                  helper.make_node("Expand", [name, f"{name}_shape"], [out])]
    graph = helper.make_graph(
        nodes, "synthetic",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 2, 2, 3])],
        [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["batch", a, 4]),
         helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, ["batch", a, c])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    info = ArtifactInfo(
        model_name="synthetic", source_sha256="0" * 64, converter="test", input_size=(2, 2),
        anchors_cyxhw=anchors.astype(np.float32), box_coder=BoxCoderSpec(), score_activation=activation,
        labels=tuple(f"c{i}" for i in range(c)), postprocess=PostprocessSpec(score_activation=activation),
    )
    write_info(model, info)
    onnx.save(model, str(path))
    return info


# Anchors: 0 and 1 overlap heavily (IoU 0.81), 2 is disjoint, 3 overlaps 2 a little (IoU ~0.14).
_ANCHORS = np.array([[0.3, 0.3, 0.4, 0.4], [0.32, 0.32, 0.4, 0.4], [0.75, 0.75, 0.3, 0.3], [0.85, 0.85, 0.3, 0.3]])
_CASES = {
    # name: (raw scores [A, C] incl. background column, activation, NmsParams)
    "score_equal_to_threshold_dropped": (
        [[0, 0.5, 0.25], [0, 0.75, 0.5], [0, 0.5, 0.125], [0, 0.25, 0.5]], "none", NmsParams(0.5, 0.6, 100, 100)),
    "tied_scores": (
        [[0, 0.75, 0.75], [0, 0.75, 0.75], [0, 0.75, 0.75], [0, 0.75, 0.75]], "none", NmsParams(0.1, 0.6, 100, 100)),
    "overlap_suppressed_per_class": (
        [[0, 0.9, 0.2], [0, 0.8, 0.95], [0, 0.3, 0.6], [0, 0.7, 0.55]], "none", NmsParams(0.1, 0.5, 100, 100)),
    "max_per_class_and_total": (
        [[0, 0.9, 0.2], [0, 0.8, 0.95], [0, 0.3, 0.6], [0, 0.7, 0.55]], "none", NmsParams(0.1, 0.9, 1, 3)),
    "class_agnostic": (
        [[0, 0.9, 0.2], [0, 0.8, 0.95], [0, 0.3, 0.6], [0, 0.7, 0.55]], "none", NmsParams(0.1, 0.5, 100, 100, True)),
    "class_agnostic_ties": (
        [[0, 0.5, 0.5], [0, 0.5, 0.5], [0, 0.25, 0.25], [0, 0.25, 0.5]], "none", NmsParams(0.1, 0.95, 100, 2, True)),
    "sigmoid_logits": (
        [[0, 2.0, -1.0], [0, 1.0, 3.0], [0, -3.0, 0.5], [0, 0.5, 0.0]], "sigmoid", NmsParams(0.3, 0.5, 100, 100)),
    "ties_across_classes_follow_class_best_score": (  # class 2 has the higher best score: its 0.5 first
        [[0, 0.5, 0.9], [0, 0.5, 0.5], [0, 0.25, 0.5], [0, 0.125, 0.125]], "none", NmsParams(0.1, 0.95, 100, 3)),
    "softmax_logits": (
        [[0, 2.0, -1.0], [3, 1.0, 3.0], [0, -3.0, 0.5], [1, 0.5, 0.0]], "softmax", NmsParams(0.2, 0.5, 100, 100)),
    "nothing_above_threshold": (
        [[0, 0.1, 0.1], [0, 0.1, 0.1], [0, 0.1, 0.1], [0, 0.1, 0.1]], "none", NmsParams(0.5, 0.5, 100, 100)),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_synthetic_matches_numpy_postprocess(tmp_path, case):
    raw, activation, nms = _CASES[case]
    raw = np.asarray(raw, np.float32)
    rng = np.random.default_rng(0)
    enc = rng.normal(0, 0.2, size=(4, 4)).astype(np.float32)
    info = _synthetic_artifact(tmp_path / "a.onnx", enc, raw, _ANCHORS, activation)
    path = write_engine_onnx(tmp_path / "a.onnx", tmp_path / "e.onnx", nms)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = sess.run(list(OUTPUT_NAMES), {"images": np.zeros((2, 2, 2, 3), np.uint8)})
    got = final_to_detections(outs, [(100, 50)] * 2, info.labels, nms.score_threshold)
    want = postprocess_batch(np.stack([enc, enc]), np.stack([raw, raw]), info.anchors_cyxhw, info.box_coder,
                             activation, nms, [(100, 50)] * 2, info.labels)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.class_id, w.class_id)
        np.testing.assert_allclose(g.confidence, w.confidence, rtol=1e-6)
        np.testing.assert_allclose(g.xyxy, w.xyxy, atol=1e-4)
    assert outs[0].dtype == np.int32 and outs[3].dtype == np.int32


# ---- the real model ---------------------------------------------------------------------------

def _coco_images(shared: Path, n: int | None = None) -> list[Path]:
    d = shared / "data" / "coco_val2017_subset158" / "val2017"
    files = sorted(d.glob("*.jpg"))
    return files[:n] if n else files


def test_engine_onnx_is_valid_with_dynamic_batch(cpu_detector):
    nms = default_nms(cpu_detector.info)
    path = ensure_engine_onnx(cpu_detector.artifact_path, nms, cpu_detector.info)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert json.loads(next(p.value for p in model.metadata_props if p.key == NMS_METADATA_KEY))["iou_threshold"] == 0.6
    assert read_nms(path) == nms
    assert "NonMaxSuppression" in {n.op_type for n in model.graph.node}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        num, boxes, scores, classes = sess.run(None, {"images": np.zeros((batch, 300, 300, 3), np.uint8)})
        assert num.shape == (batch,) and boxes.shape == (batch, 100, 4)
        assert scores.shape == classes.shape == (batch, 100)


def test_engine_onnx_cache_reused_and_keyed_by_nms(cpu_detector):
    a = default_nms(cpu_detector.info)
    p1 = ensure_engine_onnx(cpu_detector.artifact_path, a, cpu_detector.info)
    mtime = p1.stat().st_mtime_ns
    assert ensure_engine_onnx(cpu_detector.artifact_path, a, cpu_detector.info) == p1
    assert p1.stat().st_mtime_ns == mtime
    p2 = ensure_engine_onnx(cpu_detector.artifact_path, NmsParams(0.05, 0.5, 100, 100), cpu_detector.info)
    assert p2 != p1 and p2.exists()


@pytest.mark.parametrize("conf_th,class_agnostic", [(0.05, False), (0.3, False), (0.3, True)])
def test_real_model_same_detections_as_cpu(cpu_detector, shared_dir, conf_th, class_agnostic):
    frames = [cv2.imread(str(p)) for p in _coco_images(shared_dir, 12)]
    nms = NmsParams(conf_th, 0.6, 100, 100, class_agnostic)
    images = preprocess(frames, cpu_detector.info.input_size)
    sizes = [(f.shape[1], f.shape[0]) for f in frames]
    raw_boxes, raw_scores = cpu_detector.backend.infer(images)
    i = cpu_detector.info
    want = postprocess_batch(raw_boxes, raw_scores, i.anchors_cyxhw, i.box_coder, i.score_activation, nms, sizes, i.labels)
    with OnnxRuntimeNmsBackend(cpu_detector.artifact_path, i, nms=nms) as backend:
        got = backend.detect_images(images, sizes)
    assert sum(len(w.class_id) for w in want) > 0
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.class_id, w.class_id)
        np.testing.assert_array_equal(g.confidence, w.confidence)
        np.testing.assert_allclose(g.xyxy, w.xyxy, atol=0.01)  # pixels; exp() of ORT vs numpy differ by ulps


def _coco_map(per_image: dict[int, object], gt) -> float:
    from pycocotools.cocoeval import COCOeval

    res = [{"image_id": k, "category_id": int(c), "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
            "score": float(s)} for k, d in per_image.items() for b, s, c in zip(d.xyxy, d.confidence, d.class_id)]
    ev = COCOeval(gt, gt.loadRes(res), "bbox")
    ev.params.imgIds = sorted(per_image)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])


@pytest.mark.slow
def test_coco_subset_map_matches_cpu_detector(cpu_detector, shared_dir):
    """Acceptance: engine-ready ONNX in ONNX Runtime vs the CPU detector on the 158-image subset."""
    from pycocotools.coco import COCO

    root = shared_dir / "data" / "coco_val2017_subset158"
    gt = COCO(str(root / "instances_val2017_subset158.json"))
    cpu, ort_nms = {}, {}
    with OnnxRuntimeNmsBackend(cpu_detector.artifact_path, cpu_detector.info, nms=cpu_detector.nms) as backend:
        for img_id in sorted(gt.getImgIds()):
            frame = cv2.imread(str(root / "val2017" / gt.imgs[img_id]["file_name"]))
            cpu[img_id] = cpu_detector.detect(frame)
            ort_nms[img_id] = backend.detect([frame])[0]
    for k in cpu:
        np.testing.assert_array_equal(ort_nms[k].class_id, cpu[k].class_id)
        np.testing.assert_array_equal(ort_nms[k].confidence, cpu[k].confidence)
    map_cpu, map_ort = _coco_map(cpu, gt), _coco_map(ort_nms, gt)
    print(f"mAP@[.5:.95] CPU detector {map_cpu:.4f}, engine-ready ONNX in ORT {map_ort:.4f}")
    assert map_cpu > 0.1
    assert abs(map_cpu - map_ort) <= 0.002


def test_onnxruntime_nms_backend_reloads_only_when_needed(cpu_detector):
    from trtssd.errors import BackendError

    info = cpu_detector.info
    images = np.zeros((1, 300, 300, 3), np.uint8)
    with OnnxRuntimeNmsBackend(cpu_detector.artifact_path, info, nms=default_nms(info, 0.3)) as backend:
        with pytest.raises(BackendError, match="returns final detections"):
            backend.infer(images)
        num, boxes, scores, classes = backend.detect_raw(images)  # loads the default (min_score) graph
        assert backend.baked_nms == default_nms(info) and num.dtype == np.int32
        first = backend.engine_onnx_path
        backend.prepare(NmsParams(0.5, 0.6, 100, 100))  # higher conf: same graph
        assert backend.engine_onnx_path == first
        backend.prepare(NmsParams(0.01, 0.6, 100, 100))  # lower conf: new graph
        assert backend.baked_nms.score_threshold == 0.01 and backend.engine_onnx_path != first
        backend.prepare(NmsParams(0.3, 0.5, 100, 100, True))
        assert backend.baked_nms == NmsParams(0.05, 0.5, 100, 100, True)
