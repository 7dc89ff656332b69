"""File sources: a still image and a video file."""

from __future__ import annotations

import glob
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from trtssd.errors import InputError
from trtssd.sources.base import Frame, Source

log = logging.getLogger(__name__)


def _resize(image: np.ndarray, size_wh: tuple[int, int] | None) -> np.ndarray:
    if size_wh is None or (image.shape[1], image.shape[0]) == size_wh:
        return image
    return cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} not found: expected an existing file, found no '{path}'")
    if not path.is_file():
        raise InputError(f"{what} '{path}': expected a file, found a directory")


class ImageSource(Source):
    """A still image, delivered once (``repeat=False``) or again and again as a live source."""

    def __init__(self, path: str | Path, repeat: bool = False, size_wh: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        _check_file(self.path, "image")
        image = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"image '{self.path}': expected a readable image (jpg/png/bmp...), found undecodable data")
        self.image = _resize(image, size_wh)
        self.repeat = repeat
        self.is_live = repeat
        self._index = 0

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._index > 0 and not self.repeat:
            return None
        frame = Frame(self.image, self._index, time.monotonic() if self.repeat else 0.0, str(self.path))
        self._index += 1
        return frame


class VideoFileSource(Source):
    """A video file decoded with OpenCV (FFmpeg); every frame once, in order; optionally looping."""

    def __init__(self, path: str | Path, looping: bool = False, size_wh: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        _check_file(self.path, "video")
        self._cap = cv2.VideoCapture(str(self.path))
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok:
            self._cap.release()
            raise InputError(f"video '{self.path}': expected a decodable video file, found no readable frame")
        self._pending: np.ndarray | None = first
        self.looping = looping
        self.size_wh = size_wh
        self._index = 0
        self._fps = self._cap.get(cv2.CAP_PROP_FPS) or None
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        self._short_reported = False

    @property
    def fps(self) -> float | None:
        return self._fps

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._cap is None:
            return None
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._cap.read()
            if not ok and self.looping and self._index > 0:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = self._cap.read()
            if not ok:
                self._report_short_file()
                return None
        ts = self._index / self._fps if self._fps else float(self._index)
        frame = Frame(_resize(image, self.size_wh), self._index, ts)
        self._index += 1
        return frame

    def _report_short_file(self) -> None:
        """Warn (once) when the stream ends well before the frame count its header declares: a
        truncated or damaged file. The frames decoded so far were delivered and stay valid."""
        declared, decoded = self.frame_count, self._index
        if self._short_reported or not declared or self.looping:
            return
        self._short_reported = True
        if decoded + max(2, declared // 100) <= declared:  # headers of some containers estimate
            log.warning("video '%s': expected %d frames (its header), decoded %d; the file is truncated or "
                        "damaged, results cover the %d decoded frames", self.path, declared, decoded, decoded)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_collection(spec: str) -> bool:
    """Whether ``--image`` names a directory or a glob pattern rather than one file."""
    return Path(spec).is_dir() or any(c in spec for c in "*?[")


def list_images(spec: str) -> list[Path]:
    """Image files of a directory (non-recursive) or a glob pattern, sorted by path."""
    p = Path(spec)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS]
    else:
        files = [Path(f) for f in glob.glob(spec) if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_EXTS]
    files.sort()
    if not files:
        raise InputError(f"images '{spec}': expected a directory or glob with {'/'.join(IMAGE_EXTS)} files, found none")
    return files


class ImageFolderSource(Source):
    """Every image of a directory or glob, once each, in sorted order (a file source: never drops)."""

    def __init__(self, spec: str, size_wh: tuple[int, int] | None = None) -> None:
        self.files = list_images(spec)
        self.size_wh = size_wh
        self._index = 0

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._index >= len(self.files):
            return None
        path = self.files[self._index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"image '{path}': expected a readable image, found undecodable data")
        frame = Frame(_resize(image, self.size_wh), self._index, float(self._index), str(path))
        self._index += 1
        return frame
