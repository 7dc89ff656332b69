"""The end-to-end benchmark runs the product's path: video source -> engine -> JSON lines sink."""

from __future__ import annotations

import json

import pytest

from trtssd.bench.e2e import bench_decode, bench_engine
from trtssd.detections import Detections
from trtssd.errors import InputError


class NoDetections:
    def detect_batch(self, frames, timings=None):
        return [Detections.empty() for _ in frames]

    def close(self):
        pass


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("batch, max_frames", [(4, 30), (16, 400)])  # 400 > 377 frames: loops the video
def test_engine_run_writes_every_frame_once(shared_dir, tmp_path, threaded, batch, max_frames):
    out = tmp_path / "o.jsonl"
    r = bench_engine(NoDetections, shared_dir / "media" / "car-detection.mp4", max_frames, batch, out, threaded)
    assert r.frames == max_frames and r.mode == ("async" if threaded else "sync") and r.fps > 0
    assert [json.loads(x)["frame"] for x in out.read_text().splitlines()] == list(range(max_frames))


def test_decode_loops_to_max_frames(shared_dir):
    assert bench_decode(shared_dir / "media" / "car-detection.mp4", 400).frames == 400


def test_missing_video(tmp_path):
    with pytest.raises(InputError, match="video not found"):
        bench_decode(tmp_path / "none.mp4", None)
