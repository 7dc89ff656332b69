"""INT8 calibration: image batches, the calibration cache, and a TensorRT entropy calibrator.

:class:`CalibrationData` and :class:`CalibrationCache` are plain Python (unit-tested without
TensorRT); :func:`make_entropy_calibrator` creates the ``trt.IInt8EntropyCalibrator2`` subclass
lazily, only where TensorRT imports. Calibration images are preprocessed exactly as
:func:`trtssd.detector.preprocess` does for inference (bilinear resize of the full frame, BGR->RGB,
uint8): the network's ``images`` input is uint8, normalisation is inside the graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from trtssd.errors import InputError
from trtssd.fileio import write_bytes_atomic

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
        """Short digest of the file names, sizes and preprocessing (keys the calibration cache)."""
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


class CalibrationCache:
    """TensorRT's calibration table as a file (read back to skip calibration on rebuilds)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def read(self) -> bytes | None:
        """The cached table, or None when absent or empty."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data or None

    def write(self, data: bytes) -> None:
        """Store the table atomically (write to a temp file, then rename)."""
        write_bytes_atomic(self.path, bytes(data))


def make_entropy_calibrator(trt, data: CalibrationData | None, cache: CalibrationCache, input_name: str):
    """An ``IInt8EntropyCalibrator2`` feeding ``data`` to ``input_name`` (device copies through
    cuda-python), reading/writing ``cache``. ``data`` may be None when the cache already exists."""
    if data is None and cache.read() is None:
        raise InputError(f"INT8: expected calibration images (--calib_dir) or a calibration cache at {cache.path}, found neither")
    from trtssd.backends import cuda_rt

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._iter = data.batches() if data is not None else iter(())
            self._nbytes = int(np.prod(data.shape)) if data is not None else 0
            self._device = cuda_rt.malloc(self._nbytes) if data is not None else None

        def get_batch_size(self) -> int:
            return data.batch_size if data is not None else 1

        def get_batch(self, names):  # noqa: ARG002 - one input
            batch = next(self._iter, None)
            if batch is None:
                return None
            cuda_rt.memcpy_htod(self._device, batch)
            return [int(self._device)]

        def read_calibration_cache(self):
            return cache.read()

        def write_calibration_cache(self, table) -> None:
            cache.write(bytes(table))

        def free(self) -> None:
            if self._device is not None:
                cuda_rt.free(self._device)
                self._device = None

    return _EntropyCalibrator()
