"""File sinks: annotated video, annotated image, JSON lines. Each writes so that an interrupted
run leaves a valid file: video and image go to a ``.partial`` name and are renamed when finalised;
JSON lines are written one whole line per ``write`` and flushed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from trtssd.detections import Detections
from trtssd.errors import InputError
from trtssd.sinks.base import Sink
from trtssd.sources.base import Frame

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def _ensure_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"output '{path}': expected a writable directory, found {exc.strerror}") from None


class VideoFileSink(Sink):
    """Annotated video (format by extension: .mp4/.mov -> mp4v, .avi/.mkv -> MJPG), at ``fps``."""

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in _FOURCC:
            raise InputError(f"video output '{self.path}': expected one of {', '.join(_FOURCC)}, found '{self.path.suffix}'")
        _ensure_parent(self.path)
        self.fps = fps or 25.0
        self._tmp = _partial(self.path)
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0

    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        image = annotated if annotated is not None else frame.image
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
            if not writer.isOpened():
                writer.release()
                raise InputError(f"video output '{self.path}': expected a writable video, found the encoder refused it")
            self._writer = writer
            self._size = (w, h)
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            if self._tmp.exists():
                os.replace(self._tmp, self.path)


class ImageFileSink(Sink):
    """Annotated image; each write replaces the file atomically (the last frame wins)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in IMAGE_EXTS:
            raise InputError(f"image output '{self.path}': expected one of {', '.join(sorted(IMAGE_EXTS))}, found '{self.path.suffix}'")
        _ensure_parent(self.path)

    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        tmp = _partial(self.path)
        if not cv2.imwrite(str(tmp), annotated if annotated is not None else frame.image):
            raise InputError(f"image output '{self.path}': expected a writable image, found the encoder refused it")
        os.replace(tmp, self.path)


class JsonLinesSink(Sink):
    """One JSON object per frame: ``{"frame": i, "source": "a.jpg", "detections": [{"xyxy", "score",
    "class_id", "label"}]}`` (``source`` only for image inputs).

    The file is created at the first write, so a run that fails before its first frame (a bad
    model, a silent camera, a signal during conversion) leaves no empty file behind and does not
    truncate an existing one. Each line is written whole and flushed.
    """

    wants_annotated = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"JSON output '{self.path}': expected a file path, found a directory")
        _ensure_parent(self.path)
        if not os.access(self.path.parent, os.W_OK):
            raise InputError(f"JSON output '{self.path}': expected a writable directory, found {self.path.parent} read-only")
        self._f = None
        self.lines_written = 0

    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        record = {"frame": frame.index}
        if frame.source is not None:
            record["source"] = frame.source
        record["detections"] = detections.to_records()
        try:
            if self._f is None:
                self._f = open(self.path, "w", encoding="utf-8")
            self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._f.flush()
        except OSError as exc:
            raise InputError(f"JSON output '{self.path}': expected to write line {self.lines_written + 1}, "
                             f"found {exc.strerror or exc}") from None
        self.lines_written += 1

    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            try:
                self._f.close()
            except OSError:  # already reported by write()
                pass


def output_sink(path: str | Path, fps: float | None = None) -> Sink:
    """Image or video sink chosen by the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTS:
        return ImageFileSink(path)
    if suffix in _FOURCC:
        return VideoFileSink(path, fps)
    raise InputError(
        f"output '{path}': expected an image ({', '.join(sorted(IMAGE_EXTS))}) or video ({', '.join(_FOURCC)}) extension, found '{suffix}'"
    )
