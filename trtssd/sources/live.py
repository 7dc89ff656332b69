"""Live sources: a background grabber thread keeps only the newest frame (no growing latency).

:class:`LatestFrameSource` is the shared machinery; subclasses implement :meth:`_grab_loop`,
which calls :meth:`_publish` for every decoded image and returns when its device/stream ends.
``read(timeout)`` hands out each published image at most once, newest first, skipping stale ones.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from pathlib import Path

import cv2
import numpy as np

from trtssd.errors import InputError, SourceTimeout
from trtssd.sources.base import Frame, Source

log = logging.getLogger(__name__)


class LatestFrameSource(Source):
    """Base for live sources: a grabber thread publishes, ``read`` takes the newest unseen frame."""

    is_live = True

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._image: np.ndarray | None = None
        self._stamp = 0.0
        self._seq = 0          # published images
        self._taken = 0        # seq of the last image handed out
        self._index = 0        # delivered frames
        self._ended = False
        self._error: BaseException | None = None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"grab-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._grab_loop()
        except BaseException as exc:  # reported to the reader by read()
            with self._cond:
                self._error = exc
        finally:
            try:
                self._release()
            finally:
                with self._cond:
                    self._ended = True
                    self._cond.notify_all()

    def _release(self) -> None:
        """Release the device; runs in the grabber thread once it left its loop, so never while
        that thread is inside a device read."""

    @abstractmethod
    def _grab_loop(self) -> None:
        """Capture until the stream ends or :attr:`_closing` is set, calling :meth:`_publish`."""

    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            self._image, self._stamp = image, time.monotonic()
            self._seq += 1
            self._cond.notify_all()

    @property
    def frames_published(self) -> int:
        return self._seq

    def read(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._seq == self._taken:
                if self._error is not None:
                    raise self._error
                if self._ended or self._closing.is_set():
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise SourceTimeout(f"{self.name}: expected a frame within {timeout:.1f} s, found none")
                self._cond.wait(0.25 if left is None else min(left, 0.25))
            self._taken = self._seq
            frame = Frame(self._image, self._index, self._stamp)
        self._index += 1
        return frame

    @property
    def alive(self) -> bool:
        """Whether the grabber thread still runs (after :meth:`close`: still inside a device read)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 1.0) -> None:
        """Ask the grabber thread to stop and wait up to ``timeout`` s. The device is released by
        that thread when it leaves its loop; if it is still inside a read after ``timeout``, it is
        left to finish (logged) rather than having the device released under it."""
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            self._release()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning("%s: the capture thread is still inside a read; it releases the device when it returns",
                            self.name)


def v4l2_device(index_or_path: int | str) -> Path:
    """``0`` -> ``/dev/video0``; a path is kept. Raises InputError when the device node is absent."""
    path = Path(f"/dev/video{index_or_path}") if str(index_or_path).isdigit() else Path(str(index_or_path))
    if not path.exists():
        present = sorted(str(p) for p in Path("/dev").glob("video*"))
        raise InputError(
            f"USB camera: expected a V4L2 device {path}, found {', '.join(present) if present else 'no /dev/video* device'} "
            "(is the camera plugged in and readable?)"
        )
    return path


class UsbCameraSource(LatestFrameSource):
    """A V4L2 USB camera through OpenCV's V4L2 backend (as tensorrt_demos did), newest frame only."""

    def __init__(self, device: int | str, width: int = 640, height: int = 480) -> None:
        super().__init__(f"USB camera {device}")
        path = v4l2_device(device)
        self._cap = cv2.VideoCapture(str(path), cv2.CAP_V4L2)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"USB camera {path}: expected a V4L2 capture device, found one OpenCV cannot open")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._start()

    def _grab_loop(self) -> None:
        failures = 0
        while not self._closing.is_set():
            ok, image = self._cap.read()
            if not ok:
                failures += 1
                if failures > 50:
                    raise InputError(f"{self.name}: expected frames, found {failures} failed reads in a row")
                time.sleep(0.02)
                continue
            failures = 0
            self._publish(image)

    def _release(self) -> None:
        self._cap.release()
