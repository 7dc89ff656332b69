"""The one pipeline engine behind ``trt_ssd.py``, ``trt_ssd_async.py`` and ``trtssd bench``.

Three stages, each a small typed component::

    capture  --(Frame batches)-->  inference  --(Result)-->  consumer
    FrameFeed: reads the source,   InferenceWorker: owns a     deliver(): draw if a sink wants
    batches frames, numbers them   Detector (and so a GPU      pixels, write every sink
                                   backend's context)

* ``threaded=False`` (``trt_ssd.py``): all three run inline in the caller's thread, which creates
  the detector.
* ``threaded=True`` (``trt_ssd_async.py``, ``trtssd bench``): file sources are decoded ahead in a
  :class:`~trtssd.sources.prefetch.PrefetchSource` thread (live sources capture in their own
  grabber thread); ``workers`` inference threads each create their own Detector **in that
  thread** (the GPU context, CUDA graphs and pinned buffers of a GPU backend belong to it) and
  take batches from the shared feed; results go through a :class:`~trtssd.pipeline.mailbox.Mailbox`
  (a Condition) to the consumer, the caller's thread (which owns the window).

The feed is where several sources and a batcher across them plug in: the workers only ask it for
the next ``(first sequence number, frames)``.

Every wait is cancellable: the consumer waits in 0.1 s slices, the feed reads in 0.1 s slices
and ends for every worker once one worker saw the end or an error, workers wait for room in the
mailbox in slices and stop when it is cancelled. On ``stop`` (SIGINT/SIGTERM), a sink's stop
request, the end of the stream or an error, threads get a bounded time to finish; threads still
running then (a model load cannot be interrupted) are named in :attr:`RunResult.leftover_threads`
and logged, never waited on for longer.

File sources (``keep_all``): every frame is processed once and delivered in order. Live sources:
batches of one, the mailbox keeps the newest result (frame numbers may skip; ``max_frames`` counts
delivered results); the time from capture to the end of the sinks' writes is recorded per frame
(:attr:`RunResult.latencies`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from trtssd.detections import Detections
from trtssd.detector import Detector
from trtssd.errors import SourceTimeout, TrtSsdError
from trtssd.pipeline.mailbox import EndOfStream, Mailbox, Result
from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes
from trtssd.sinks.base import Sink
from trtssd.sinks.draw import draw_detections, draw_fps
from trtssd.sources.base import Frame, Source
from trtssd.sources.prefetch import PrefetchSource

log = logging.getLogger(__name__)

POLL_S = 0.1  # the slice every wait is cut into, so that stop requests are seen at once
SHUTDOWN_S = 0.8  # how long threads get to finish after the run ends, in all


class PipelineStalled(TrtSsdError):
    """The inference stage delivered nothing within the allowed time."""


class FrameFeed:
    """The capture stage: reads ``source`` and hands out numbered batches of frames.

    ``batch``: frames per batch; ``fill_timeout``: after the first frame of a batch, how long to
    wait for more (None: until the batch is full or the stream ends, for file sources; 0: take only
    what is ready, for live sources). ``source_timeout``: a live source delivering nothing this long
    raises :class:`SourceTimeout`. Reads are cut into ``POLL_S`` slices checking ``cancel``. Once the
    stream ended or failed, :meth:`next` returns None for every caller at once.
    """

    def __init__(self, source: Source, *, batch: int = 1, source_timeout: float = 10.0,
                 max_frames: int | None = None, fill_timeout: float | None = None) -> None:
        if batch < 1:
            raise ValueError(f"batch: expected >= 1, found {batch}")
        self.source, self.batch, self.source_timeout = source, batch, source_timeout
        self.max_frames, self.fill_timeout = max_frames, fill_timeout
        self._lock = threading.Lock()
        self._count = 0
        self.done = False  # EOS, max_frames, cancelled or an error: no more batches for anyone

    @property
    def exhausted(self) -> bool:
        """True once ``max_frames`` frames were handed out."""
        return self.max_frames is not None and self._count >= self.max_frames

    def _read(self, timeout: float, cancel: threading.Event | None) -> Frame | None:
        """One frame within ``timeout`` s (SourceTimeout after), None at EOS or on ``cancel``."""
        deadline = time.monotonic() + timeout
        while True:
            if cancel is not None and cancel.is_set():
                return None
            left = deadline - time.monotonic()
            try:
                return self.source.read(timeout=max(0.0, min(POLL_S, left)))
            except SourceTimeout:
                if left <= POLL_S:
                    raise SourceTimeout(f"{getattr(self.source, 'name', 'source')}: expected a frame within "
                                        f"{timeout:.1f} s, found none") from None

    def next(self, cancel: threading.Event | None = None) -> tuple[int, list[Frame], float] | None:
        """``(sequence number of the first frame, frames, capture seconds)``, or None at the end."""
        with self._lock:
            if self.done or self.exhausted:
                return None
            t0 = time.perf_counter()
            want = self.batch if self.max_frames is None else min(self.batch, self.max_frames - self._count)
            frames: list[Frame] = []
            try:
                frame = self._read(self.source_timeout, cancel)
                if frame is not None:
                    frames.append(frame)
                    fill_until = None if self.fill_timeout is None else time.monotonic() + self.fill_timeout
                    while len(frames) < want:
                        left = self.source_timeout if fill_until is None else fill_until - time.monotonic()
                        try:
                            frame = self.source.read(timeout=max(0.0, min(POLL_S, left)))
                        except SourceTimeout:
                            if fill_until is not None and time.monotonic() >= fill_until:
                                break
                            if cancel is not None and cancel.is_set():
                                break
                            continue
                        if frame is None:
                            self.done = True
                            break
                        frames.append(frame)
            except BaseException:
                self.done = True
                raise
            if not frames:
                self.done = True
                return None
            seq, self._count = self._count, self._count + len(frames)
            return seq, frames, time.perf_counter() - t0


def detect_frames(detector: Detector, frames: Sequence[Frame], capture_s: float) -> list[Result]:
    """The inference step: one backend call for the batch -> one Result per frame (per-frame stage
    seconds: the batch's time divided among its frames)."""
    seconds: dict[str, float] = {}
    dets = detector.detect_batch([f.image for f in frames], seconds)
    n = len(frames)
    per_frame = {"capture": capture_s / n, **{k: v / n for k, v in seconds.items()}}
    return [Result(f, d, per_frame) for f, d in zip(frames, dets)]


class Consumer:
    """The consumer step: draw (only if a sink wants the annotated image; FPS overlay with
    ``show_fps``), write every sink, record the capture-to-written latency of live frames."""

    def __init__(self, sinks: Sequence[Sink], stages: StageTimes, show_fps: bool, live: bool) -> None:
        self.sinks, self.stages, self.live = list(sinks), stages, live
        self.meter = FpsMeter() if show_fps else None
        self.wants_pixels = any(s.wants_annotated for s in self.sinks)
        self.latencies: list[float] = []

    def deliver(self, frame: Frame, dets: Detections, record: bool = True) -> bool:
        """True when a sink asks to stop. ``record``: add draw/write times to the stage totals
        (not for the first batch, which carries the warm-up)."""
        stages = self.stages if record else StageTimes()
        annotated = None
        if self.wants_pixels:
            with stages.measure("draw"):
                annotated = draw_detections(frame.image, dets)
                fps = self.meter.tick() if self.meter is not None else 0.0
                if fps > 0:
                    draw_fps(annotated, fps)
        with stages.measure("write"):
            for sink in self.sinks:
                sink.write(frame, dets, annotated)
        if self.live:
            self.latencies.append(time.monotonic() - frame.timestamp)
        return any(s.stop_requested for s in self.sinks)


class InferenceWorker(threading.Thread):
    """Owns one Detector: creates it in this thread, then takes batches from the feed, detects
    and hands the results over. Always calls ``mailbox.finish`` (with the first error seen, the
    detector's ``close()`` included)."""

    def __init__(self, feed: FrameFeed, make_detector: Callable[[], Detector], mailbox: Mailbox,
                 cancel: threading.Event, index: int = 0, after: "InferenceWorker | None" = None) -> None:
        super().__init__(name=f"trtssd-infer-{index}", daemon=True)
        self.feed, self.make_detector, self.mailbox, self.cancel, self.after = feed, make_detector, mailbox, cancel, after
        self.stage = "starting"
        self.ready = threading.Event()
        self.ready_at = 0.0  # time.perf_counter() when the detector was created
        self.detector: Detector | None = None

    def run(self) -> None:
        error: BaseException | None = None
        try:
            try:
                if self.after is not None:
                    # Load after the first worker: a first-use conversion (or engine build) then
                    # runs once, and the others find it in the cache.
                    self.stage = "waiting for the first worker's model"
                    while not self.after.ready.wait(POLL_S):
                        if self.cancel.is_set() or not self.after.is_alive():
                            return
                self.stage = "loading the model"
                self.detector = self.make_detector()
                self.ready_at = time.perf_counter()
                self.ready.set()
                self._loop(self.detector)
            finally:
                self.stage = "closing the model"
                if self.detector is not None:
                    self.detector.close()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            error = exc
        finally:
            self.stage = "finished"
            self.mailbox.finish(error)

    def _loop(self, det: Detector) -> None:
        while not self.cancel.is_set():
            self.stage = "capture"
            got = self.feed.next(self.cancel)
            if got is None:
                return
            seq, frames, capture = got
            self.stage = "detect"
            results = detect_frames(det, frames, capture)
            self.stage = "handing over"
            if not self.mailbox.put_many(results, seq):
                return


def _join_all(threads: Sequence[threading.Thread], deadline: float) -> list[str]:
    """Join until one shared ``time.monotonic()`` deadline; names (and stages) of the threads still
    alive after it."""
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [f"{t.name} ({getattr(t, 'stage', 'running')})" for t in threads if t.is_alive()]


def run_pipeline(source: Source, make_detector: Callable[[], Detector], sinks: Sequence[Sink], *,
                 threaded: bool = True, workers: int = 1, batch: int = 1, max_frames: int | None = None,
                 stop: threading.Event | None = None, queue: int = 4, source_timeout: float = 10.0,
                 startup_timeout: float = 600.0, frame_timeout: float | None = None,
                 on_ready: Callable[[Detector], None] | None = None, prefetch: bool = True,
                 show_fps: bool = True, keep_all: bool | None = None) -> RunResult:
    """Run source -> detector -> sinks until EOS, ``max_frames``, a sink's stop request or ``stop``.

    ``make_detector`` is called once per worker, in the thread that will use the detector
    (``threaded=False``: the caller's). ``batch``: frames per backend call (live sources: 1).
    ``keep_all`` defaults to ``not source.is_live``. ``queue``: batches buffered between the stages
    (file sources). ``startup_timeout`` bounds the wait for the first result (model conversion,
    engine build, warm-up); ``frame_timeout`` (default ``source_timeout + 5``) the wait between
    results. ``on_ready(detector)`` is called in the caller's thread once the first result is in.
    Sinks are the caller's to close. Exceptions of any stage are re-raised here, after the results
    computed before them were delivered.
    """
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, found {workers}")
    live = source.is_live
    keep_all = (not live) if keep_all is None else keep_all
    batch = 1 if live else batch
    frame_timeout = source_timeout + 5.0 if frame_timeout is None else frame_timeout
    stages = StageTimes()
    consumer = Consumer(sinks, stages, show_fps, live)
    if not threaded:
        return _run_inline(source, make_detector, consumer, stages, batch, max_frames, stop, source_timeout, on_ready)

    cancel = threading.Event()
    reader = PrefetchSource(source, max(2, queue) * batch) if prefetch and not live else None
    # Live sources drop stale results, so the consumer counts max_frames on delivered results.
    feed = FrameFeed(reader or source, batch=batch, source_timeout=source_timeout,
                     max_frames=max_frames if keep_all else None, fill_timeout=None if keep_all else 0.0)
    mailbox = Mailbox(keep_all, (queue + workers) * batch, producers=workers)
    pool: list[InferenceWorker] = []
    for i in range(workers):
        pool.append(InferenceWorker(feed, make_detector, mailbox, cancel, i, after=pool[0] if i else None))
    frames, stopped_by, t_start, first, first_n = 0, "eos", time.perf_counter(), 0.0, 0
    for w in pool:
        w.start()
    wait_since = time.perf_counter()  # when the consumer started waiting for the next result
    leftover: list[str] = []
    try:
        while True:
            if stop is not None and stop.is_set():
                stopped_by = "signal"
                break
            if max_frames is not None and frames >= max_frames:
                stopped_by = "max_frames"
                break
            item = mailbox.get(POLL_S)
            if item is None:
                # The first result carries model loading and warm-up (cuDNN autotuning, a lazy
                # TensorRT engine build): it gets startup_timeout, later ones frame_timeout.
                limit = frame_timeout if frames else startup_timeout
                if time.perf_counter() - wait_since > limit:
                    stuck = ", ".join(sorted({w.stage for w in pool}))
                    raise PipelineStalled(f"pipeline: expected a result within {limit:.0f} s, found none "
                                          f"(inference stuck in '{stuck}')")
                continue
            if isinstance(item, EndOfStream):
                stopped_by = "max_frames" if feed.exhausted else "eos"
                break
            if frames == 0:
                t_start = pool[0].ready_at  # FPS excludes model loading, like the inline loop
                if on_ready is not None:
                    on_ready(pool[0].detector)
            steady = frames >= batch  # stage times leave out the first batch (warm-up)
            if steady:
                stages.add("wait", time.perf_counter() - wait_since)
                for name, sec in item.stage_seconds.items():
                    stages.add(name, sec)
            user_stop = consumer.deliver(item.frame, item.detections, record=steady)
            frames += 1
            if frames == 1:
                first, first_n = time.perf_counter() - t_start, batch
            wait_since = time.perf_counter()
            if user_stop:
                stopped_by = "user"
                break
    finally:
        cancel.set()
        mailbox.cancel()
        deadline = time.monotonic() + SHUTDOWN_S
        leftover = _join_all(pool, deadline)
        if reader is not None:
            reader.close(timeout=max(0.05, deadline - time.monotonic()))
            if reader.alive:
                leftover.append("prefetch (decoding)")
        if leftover:
            log.warning("threads still running at exit: %s", ", ".join(leftover))
    return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by, first,
                     first_frames=min(first_n, frames), latencies=consumer.latencies, leftover_threads=leftover)


