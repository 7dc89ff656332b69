"""The sink contract: ``write(frame, detections, annotated)`` per frame; ``close()`` finalises."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from trtssd.detections import Detections
from trtssd.sources.base import Frame


class Sink(ABC):
    #: whether :meth:`write` uses the annotated image (the pipeline skips drawing if no sink does).
    wants_annotated: bool = True

    @abstractmethod
    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        """Consume one frame's result. ``annotated``: BGR uint8 image with boxes drawn (or None)."""

    @property
    def stop_requested(self) -> bool:
        """True once the user asked to stop through this sink (ESC, window closed)."""
        return False

    def close(self) -> None:
        """Flush and finalise (idempotent)."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
