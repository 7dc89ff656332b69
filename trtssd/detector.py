"""``Detector``: frames in, :class:`Detections` out, on any backend."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from trtssd.backends.base import Backend, create_backend
from trtssd.conversion.api import ensure_artifact
from trtssd.detections import Detections
from trtssd.postprocess.detect import postprocess_batch
from trtssd.postprocess.nms import NmsParams


def preprocess(frames_bgr: Sequence[np.ndarray], size_hw: tuple[int, int]) -> np.ndarray:
    """BGR uint8 frames of any size -> uint8 ``[N, H, W, 3]`` RGB, resized (bilinear, full frame)."""
    h, w = size_hw
    out = np.empty((len(frames_bgr), h, w, 3), dtype=np.uint8)
    for i, frame in enumerate(frames_bgr):
        if frame is None or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            found = None if frame is None else f"{frame.dtype} {list(frame.shape)}"
            raise ValueError(f"frame: expected a uint8 [H, W, 3] BGR image, found {found}")
        cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB, dst=out[i])
    return out


class _StageClock:
    """Adds the seconds since the previous lap to ``timings[stage]`` (no-op when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


class Detector:
    """An SSD detector.

    Args:
        model: registered model name, or path to a .tflite / trtssd .onnx file.
        backend: backend name (``onnxruntime``, ``auto``, ...); create the Detector in the thread
            that will call :meth:`detect` when the backend holds a GPU context.
        conf_th: score threshold; iou_th / max_det default to the model's exported postprocessing.
        class_agnostic: TFLite-style "fast NMS" (best class per anchor, one NMS) instead of the
            TF OD API per-class NMS.
        model_dir: extra directory searched for model files.
    """

    def __init__(self, model: str | Path, backend: str = "onnxruntime", *, conf_th: float = 0.3,
                 iou_th: float | None = None, max_det: int | None = None, class_agnostic: bool = False,
                 model_dir: Path | str | None = None, backend_options: dict | None = None) -> None:
        self.artifact_path, self.info = ensure_artifact(str(model), model_dir)
        pp = self.info.postprocess
        self.nms = NmsParams(
            score_threshold=conf_th,
            iou_threshold=pp.iou_threshold if iou_th is None else iou_th,
            max_per_class=pp.max_detections_per_class if max_det is None else max_det,
            max_total=pp.max_total_detections if max_det is None else max_det,
            class_agnostic=class_agnostic,
        )
        self.backend: Backend = create_backend(backend, self.artifact_path, self.info, **(backend_options or {}))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """One BGR uint8 frame ``[H, W, 3]`` -> its detections in that frame's pixels."""
        return self.detect_batch([frame_bgr])[0]

    def detect_batch(self, frames_bgr: Sequence[np.ndarray], timings: dict[str, float] | None = None) -> list[Detections]:
        """Several frames (any sizes) in one backend call.

        ``timings``: if given, seconds per stage are added to it: ``preprocess``, ``infer``,
        ``postprocess`` — as far as the backend's level separates them (a backend that takes raw
        frames reports only ``infer``; one with NMS inside, ``preprocess`` and ``infer``).
        """
        clock = _StageClock(timings)
        if self.backend.frames_in_backend:
            dets = self.backend.detect_frames(frames_bgr, self.nms)
            clock.lap("infer")
            return dets
        images = preprocess(frames_bgr, self.info.input_size)
        clock.lap("preprocess")
        return self.detect_images(images, [(f.shape[1], f.shape[0]) for f in frames_bgr], clock)

    def detect_images(self, images: np.ndarray, sizes_wh: Sequence[tuple[int, int]],
                      clock: "_StageClock | None" = None) -> list[Detections]:
        """Preprocessed uint8 ``[N, H, W, 3]`` RGB images + original frame sizes -> detections."""
        clock = clock or _StageClock(None)
        if self.backend.postprocess_in_backend:
            dets = self.backend.detect(images, sizes_wh, self.nms)
            clock.lap("infer")
            return dets
        boxes, scores = self.backend.infer(images)
        clock.lap("infer")
        dets = self.postprocess(boxes, scores, sizes_wh)
        clock.lap("postprocess")
        return dets

    def postprocess(self, boxes: np.ndarray, scores: np.ndarray, sizes_wh: Sequence[tuple[int, int]]) -> list[Detections]:
        """Raw backend outputs -> detections (see :func:`postprocess_batch`)."""
        i = self.info
        return postprocess_batch(boxes, scores, i.anchors_cyxhw, i.box_coder, i.score_activation, self.nms, sizes_wh, i.labels)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
