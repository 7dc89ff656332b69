"""``Detector``: a model + a backend, frames in, :class:`Detections` out.

It resolves the model to its artifact (converting on first use), fixes the NMS settings and builds
the backend with them (:func:`~trtssd.backends.base.create_backend`); every backend then takes
frames and returns detections (:meth:`~trtssd.backends.base.Backend.detect`). Create it in the
thread that will call :meth:`detect` when the backend holds a GPU context (the engine's inference
thread does).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trtssd.backends.base import Backend, create_backend, preprocess
from trtssd.conversion.api import ensure_artifact
from trtssd.detections import Detections
from trtssd.postprocess.nms import NmsParams

__all__ = ["Detector", "preprocess"]


class Detector:
    """An SSD detector.

    Args:
        model: registered model name, or path to a .tflite / trtssd .onnx file.
        backend: backend name (``onnxruntime``, ``auto``, ...).
        conf_th: score threshold; iou_th / max_det default to the model's exported postprocessing.
        class_agnostic: TFLite-style "fast NMS" (best class per anchor, one NMS) instead of the
            TF OD API per-class NMS.
        model_dir: extra directory searched for model files.
        backend_options: backend-specific keyword arguments (``precision``, ``device``, ...).
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
        self.backend: Backend = create_backend(backend, self.artifact_path, self.info, self.nms,
                                               **(backend_options or {}))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """One BGR uint8 frame ``[H, W, 3]`` -> its detections in that frame's pixels."""
        return self.backend.detect([frame_bgr])[0]

    def detect_batch(self, frames_bgr: Sequence[np.ndarray], timings: dict[str, float] | None = None) -> list[Detections]:
        """Several frames (any sizes) in one backend call; ``timings`` gets seconds per stage
        (see :meth:`~trtssd.backends.base.Backend.detect`)."""
        return self.backend.detect(frames_bgr, timings)

    def postprocess(self, boxes: np.ndarray, scores: np.ndarray, sizes_wh: Sequence[tuple[int, int]]) -> list[Detections]:
        """Raw network outputs -> detections with the numpy reference and this detector's NMS."""
        return self.backend.postprocess(boxes, scores, sizes_wh)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
