"""The synchronous loop of trt_ssd.py: read -> detect -> draw -> show/write, all in one thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from trtssd.detections import Detections
from trtssd.detector import Detector
from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes
from trtssd.sinks.base import Sink
from trtssd.sinks.draw import draw_detections, draw_fps
from trtssd.sources.base import Frame, Source


def deliver(frame: Frame, dets: Detections, sinks: Sequence[Sink], stages: StageTimes,
            meter: FpsMeter | None) -> bool:
    """The consumer's step, shared by both loops: draw (only if a sink wants the annotated image;
    FPS overlay when ``meter`` is given) and write to every sink. True when a sink asks to stop."""
    annotated = None
    if any(s.wants_annotated for s in sinks):
        with stages.measure("draw"):
            annotated = draw_detections(frame.image, dets)
            fps = meter.tick() if meter is not None else 0.0
            if fps > 0:
                draw_fps(annotated, fps)
    with stages.measure("write"):
        for sink in sinks:
            sink.write(frame, dets, annotated)
    return any(s.stop_requested for s in sinks)


def run_sync(source: Source, detector: Detector, sinks: Sequence[Sink], *, max_frames: int | None = None,
             show_fps: bool = True, stop: threading.Event | None = None,
             source_timeout: float = 10.0) -> RunResult:
    """Process frames until end of stream, ``max_frames``, a sink's stop request or ``stop``."""
    stages = StageTimes()
    meter = FpsMeter()
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
        seconds: dict[str, float] = {}
        dets = detector.detect_batch([frame.image], seconds)[0]
        for name, sec in seconds.items():
            stages.add(name, sec)
        user_stop = deliver(frame, dets, sinks, stages, meter if show_fps else None)
        frames += 1
        if frames == 1:
            first = time.perf_counter() - t_start
        if user_stop:
            stopped_by = "user"
            break
    return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by, first)
