"""trtssd: real-time SSD object detection (TFLite / TF OD API SSD -> ONNX -> ONNX Runtime / TensorRT / PyTorch).

The top-level package imports nothing heavy: ``Detections``, ``Detector`` and ``TrtSsdError`` load
on first access, so entry points can check their environment first (see trtssd/cli/bootstrap.py).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {"Detections": "trtssd.detections", "Detector": "trtssd.detector", "TrtSsdError": "trtssd.errors"}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trtssd' has no attribute {name!r}")
