"""The backend interface and factory.

A backend runs the artifact network: uint8 RGB ``[N, H, W, 3]`` in, raw ``(box_encodings
[N, A, 4], class_scores [N, A, C])`` float32 out (see :mod:`trtssd.conversion.artifact`).
Backends that hold a GPU context must be created and used in one thread — the thread that runs
inference (the async pipeline's producer); ``create_backend`` is therefore called there.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import ArtifactInfo
from trtssd.errors import BackendError

# name -> (module, class). "auto" is resolved by :func:`resolve_backend_name`.
_BACKENDS = {
    "onnxruntime": ("trtssd.backends.onnxruntime", "OnnxRuntimeBackend"),
    "onnxruntime-nms": ("trtssd.backends.onnxruntime_nms", "OnnxRuntimeNmsBackend"),
    "openvino": ("trtssd.backends.openvino", "OpenVinoBackend"),
    "tensorrt": ("trtssd.backends.tensorrt", "TensorRTBackend"),
    "torch": ("trtssd.backends.torch", "TorchBackend"),
}


class Backend(ABC):
    """Runs the artifact network on one device.

    Three levels, the Detector uses the highest a backend offers:
    ``frames_in_backend``: :meth:`detect_frames` takes raw BGR frames (device-side resize, NMS);
    ``postprocess_in_backend``: :meth:`detect` takes preprocessed images and returns detections
    (decoding + NMS inside the engine); otherwise :meth:`infer` returns raw outputs and the
    Detector runs the numpy postprocessing.
    """

    name: str = "base"
    postprocess_in_backend: bool = False
    frames_in_backend: bool = False

    def __init__(self, artifact_path: Path, info: ArtifactInfo) -> None:
        self.artifact_path = Path(artifact_path)
        self.info = info

    @abstractmethod
    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``images``: uint8 ``[N, H, W, 3]`` RGB -> ``(box_encodings [N, A, 4], class_scores [N, A, C])``."""

    def detect(self, images: np.ndarray, sizes_wh, nms) -> list:
        """uint8 ``[N, H, W, 3]`` RGB + original ``(width, height)`` per image -> ``list[Detections]``
        (only where ``postprocess_in_backend``)."""
        raise NotImplementedError(f"backend {self.name}: detect() needs postprocess_in_backend")

    def detect_frames(self, frames_bgr, nms) -> list:
        """BGR uint8 frames of any size -> ``list[Detections]`` (only where ``frames_in_backend``)."""
        raise NotImplementedError(f"backend {self.name}: detect_frames() needs frames_in_backend")

    def close(self) -> None:
        """Release device resources (idempotent)."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def available_backends() -> list[str]:
    return ["auto", *_BACKENDS]


# What ``auto`` tries, fastest first: TensorRT, torch on a CUDA GPU, OpenVINO on an x86 CPU; else
# ONNX Runtime (any CPU, e.g. ARM). Each module's ``is_available()`` decides.
AUTO_ORDER = ("tensorrt", "torch", "openvino")


def resolve_backend_name(name: str) -> str:
    """Map ``auto`` to the best installed backend (see ``AUTO_ORDER``); validate other names."""
    if name == "auto":
        for cand in AUTO_ORDER:
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


def create_backend(name: str, artifact_path: Path, info: ArtifactInfo, **options) -> Backend:
    """Instantiate backend ``name`` (``auto`` allowed) for an artifact."""
    name = resolve_backend_name(name)
    module_name, cls_name = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"backend '{name}' is not installed ({exc})") from None
    return getattr(module, cls_name)(artifact_path, info, **options)
