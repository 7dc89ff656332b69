"""``onnxruntime-nms``: the engine-ready ONNX (NMS inside the graph) run by ONNX Runtime.

It executes the very graph TensorRT builds its engine from, so it is how that graph is verified
on machines without TensorRT (tests, CI), and a CPU fallback with the same outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from trtssd.backends.final import DEFAULT_MIN_SCORE, FinalDetectionsBackend, FinalOutputs
from trtssd.conversion.artifact import INPUT_NAME, ArtifactInfo
from trtssd.conversion.engine_onnx import OUTPUT_NAMES, ensure_engine_onnx
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams


def is_available() -> bool:
    return True


class OnnxRuntimeNmsBackend(FinalDetectionsBackend):
    name = "onnxruntime-nms"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 min_score: float = DEFAULT_MIN_SCORE, providers: list[str] | None = None,
                 intra_op_threads: int | None = None) -> None:
        super().__init__(artifact_path, info, nms, min_score)
        self._providers = providers or ["CPUExecutionProvider"]
        self._threads = intra_op_threads or int(os.environ.get("TRTSSD_ORT_THREADS", "0"))
        self._session = None
        self.engine_onnx_path: Path | None = None

    def _load(self, baked: NmsParams) -> None:
        import onnxruntime as ort

        path = ensure_engine_onnx(self.artifact_path, baked, self.info)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=self._providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f"onnxruntime could not load {path}: {exc}") from None
        self.engine_onnx_path = path

    def _run(self, images: np.ndarray) -> FinalOutputs:
        num, boxes, scores, classes = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: images})
        return num, boxes, scores, classes

    def close(self) -> None:
        self._session = None
