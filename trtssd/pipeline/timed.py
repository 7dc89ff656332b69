"""One frame through a Detector with per-stage timing, honouring the backend's level hooks."""

from __future__ import annotations

import time

import numpy as np

from trtssd.detections import Detections
from trtssd.detector import Detector, preprocess


def detect_timed(detector: Detector, image_bgr: np.ndarray) -> tuple[Detections, dict[str, float]]:
    """Detections of one BGR uint8 ``[H, W, 3]`` frame and the seconds spent per stage.

    Stages: ``preprocess``, ``infer``, ``postprocess``; a backend that takes raw frames
    (``frames_in_backend``) reports one ``infer`` stage, one that decodes + NMSes itself
    (``postprocess_in_backend``) reports ``preprocess`` and ``infer``. Results equal ``detector.detect``.
    """
    backend = detector.backend
    sizes = [(image_bgr.shape[1], image_bgr.shape[0])]
    t0 = time.perf_counter()
    if getattr(backend, "frames_in_backend", False):
        dets = detector.detect_batch([image_bgr])[0]
        return dets, {"infer": time.perf_counter() - t0}
    images = preprocess([image_bgr], detector.info.input_size)
    t1 = time.perf_counter()
    if getattr(backend, "postprocess_in_backend", False):
        dets = detector.detect_images(images, sizes)[0]
        return dets, {"preprocess": t1 - t0, "infer": time.perf_counter() - t1}
    boxes, scores = backend.infer(images)
    t2 = time.perf_counter()
    dets = detector.postprocess(boxes, scores, sizes)[0]
    return dets, {"preprocess": t1 - t0, "infer": t2 - t1, "postprocess": time.perf_counter() - t2}
