"""Backend.detect(frames, timings): every backend takes frames and returns detections; the stages
it reports depend on how much it does in one call."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from trtssd.backends.onnxruntime_nms import OnnxRuntimeNmsBackend


@pytest.mark.parametrize("kind, stages", [
    ("host", {"preprocess", "infer", "postprocess"}),  # onnxruntime: numpy reference postprocess
    ("in-network", {"preprocess", "infer"}),  # onnxruntime-nms: NMS inside the graph
])
def test_detect_same_result_and_stages_per_backend(cpu_detector, shared_dir, kind, stages):
    image = cv2.imread(str(shared_dir / "media" / "tensorrt_demos_huskies.png"))
    expected = cpu_detector.detect(image)
    seconds: dict[str, float] = {}
    if kind == "host":
        dets = cpu_detector.detect_batch([image], seconds)[0]
    else:
        with OnnxRuntimeNmsBackend(cpu_detector.artifact_path, cpu_detector.info, nms=cpu_detector.nms) as backend:
            dets = backend.detect([image], seconds)[0]
    assert set(seconds) == stages and all(v >= 0 for v in seconds.values())
    assert len(dets) == len(expected) > 0
    np.testing.assert_allclose(dets.xyxy, expected.xyxy, atol=0.01)
    np.testing.assert_array_equal(dets.class_id, expected.class_id)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), None])
def test_detect_rejects_non_frames(cpu_detector, bad):
    with pytest.raises(ValueError, match=r"expected a uint8 \[H, W, 3\] BGR image"):
        cpu_detector.detect_batch([bad])


def test_nms_settings_are_fixed_at_construction(quant_artifact):
    from trtssd.detector import Detector

    with Detector(str(quant_artifact[0]), "onnxruntime", conf_th=0.6, iou_th=0.4, max_det=7) as det:
        assert det.backend.nms == det.nms
        assert (det.nms.score_threshold, det.nms.iou_threshold, det.nms.max_total) == (0.6, 0.4, 7)
