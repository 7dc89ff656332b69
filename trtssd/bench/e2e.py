"""End-to-end video FPS through the product's own path: the video source, the pipeline engine
(:mod:`trtssd.pipeline.engine`) and the CLI's JSON lines sink, headless - what
``trt_ssd.py`` / ``trt_ssd_async.py --headless --json`` run.

* ``decode``: reading the video source alone, the ceiling for the other two.
* ``sync``: the engine inline, one thread (``trt_ssd.py``).
* ``async``: the engine threaded: decoder thread, inference thread, consumer (``trt_ssd_async.py``).

The video is looped until ``max_frames`` frames are done (or read once when ``max_frames`` is
None). FPS is the engine's steady rate, after the first batch (which carries model warm-up: CUDA
graph capture, cuDNN autotuning).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from trtssd.detector import Detector
from trtssd.pipeline.engine import run_pipeline
from trtssd.sinks.files import JsonLinesSink
from trtssd.sources.files import VideoFileSource


@dataclass(frozen=True)
class E2EResult:
    video: str
    mode: str  # decode | sync | async
    batch: int
    frames: int
    seconds: float
    fps: float
    detections: int
    stages: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _source(path: Path, max_frames: int | None) -> VideoFileSource:
    return VideoFileSource(path, looping=max_frames is not None)


def bench_decode(path: Path, max_frames: int | None) -> E2EResult:
    """Frames/s of the video source alone (OpenCV/FFmpeg decode, one thread)."""
    n = 0
    with _source(path, max_frames) as src:
        t0 = time.perf_counter()
        while (max_frames is None or n < max_frames) and src.read() is not None:
            n += 1
        dt = time.perf_counter() - t0
    return E2EResult(str(path), "decode", 1, n, dt, n / dt if dt > 0 else 0.0, 0)


class _CountingJsonSink(JsonLinesSink):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.detections = 0

    def write(self, frame, detections, annotated) -> None:
        super().write(frame, detections, annotated)
        self.detections += len(detections)


def bench_engine(make_detector: Callable[[], Detector], path: Path, max_frames: int | None, batch: int,
                 out_jsonl: Path, threaded: bool, queue: int = 4) -> E2EResult:
    """One run of the engine over ``path`` into JSON lines (``out_jsonl``)."""
    with _source(path, max_frames) as src, _CountingJsonSink(out_jsonl) as sink:
        result = run_pipeline(src, make_detector, [sink], threaded=threaded, batch=batch, max_frames=max_frames,
                              queue=queue, show_fps=False)
    return E2EResult(str(path), "async" if threaded else "sync", batch, result.frames, result.seconds,
                     result.fps, sink.detections, result.stages.summary())
