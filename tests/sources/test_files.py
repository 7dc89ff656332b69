"""File sources: every frame once, in order; image directories/globs; read-ahead keeps the order."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from trtssd.errors import InputError, SourceTimeout
from trtssd.sources.base import Frame, Source
from trtssd.sources.factory import SourceConfig, open_source
from trtssd.sources.files import ImageFolderSource, VideoFileSource
from trtssd.sources.prefetch import PrefetchSource


@pytest.fixture
def image_dir(tmp_path):
    colors = {"b.png": 20, "a.jpg": 200, "c.bmp": 90}
    for name, value in colors.items():
        cv2.imwrite(str(tmp_path / name), np.full((40, 60, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.mark.parametrize("spec, names", [
    ("{d}", ["a.jpg", "b.png", "c.bmp"]),
    ("{d}/*.png", ["b.png"]),
    ("{d}/[ab].*", ["a.jpg", "b.png"]),
])
def test_image_collection_sorted_once_each(image_dir, spec, names):
    src = open_source(SourceConfig(image=spec.format(d=image_dir)))
    assert isinstance(src, ImageFolderSource) and not src.is_live
    frames = list(src)
    assert [f.index for f in frames] == list(range(len(names)))
    assert [p.name for p in src.files] == names
    assert src.read() is None


@pytest.mark.parametrize("spec", ["{d}/*.gif", "{d}/empty"])
def test_image_collection_without_images(image_dir, spec):
    (image_dir / "empty").mkdir()
    with pytest.raises(InputError, match="found none"):
        open_source(SourceConfig(image=spec.format(d=image_dir)))


def test_video_every_frame_in_order(shared_dir):
    path = shared_dir / "media" / "car-detection.mp4"
    with VideoFileSource(path) as src:
        indices = [f.index for f in src]
    assert indices == list(range(377))


def test_prefetch_keeps_order_and_completeness(shared_dir):
    path = shared_dir / "media" / "car-detection.mp4"
    with VideoFileSource(path) as plain, VideoFileSource(path) as inner:
        reader = PrefetchSource(inner, depth=3)
        try:
            for expected in plain:
                got = reader.read(timeout=10)
                assert got.index == expected.index
                assert np.array_equal(got.image, expected.image)
            assert reader.read(timeout=10) is None
            assert reader.read(timeout=10) is None  # end of stream stays ended
        finally:
            reader.close()


class _Failing(Source):
    def __init__(self, fail_at: int) -> None:
        self.n, self.fail_at = 0, fail_at

    def read(self, timeout=None):
        if self.n == self.fail_at:
            raise InputError("video 'x': expected a frame, found a broken packet")
        self.n += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.n - 1, 0.0)


class _Blocking(Source):
    def read(self, timeout=None):
        import time

        time.sleep(5)


def test_prefetch_reraises_errors_after_delivered_frames():
    reader = PrefetchSource(_Failing(fail_at=2))
    try:
        assert [reader.read(timeout=5).index for _ in range(2)] == [0, 1]
        with pytest.raises(InputError, match="broken packet"):
            reader.read(timeout=5)
    finally:
        reader.close()


def test_prefetch_read_times_out():
    reader = PrefetchSource(_Blocking())
    with pytest.raises(SourceTimeout, match="within 0.2 s"):
        reader.read(timeout=0.2)


def test_missing_video_and_image_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_source(SourceConfig(video=str(tmp_path / "none.mp4")))
    shutil.copy(__file__, tmp_path / "bad.jpg")
    with pytest.raises(InputError, match="undecodable"):
        open_source(SourceConfig(image=str(tmp_path / "bad.jpg")))
