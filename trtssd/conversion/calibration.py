"""INT8 calibration images for post-training quantization (:mod:`trtssd.conversion.precision`).

Images are preprocessed exactly as :func:`trtssd.detector.preprocess` does for inference
(bilinear resize of the full frame, BGR->RGB, uint8): the network's ``images`` input is uint8,
normalisation is inside the graph. Plain Python and numpy; no TensorRT.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from trtssd.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class CalibrationData:
    """Batches of calibration images from a folder.

    Args:
        folder: directory of images (sorted by name; non-images ignored).
        input_size: network input ``(height, width)``.
        batch_size: images per batch; a trailing partial batch is dropped (TensorRT expects
            full batches of the calibration profile's shape).
        max_images: use at most this many images (the first ones by name); None: all.
    """

    def __init__(self, folder: Path | str, input_size: tuple[int, int], batch_size: int = 8,
                 max_images: int | None = 512) -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise InputError(f"calibration images: expected a directory, found {'a file' if folder.exists() else 'nothing'} at {folder}")
        if batch_size < 1:
            raise ValueError(f"calibration batch size: expected >= 1, found {batch_size}")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if max_images is not None:
            files = files[:max_images]
        if len(files) < batch_size:
            raise InputError(f"calibration images: expected at least {batch_size} images in {folder}, found {len(files)}")
        self.files = files[: len(files) // batch_size * batch_size]
        self.input_size = tuple(input_size)
        self.batch_size = batch_size

    def __len__(self) -> int:
        """Number of batches."""
        return len(self.files) // self.batch_size

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Shape of one batch: ``(batch, H, W, 3)``."""
        return (self.batch_size, *self.input_size, 3)

    def digest(self) -> str:
        """Short digest of the file names, sizes and preprocessing (keys the quantized ONNX cache)."""
        h = hashlib.sha256(repr((self.input_size, self.batch_size)).encode())
        for p in self.files:
            h.update(f"{p.name}:{p.stat().st_size}\n".encode())
        return h.hexdigest()[:16]

    def batches(self) -> Iterator[np.ndarray]:
        """Yield C-contiguous uint8 ``[batch, H, W, 3]`` RGB arrays."""
        import cv2

        from trtssd.detector import preprocess

        for start in range(0, len(self.files), self.batch_size):
            frames = []
            for p in self.files[start:start + self.batch_size]:
                img = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if img is None:
                    raise InputError(f"calibration image {p}: expected a readable image, found undecodable data")
                frames.append(img)
            yield np.ascontiguousarray(preprocess(frames, self.input_size))


class OrtCalibrationReader:
    """``onnxruntime.quantization.CalibrationDataReader`` protocol over :class:`CalibrationData`:
    ``get_next()`` returns ``{input_name: uint8 [batch, H, W, 3]}`` until the images run out."""

    def __init__(self, data: CalibrationData, input_name: str) -> None:
        self.data, self.input_name = data, input_name
        self._it = data.batches()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._it = self.data.batches()
