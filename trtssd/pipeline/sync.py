"""The synchronous loop of trt_ssd.py: read -> detect -> draw -> show/write, all in one thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from trtssd.detector import Detector
from trtssd.pipeline.timed import detect_timed
from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes
from trtssd.sinks.base import Sink
from trtssd.sinks.draw import draw_detections, draw_fps
from trtssd.sources.base import Source


def run_sync(source: Source, detector: Detector, sinks: Sequence[Sink], *, max_frames: int | None = None,
             show_fps: bool = True, stop: threading.Event | None = None,
             source_timeout: float = 10.0) -> RunResult:
    """Process frames until end of stream, ``max_frames``, a sink's stop request or ``stop``."""
    stages = StageTimes()
    meter = FpsMeter()
    annotate = any(s.wants_annotated for s in sinks)
    frames, stopped_by = 0, "eos"
    t_start = time.perf_counter()
    first = 0.0
    while True:
        if max_frames is not None and frames >= max_frames:
            stopped_by = "max_frames"
            break
        if stop is not None and stop.is_set():
            stopped_by = "signal"
            break
        with stages.measure("capture"):
            frame = source.read(timeout=source_timeout)
        if frame is None:
            break
        dets, seconds = detect_timed(detector, frame.image)
        for name, sec in seconds.items():
            stages.add(name, sec)
        annotated = None
        if annotate:
            with stages.measure("draw"):
                annotated = draw_detections(frame.image, dets)
                fps = meter.tick()
                if show_fps and fps > 0:
                    draw_fps(annotated, fps)
        with stages.measure("write"):
            for sink in sinks:
                sink.write(frame, dets, annotated)
        frames += 1
        if frames == 1:
            first = time.perf_counter() - t_start
        if any(s.stop_requested for s in sinks):
            stopped_by = "user"
            break
    return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by, first)
