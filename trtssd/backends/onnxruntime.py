"""ONNX Runtime backend (CPU by default): the embedded default, works on any machine.

The host path of :class:`~trtssd.backends.base.Backend`: OpenCV resize, the network in ONNX Runtime,
the numpy reference postprocessing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trtssd.backends.base import Backend
from trtssd.conversion.artifact import BOXES_NAME, INPUT_NAME, SCORES_NAME, ArtifactInfo
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 providers: list[str] | None = None, intra_op_threads: int | None = None) -> None:
        super().__init__(artifact_path, info, nms)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads or int(os.environ.get("TRTSSD_ORT_THREADS", "0"))
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(artifact_path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f"onnxruntime could not load {artifact_path}: {exc}") from None

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"images: expected uint8 [N, {h}, {w}, 3], found {images.dtype} {list(images.shape)}")
        boxes, scores = self._session.run([BOXES_NAME, SCORES_NAME], {INPUT_NAME: images})
        return boxes, scores
