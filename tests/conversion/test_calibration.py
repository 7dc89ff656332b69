"""INT8 calibration images: batching, preprocessing, digest, ONNX Runtime reader (no TensorRT)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from trtssd.conversion.calibration import CalibrationData, OrtCalibrationReader
from trtssd.detector import preprocess
from trtssd.errors import InputError


def _images(folder: Path, n: int, size=(40, 60)) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    frames = []
    for i in range(n):
        img = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"img{i:02d}.png"), img)  # png: lossless, compare exactly
        frames.append(img)
    (folder / "notes.txt").write_text("not an image")
    return frames


@pytest.mark.parametrize("n,batch,max_images,batches", [
    (10, 4, None, 2),   # trailing partial batch dropped
    (10, 5, None, 2),
    (10, 1, None, 10),
    (10, 4, 8, 2),
    (10, 3, 7, 2),
    (8, 8, 512, 1),
])
def test_batches_shapes_and_count(tmp_path, n, batch, max_images, batches):
    _images(tmp_path, n)
    data = CalibrationData(tmp_path, (30, 20), batch_size=batch, max_images=max_images)
    out = list(data.batches())
    assert len(data) == len(out) == batches
    assert data.shape == (batch, 30, 20, 3)
    for b in out:
        assert b.shape == (batch, 30, 20, 3) and b.dtype == np.uint8 and b.flags.c_contiguous


def test_batches_match_inference_preprocessing(tmp_path):
    frames = _images(tmp_path, 6)
    data = CalibrationData(tmp_path, (32, 48), batch_size=3)
    got = np.concatenate(list(data.batches()))
    np.testing.assert_array_equal(got, preprocess(frames, (32, 48)))  # resized, BGR -> RGB, uint8
    assert [p.name for p in data.files] == [f"img{i:02d}.png" for i in range(6)]


@pytest.mark.parametrize("setup,error", [
    ("missing", "expected a directory, found nothing"),
    ("file", "expected a directory, found a file"),
    ("too_few", "expected at least 4 images"),
    ("corrupt", "expected a readable image, found undecodable data"),
])
def test_calibration_data_errors(tmp_path, setup, error):
    folder = tmp_path / "calib"
    if setup == "file":
        folder.write_text("x")
    elif setup == "too_few":
        _images(folder, 3)
    elif setup == "corrupt":
        _images(folder, 4)
        (folder / "img01.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match=error):
        list(CalibrationData(folder, (30, 30), batch_size=4).batches())


def test_batch_size_must_be_positive(tmp_path):
    _images(tmp_path, 2)
    with pytest.raises(ValueError, match="batch size: expected >= 1, found 0"):
        CalibrationData(tmp_path, (30, 30), batch_size=0)


def test_digest_tracks_files_and_preprocessing(tmp_path):
    _images(tmp_path, 8)
    base = CalibrationData(tmp_path, (30, 30), 4).digest()
    assert CalibrationData(tmp_path, (30, 30), 4).digest() == base
    assert CalibrationData(tmp_path, (32, 30), 4).digest() != base
    assert CalibrationData(tmp_path, (30, 30), 2).digest() != base
    assert CalibrationData(tmp_path, (30, 30), 4, max_images=4).digest() != base
    cv2.imwrite(str(tmp_path / "img03.png"), np.zeros((5, 5, 3), np.uint8))
    assert CalibrationData(tmp_path, (30, 30), 4).digest() != base


def test_ort_reader_feeds_every_batch_and_rewinds(tmp_path):
    _images(tmp_path, 7)
    data = CalibrationData(tmp_path, (30, 20), batch_size=3)
    reader = OrtCalibrationReader(data, "images")
    fed = [reader.get_next() for _ in range(3)]
    assert [list(f) for f in fed[:2]] == [["images"], ["images"]] and fed[2] is None
    np.testing.assert_array_equal(np.concatenate([f["images"] for f in fed[:2]]), np.concatenate(list(data.batches())))
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["images"], fed[0]["images"])