def _run_inline(source: Source, make_detector: Callable[[], Detector], consumer: Consumer, stages: StageTimes,
                batch: int, max_frames: int | None, stop: threading.Event | None, source_timeout: float,
                on_ready: Callable[[Detector], None] | None) -> RunResult:
    """All stages in the caller's thread (``trt_ssd.py``); ``stop`` is seen within ``POLL_S``."""
    detector = make_detector()
    try:
        feed = FrameFeed(source, batch=batch, source_timeout=source_timeout, max_frames=max_frames,
                         fill_timeout=None if not source.is_live else 0.0)
        frames, stopped_by, first, first_n = 0, "eos", 0.0, 0
        t_start = time.perf_counter()
        while True:
            if stop is not None and stop.is_set():
                stopped_by = "signal"
                break
            got = feed.next(stop)
            if got is None:
                if stop is not None and stop.is_set():
                    stopped_by = "signal"
                elif feed.exhausted:
                    stopped_by = "max_frames"
                break
            _, batch_frames, capture = got
            user_stop = False
            steady = first_n > 0  # stage times leave out the first batch (warm-up)
            for result in detect_frames(detector, batch_frames, capture):
                if steady:
                    for name, sec in result.stage_seconds.items():
                        stages.add(name, sec)
                user_stop = consumer.deliver(result.frame, result.detections, record=steady)
                frames += 1
                if user_stop:
                    break
            if first_n == 0:
                first, first_n = time.perf_counter() - t_start, frames
                if on_ready is not None:
                    on_ready(detector)
            if user_stop:
                stopped_by = "user"
                break
        return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by, first,
                         first_frames=first_n, latencies=consumer.latencies)
    finally:
        detector.close()
