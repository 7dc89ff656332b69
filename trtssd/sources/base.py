"""The source contract, after jetson-utils ``videoSource``.

``read(timeout)`` returns the next :class:`Frame`, returns ``None`` at end of stream, and raises
:class:`~trtssd.errors.SourceTimeout` when a live source delivers nothing within ``timeout``
seconds. File sources deliver every frame exactly once, in order; live sources deliver the newest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    Attributes:
        image: BGR uint8 ``[H, W, 3]``.
        index: 0-based frame number within this source (counts delivered frames).
        timestamp: seconds; stream position for files, ``time.monotonic()`` at capture for live sources.
        source: the image file this frame was read from (image sources, image lists), so results
            can be joined back to their files; ``None`` for video and live sources.
    """

    image: np.ndarray
    index: int
    timestamp: float
    source: str | None = None


class Source(ABC):
    """A frame source. Use as a context manager or call :meth:`close`."""

    #: live sources (cameras, streams) drop stale frames; file sources never drop.
    is_live: bool = False

    @abstractmethod
    def read(self, timeout: float | None = None) -> Frame | None:
        """Next frame, ``None`` at end of stream; raises SourceTimeout after ``timeout`` seconds."""

    @property
    def fps(self) -> float | None:
        """Nominal frame rate, when the source knows it."""
        return None

    def close(self) -> None:
        """Release the device/file (idempotent)."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame
