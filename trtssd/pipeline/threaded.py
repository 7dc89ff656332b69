"""The threaded loop of trt_ssd_async.py: a producer thread captures and infers, the main thread
draws and writes.

The producer creates the :class:`~trtssd.detector.Detector` itself (a GPU backend's CUDA context
must be created and used in one thread), then loops read -> preprocess -> infer -> postprocess and
hands a :class:`Result` to a :class:`Mailbox` (a ``threading.Condition``-guarded buffer). The
consumer (the caller's thread, typically the main thread which owns the window) takes results,
draws and writes them.

* File sources (``keep_all``): the producer waits for room, so every frame is processed in order.
* Live sources: the mailbox keeps only the newest result (stale ones are dropped).
* The consumer never waits forever: ``startup_timeout`` for the first result (model conversion,
  engine load), ``frame_timeout`` between results; then :class:`PipelineStalled` names the stage the
  producer is stuck in.
* A producer exception is re-raised in the consumer; EOS, a sink's stop request and ``stop``
  (SIGINT/SIGTERM) end the run; sinks are the caller's to close (context managers).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trtssd.detections import Detections
from trtssd.detector import Detector
from trtssd.errors import TrtSsdError
from trtssd.pipeline.timed import detect_timed
from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes
from trtssd.sinks.base import Sink
from trtssd.sinks.draw import draw_detections, draw_fps
from trtssd.sources.base import Frame, Source
from trtssd.sources.prefetch import PrefetchSource


class PipelineStalled(TrtSsdError):
    """The producer delivered nothing within the allowed time."""


@dataclass(frozen=True)
class Result:
    """One frame and its detections, with the producer's per-stage seconds for it."""

    frame: Frame
    detections: Detections
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EndOfStream:
    """The producer's last message: the source ended (or the producer was told to stop)."""


