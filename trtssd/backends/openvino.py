"""OpenVINO backend (CPU): the fastest CPU path on x86, chosen by ``--backend auto`` there.

It runs the artifact's INT8 variant when the converter wrote one (QAT-quantized models: the
model's own quantization, :mod:`trtssd.conversion.qdq`), with uint8 x int8 convolutions (VNNI
where the CPU has it); otherwise the float artifact in FP32. It takes the host path of the
backend contract (:class:`~trtssd.backends.base.Backend`): OpenCV resize, :meth:`infer` (uint8
``[N, H, W, 3]`` RGB in, raw float32 ``(box_encodings, class_scores)`` out), numpy postprocessing. One compiled model per batch size (static shapes): batch 1 when the
backend is created, others on first use.
"""

from __future__ import annotations

import logging
import platform
import threading
from pathlib import Path

import numpy as np

from trtssd.backends.base import Backend
from trtssd.conversion.artifact import BOXES_NAME, INPUT_NAME, SCORES_NAME, ArtifactInfo, int8_variant_path
from trtssd.errors import BackendError
from trtssd.postprocess.nms import NmsParams

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "int8", "fp32")
X86 = ("x86_64", "amd64", "i386", "i686", "x86")


def is_available() -> bool:
    """True on an x86 CPU with the ``openvino`` package importable (what ``--backend auto`` needs;
    on ARM CPUs ONNX Runtime stays the CPU backend)."""
    if platform.machine().lower() not in X86:
        return False
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


# OpenVINO's Python tensor accessors (get_tensor, the input dispatcher of infer()) deadlocked when
# two threads, each with its own compiled model, called them at once (seen with 2 pipeline
# workers). So each request binds its tensors to our own numpy buffers once, under this lock, and
# each call only copies in, runs (start_async + wait, which release the GIL) and copies out.
_OV_LOCK = threading.Lock()


class _Request:
    """One infer request of a static-shape compiled model, its I/O bound to numpy buffers."""

    def __init__(self, compiled, batch: int, size_hw: tuple[int, int]) -> None:
        import openvino as ov

        self.request = compiled.create_infer_request()
        self.images = np.zeros((batch, *size_hw, 3), np.uint8)
        self.request.set_tensor(INPUT_NAME, ov.Tensor(self.images, shared_memory=True))
        self.outputs = []
        for name in (BOXES_NAME, SCORES_NAME):
            shape = tuple(int(d) for d in compiled.output(name).get_shape())
            buf = np.zeros(shape, np.float32)
            self.request.set_tensor(name, ov.Tensor(buf, shared_memory=True))
            self.outputs.append(buf)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        np.copyto(self.images, images)
        self.request.start_async()
        self.request.wait()
        return self.outputs[0].copy(), self.outputs[1].copy()


class OpenVinoBackend(Backend):
    """Runs the artifact with OpenVINO on the CPU.

    Args:
        nms: NMS settings, fixed for the backend's life (see :class:`~trtssd.backends.base.Backend`).
        precision: ``auto`` (INT8 variant when present, else FP32), ``int8`` or ``fp32``.
        intra_op_threads: inference threads (default: OpenVINO's choice, all cores).
    """

    name = "openvino"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                 precision: str = "auto", intra_op_threads: int | None = None) -> None:
        super().__init__(artifact_path, info, nms)
        if precision not in PRECISIONS:
            raise BackendError(f"openvino precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendError(f"backend 'openvino' is not installed: pip install 'trtssd[openvino]' ({exc})") from None
        int8 = int8_variant_path(artifact_path)
        if precision == "int8" and not int8.is_file():
            raise BackendError(f"openvino int8: expected the INT8 variant {int8} (written for QAT-quantized "
                               f"TFLite models), found none")
        use_int8 = precision != "fp32" and int8.is_file()
        self.precision = "int8" if use_int8 else "fp32"
        self.model_path = int8 if use_int8 else Path(artifact_path)
        self._core = ov.Core()
        self._config = {"PERFORMANCE_HINT": "LATENCY"}
        if not use_int8:  # FP32 everywhere (OpenVINO would otherwise pick bf16 on CPUs that have it)
            self._config["INFERENCE_PRECISION_HINT"] = "f32"
        if intra_op_threads:
            self._config["INFERENCE_NUM_THREADS"] = int(intra_op_threads)
        try:
            self._model = self._core.read_model(str(self.model_path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long messages
            raise BackendError(f"openvino could not read {self.model_path}: {str(exc).strip().splitlines()[0]}") from None
        self._requests: dict[int, _Request] = {}
        self._request(1)  # compile batch 1 now: loading, not the first frame, takes that time
        log.info("openvino: %s (%s)", self.model_path.name, self.precision)

    def _request(self, batch: int) -> _Request:
        req = self._requests.get(batch)
        if req is None:
            h, w = self.info.input_size
            model = self._model.clone()
            model.reshape({INPUT_NAME: [batch, h, w, 3]})
            with _OV_LOCK:
                try:
                    compiled = self._core.compile_model(model, "CPU", self._config)
                except Exception as exc:
                    raise BackendError(f"openvino could not compile {self.model_path.name}: "
                                       f"{str(exc).strip().splitlines()[0]}") from None
                req = self._requests[batch] = _Request(compiled, batch, (h, w))
        return req

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.info.input_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (h, w, 3):
            raise ValueError(f"images: expected uint8 [N, {h}, {w}, 3], found {images.dtype} {list(images.shape)}")
        return self._request(images.shape[0]).run(images)

    def close(self) -> None:
        self._requests.clear()
