"""The backend contract and factory.

One contract for every backend: **frames in, detections out, NMS fixed when the backend is built.**

* :meth:`Backend.detect` takes BGR uint8 frames ``[H, W, 3]`` of any sizes (a list, or one
  ``[N, H, W, 3]`` array; a backend with a device may also take a device tensor, see
  :attr:`Backend.device`) and returns one :class:`~trtssd.detections.Detections` per frame, in that
  frame's pixels. The NMS settings (:class:`~trtssd.postprocess.nms.NmsParams`) are given to the
  constructor and never change afterwards.
* How a backend gets there is its own business: the default implementation here is the host path
  (OpenCV resize -> :meth:`Backend.infer` -> the numpy reference postprocessing); GPU backends
  resize, decode and NMS on the device and copy back only the detections; engine backends
  (TensorRT, ``onnxruntime-nms``) run NMS inside the network.
* :meth:`Backend.infer` (raw network outputs) stays for the network-only benchmark and parity
  tests; backends whose network ends in NMS raise there.

Backends that hold a GPU context are created and used in one thread, the engine's inference
thread (:mod:`trtssd.pipeline.engine`); ``create_backend`` is therefore called there.
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from trtssd.conversion.artifact import ArtifactInfo
from trtssd.detections import Detections
from trtssd.errors import BackendError
from trtssd.postprocess.detect import postprocess_batch
from trtssd.postprocess.nms import NmsParams

# name -> (module, class). "auto" is resolved by :func:`resolve_backend_name`.
_BACKENDS = {
    "onnxruntime": ("trtssd.backends.onnxruntime", "OnnxRuntimeBackend"),
    "onnxruntime-nms": ("trtssd.backends.onnxruntime_nms", "OnnxRuntimeNmsBackend"),
    "tensorrt": ("trtssd.backends.tensorrt", "TensorRTBackend"),
    "torch": ("trtssd.backends.torch", "TorchBackend"),
}

Frames = Sequence[np.ndarray] | np.ndarray


def model_nms(info: ArtifactInfo, score_threshold: float = 0.3) -> NmsParams:
    """The model's exported NMS settings (IoU, caps) with the given score threshold."""
    pp = info.postprocess
    return NmsParams(score_threshold=score_threshold, iou_threshold=pp.iou_threshold,
                     max_per_class=pp.max_detections_per_class, max_total=pp.max_total_detections)


def check_frames(frames: Frames) -> list[np.ndarray]:
    """BGR uint8 frames (a list of ``[H, W, 3]`` or one ``[N, H, W, 3]`` array) -> list of frames."""
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            frames = [frames]
        elif frames.ndim != 4:
            raise ValueError(f"frames: expected uint8 [N, H, W, 3] BGR, found {frames.dtype} {list(frames.shape)}")
    out = list(frames)
    for f in out:
        if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
            found = None if f is None else f"{getattr(f, 'dtype', type(f).__name__)} {list(getattr(f, 'shape', []))}"
            raise ValueError(f"frame: expected a uint8 [H, W, 3] BGR image, found {found}")
    return out


def preprocess(frames_bgr: Frames, size_hw: tuple[int, int]) -> np.ndarray:
    """BGR uint8 frames of any size -> uint8 ``[N, H, W, 3]`` RGB, resized (bilinear, full frame)."""
    frames = check_frames(frames_bgr)
    h, w = size_hw
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        cv2.cvtColor(cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB, dst=out[i])
    return out


class StageClock:
    """Adds the seconds since the previous lap to ``timings[stage]`` (no-op when ``timings`` is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


class Backend(ABC):
    """Runs a model on one device: frames in, :class:`Detections` out (see the module docstring).

    Args:
        artifact_path / info: the trtssd ONNX artifact and its metadata.
        nms: NMS settings, fixed for the backend's life (default: the model's, score 0.3).
    """

    name: str = "base"
    #: where :meth:`detect` can take frames without a host copy: ``"cpu"`` (numpy arrays) or a
    #: device such as ``"cuda:0"`` (device tensors ``[N, H, W, 3]`` uint8 BGR as well as arrays).
    device: str = "cpu"

    def __init__(self, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None) -> None:
        self.artifact_path = Path(artifact_path)
        self.info = info
        self.nms = nms or model_nms(info)

    def detect(self, frames: Frames, timings: dict[str, float] | None = None) -> list[Detections]:
        """BGR uint8 frames -> one Detections per frame, boxes in that frame's pixels.

        ``timings``: if given, seconds are added per stage (here ``preprocess``, ``infer``,
        ``postprocess``; a backend doing everything in one device call reports ``infer`` only).
        """
        frames = check_frames(frames)
        clock = StageClock(timings)
        images = preprocess(frames, self.info.input_size)
        clock.lap("preprocess")
        boxes, scores = self.infer(images)
        clock.lap("infer")
        dets = self.postprocess(boxes, scores, [(f.shape[1], f.shape[0]) for f in frames])
        clock.lap("postprocess")
        return dets

    def postprocess(self, boxes: np.ndarray, scores: np.ndarray, sizes_wh: Sequence[tuple[int, int]]) -> list[Detections]:
        """Raw outputs -> detections with the numpy reference (:func:`postprocess_batch`)."""
        i = self.info
        return postprocess_batch(boxes, scores, i.anchors_cyxhw, i.box_coder, i.score_activation, self.nms, sizes_wh, i.labels)

    @abstractmethod
    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``images``: uint8 ``[N, H, W, 3]`` RGB -> ``(box_encodings [N, A, 4], class_scores [N, A, C])``
        float32 (the raw network; for benchmarks and parity tests)."""

    def close(self) -> None:
        """Release device resources (idempotent)."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def available_backends() -> list[str]:
    return ["auto", *_BACKENDS]


def resolve_backend_name(name: str) -> str:
    """Map ``auto`` to the best installed backend; validate other names."""
    if name == "auto":
        for cand in ("tensorrt", "torch"):
            if cand in _BACKENDS:
                try:
                    module = importlib.import_module(_BACKENDS[cand][0])
                    if getattr(module, "is_available", lambda: False)():
                        return cand
                except ImportError:
                    pass
        return "onnxruntime"
    if name not in _BACKENDS:
        raise BackendError(f"unknown backend '{name}': expected one of {', '.join(available_backends())}")
    return name


def create_backend(name: str, artifact_path: Path, info: ArtifactInfo, nms: NmsParams | None = None,
                   **options) -> Backend:
    """Instantiate backend ``name`` (``auto`` allowed) for an artifact, with its NMS settings fixed."""
    name = resolve_backend_name(name)
    module_name, cls_name = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend '{name}' is not installed ({exc})") from None
    return getattr(module, cls_name)(artifact_path, info, nms=nms, **options)