class Mailbox:
    """Producer -> consumer hand-off through a Condition.

    ``keep_all``: bounded FIFO of ``capacity``, ``put`` blocks while full (no frame lost).
    Otherwise a single slot that ``put`` overwrites (newest wins; ``dropped`` counts the losses).
    """

    def __init__(self, keep_all: bool, capacity: int = 4) -> None:
        self.keep_all = keep_all
        self.capacity = max(1, capacity) if keep_all else 1
        self.cond = threading.Condition()
        self._items: collections.deque = collections.deque()
        self._error: BaseException | None = None
        self._ended = False
        self.cancelled = False
        self.dropped = 0

    def put(self, item: Result) -> bool:
        """Hand over ``item``; False once the consumer cancelled (the producer should stop)."""
        with self.cond:
            if self.keep_all:
                while len(self._items) >= self.capacity and not self.cancelled:
                    self.cond.wait(0.5)
            elif self._items:
                self._items.clear()
                self.dropped += 1
            if self.cancelled:
                return False
            self._items.append(item)
            self.cond.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done (``error``: why it failed)."""
        with self.cond:
            self._ended, self._error = True, error
            self.cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops: wake and release the producer."""
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def get(self, timeout: float) -> Result | EndOfStream | None:
        """Next result, EndOfStream, or None after ``timeout`` s; re-raises the producer's error."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self._items:
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    return EndOfStream()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            item = self._items.popleft()
            self.cond.notify_all()
            return item


class Producer(threading.Thread):
    """Owns the detector: creates it, then capture + preprocess + infer + postprocess per frame."""

    def __init__(self, source: Source, make_detector: Callable[[], Detector], mailbox: Mailbox,
                 source_timeout: float, max_frames: int | None) -> None:
        super().__init__(name="trtssd-producer", daemon=True)
        self.source, self.make_detector, self.mailbox = source, make_detector, mailbox
        self.source_timeout, self.max_frames = source_timeout, max_frames
        self.stage = "starting"
        self.ready = threading.Event()
        self.detector: Detector | None = None

    def run(self) -> None:
        error: BaseException | None = None
        try:
            self.stage = "loading the model"
            self.detector = self.make_detector()
            self.ready.set()
            self._loop(self.detector)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            error = exc
        finally:
            self.stage = "finished"
            if self.detector is not None:
                self.detector.close()
            self.mailbox.finish(error)

    def _loop(self, det: Detector) -> None:
        n = 0
        while not self.mailbox.cancelled and (self.max_frames is None or n < self.max_frames):
            t0 = time.perf_counter()
            self.stage = "capture"
            frame = self.source.read(timeout=self.source_timeout)
            if frame is None:
                return
            capture = time.perf_counter() - t0
            self.stage = "detect"
            dets, seconds = detect_timed(det, frame.image)
            stages = {"capture": capture, **seconds}
            self.stage = "handing over"
            if not self.mailbox.put(Result(frame, dets, stages)):
                return
            n += 1


def run_async(source: Source, make_detector: Callable[[], Detector], sinks: Sequence[Sink], *,
              max_frames: int | None = None, show_fps: bool = True, stop: threading.Event | None = None,
              keep_all: bool | None = None, capacity: int = 4, source_timeout: float = 10.0,
              startup_timeout: float = 600.0, frame_timeout: float | None = None,
              on_ready: Callable[[Detector], None] | None = None, prefetch: bool = True) -> RunResult:
    """Run the producer/consumer pipeline until EOS, ``max_frames``, a sink's stop request or ``stop``.

    ``keep_all`` defaults to ``not source.is_live``. ``frame_timeout`` (default ``source_timeout + 5``)
    bounds the wait between results once the first arrived. ``on_ready(detector)`` is called in the
    consumer thread once the model is loaded. The returned stages include the producer's.
    ``prefetch``: decode file sources in a third thread (:class:`PrefetchSource`), overlapping
    decoding with inference; live sources already capture in their own thread.
    """
    keep_all = (not source.is_live) if keep_all is None else keep_all
    frame_timeout = source_timeout + 5.0 if frame_timeout is None else frame_timeout
    mailbox = Mailbox(keep_all, capacity)
    reader = PrefetchSource(source, capacity) if prefetch and not source.is_live else None
    producer = Producer(reader or source, make_detector, mailbox, source_timeout, max_frames)
    stages, meter = StageTimes(), FpsMeter()
    annotate = any(s.wants_annotated for s in sinks)
    frames, stopped_by, t_start = 0, "eos", time.perf_counter()
    producer.start()
    waited, announced = 0.0, False
    try:
        while True:
            if stop is not None and stop.is_set():
                stopped_by = "signal"
                break
            t_wait = time.perf_counter()
            item = mailbox.get(0.1)
            if not announced and producer.ready.is_set():
                announced = True
                t_start = time.perf_counter()  # FPS excludes model loading, like the sync loop
                if on_ready is not None:
                    on_ready(producer.detector)
            if item is None:
                waited += time.perf_counter() - t_wait
                limit = frame_timeout if producer.ready.is_set() else startup_timeout
                if waited > limit:
                    raise PipelineStalled(f"pipeline: expected a result within {limit:.0f} s, found none "
                                          f"(producer stuck in '{producer.stage}')")
                continue
            waited = 0.0
            if isinstance(item, EndOfStream):
                stopped_by = "max_frames" if max_frames is not None and frames >= max_frames else "eos"
                break
            stages.add("wait", time.perf_counter() - t_wait)
            for name, sec in item.stage_seconds.items():
                stages.add(name, sec)
            annotated = None
            if annotate:
                t0 = time.perf_counter()
                annotated = draw_detections(item.frame.image, item.detections)
                fps = meter.tick()
                if show_fps and fps > 0:
                    draw_fps(annotated, fps)
                stages.add("draw", time.perf_counter() - t0)
            t0 = time.perf_counter()
            for sink in sinks:
                sink.write(item.frame, item.detections, annotated)
            stages.add("write", time.perf_counter() - t0)
            frames += 1
            if any(s.stop_requested for s in sinks):
                stopped_by = "user"
                break
    finally:
        mailbox.cancel()
        producer.join(timeout=5.0)
        if reader is not None:
            reader.close()
    return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by)
