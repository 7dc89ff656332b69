"""Detector.detect_batch(..., timings): equal to Detector.detect, with the stages each backend level allows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest



@pytest.mark.parametrize("level, stages", [
    ("raw", {"preprocess", "infer", "postprocess"}),
    ("postprocess_in_backend", {"preprocess", "infer"}),
    ("frames_in_backend", {"infer"}),
])
def test_stages_per_backend_level(cpu_detector, shared_dir, monkeypatch, level, stages):
    image = cv2.imread(str(shared_dir / "media" / "tensorrt_demos_huskies.png"))
    expected = cpu_detector.detect(image)
    backend = cpu_detector.backend
    if level == "postprocess_in_backend":  # the backend-side hook, served here by the CPU postprocess
        monkeypatch.setattr(backend, "postprocess_in_backend", True, raising=False)
        monkeypatch.setattr(backend, "detect", lambda images, sizes, nms: cpu_detector.postprocess(*backend.infer(images), sizes),
                            raising=False)
    elif level == "frames_in_backend":
        from trtssd.detector import preprocess

        monkeypatch.setattr(backend, "frames_in_backend", True, raising=False)
        monkeypatch.setattr(backend, "detect_frames", lambda frames, nms: cpu_detector.postprocess(
            *backend.infer(preprocess(frames, cpu_detector.info.input_size)), [(f.shape[1], f.shape[0]) for f in frames]),
            raising=False)
    seconds: dict[str, float] = {}
    dets = cpu_detector.detect_batch([image], seconds)[0]
    assert set(seconds) == stages and all(v >= 0 for v in seconds.values())
    assert len(dets) == len(expected) > 0
    np.testing.assert_allclose(dets.xyxy, expected.xyxy, atol=1e-4)
    np.testing.assert_array_equal(dets.class_id, expected.class_id)
