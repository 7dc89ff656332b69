"""The threaded loop of trt_ssd_async.py: a producer thread captures and infers, the main thread
draws and writes.

The producer creates the :class:`~trtssd.detector.Detector` itself (a GPU backend's CUDA context
must be created and used in one thread), then loops read -> preprocess -> infer -> postprocess and
hands a :class:`Result` to a :class:`Mailbox` (a ``threading.Condition``-guarded buffer). The
consumer (the caller's thread, typically the main thread which owns the window) takes results,
draws and writes them.

* ``workers`` > 1 (CPU backends): several producer threads, each with its own Detector, take
  frames in turn from one shared reader; results are re-ordered by frame sequence, so outputs are
  the same as with one worker. On a 2-core machine two single-threaded ONNX Runtime sessions run
  frames side by side, which uses the cores better than one session splitting each frame.
* File sources (``keep_all``): the producers wait for room, so every frame is processed in order.
* Live sources: the mailbox keeps only the newest result (stale ones are dropped), so frame
  numbers may skip; ``max_frames`` then counts the results the consumer delivered, so a run asked
  for N frames writes N (file sources: the first N frames, each once).
* The consumer never waits forever: ``startup_timeout`` for the first result (model conversion,
  engine load), ``frame_timeout`` between results; then :class:`PipelineStalled` names the stage the
  producer is stuck in.
* A producer exception is re-raised in the consumer; EOS, a sink's stop request and ``stop``
  (SIGINT/SIGTERM) end the run; sinks are the caller's to close (context managers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trtssd.detections import Detections
from trtssd.detector import Detector
from trtssd.errors import TrtSsdError
from trtssd.pipeline.sync import deliver
from trtssd.pipeline.stats import FpsMeter, RunResult, StageTimes
from trtssd.sinks.base import Sink
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
    """Producers -> consumer hand-off through a Condition.

    ``keep_all``: results come out in sequence order (0, 1, 2, ...) whatever order the producers
    finish them in; ``put`` blocks while its result is ``capacity`` or more ahead of the next one
    the consumer takes (no frame lost, bounded memory). Otherwise a single slot that ``put``
    overwrites with a newer result (newest wins; ``dropped`` counts the losses).
    ``producers``: how many producers call :meth:`finish` before the stream ends.
    """

    def __init__(self, keep_all: bool, capacity: int = 4, producers: int = 1) -> None:
        self.keep_all = keep_all
        self.capacity = max(1, capacity) if keep_all else 1
        self.cond = threading.Condition()
        self._pending: dict[int, Result] = {}  # by sequence number
        self._next = 0  # keep_all: the sequence number the consumer takes next
        self._auto_seq = 0
        self._last_taken = -1  # newest-only: the sequence number the consumer took last
        self._producers_left = producers
        self._error: BaseException | None = None
        self._ended = False
        self.cancelled = False
        self.dropped = 0

    def put(self, item: Result, seq: int | None = None) -> bool:
        """Hand over ``item`` (frame number ``seq``; default: the next in call order).
        Returns False once the consumer cancelled (the producer should stop)."""
        with self.cond:
            if seq is None:
                seq, self._auto_seq = self._auto_seq, self._auto_seq + 1
            if self.keep_all:
                while seq >= self._next + self.capacity and not self.cancelled:
                    self.cond.wait(0.5)
            else:
                if seq < max(self._pending, default=-1) or seq <= self._last_taken:
                    # a slower worker's older frame: already superseded, or older than one shown
                    self.dropped += 1
                    return not self.cancelled
                self.dropped += len(self._pending)
                self._pending.clear()
            if self.cancelled:
                return False
            self._pending[seq] = item
            self.cond.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        """One producer is done (``error``: why it failed; the first error ends the stream)."""
        with self.cond:
            self._producers_left -= 1
            if error is not None and self._error is None:
                self._error = error
            self._ended = self._error is not None or self._producers_left <= 0
            self.cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops: wake and release the producers."""
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def _take(self) -> Result | None:
        if self.keep_all:
            item = self._pending.pop(self._next, None)
            if item is not None:
                self._next += 1
            return item
        if self._pending:
            self._last_taken = max(self._pending)
            item = self._pending.pop(self._last_taken)
            self._pending.clear()
            return item
        return None

    def get(self, timeout: float) -> Result | EndOfStream | None:
        """Next result, EndOfStream, or None after ``timeout`` s; re-raises a producer's error."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self._error is not None:
                    raise self._error
                item = self._take()
                if item is not None:
                    self.cond.notify_all()
                    return item
                if self._ended:
                    return EndOfStream()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class FrameFeed:
    """The producers' shared reader: hands out frames with their sequence numbers, one at a time."""

    def __init__(self, source: Source, source_timeout: float, max_frames: int | None) -> None:
        self.source, self.source_timeout, self.max_frames = source, source_timeout, max_frames
        self._lock = threading.Lock()
        self._count = 0

    @property
    def exhausted(self) -> bool:
        """True once ``max_frames`` frames were handed out."""
        return self.max_frames is not None and self._count >= self.max_frames

    def next(self) -> tuple[int, Frame, float] | None:
        """``(sequence, frame, capture seconds)``, or None at the end (EOS or ``max_frames``)."""
        with self._lock:
            if self.max_frames is not None and self._count >= self.max_frames:
                return None
            t0 = time.perf_counter()
            frame = self.source.read(timeout=self.source_timeout)
            if frame is None:
                return None
            seq, self._count = self._count, self._count + 1
            return seq, frame, time.perf_counter() - t0


class Producer(threading.Thread):
    """Owns one detector: creates it, then capture + preprocess + infer + postprocess per frame."""

    def __init__(self, feed: FrameFeed, make_detector: Callable[[], Detector], mailbox: Mailbox, index: int = 0,
                 after: "Producer | None" = None) -> None:
        super().__init__(name=f"trtssd-producer-{index}", daemon=True)
        self.feed, self.make_detector, self.mailbox, self.after = feed, make_detector, mailbox, after
        self.stage = "starting"
        self.ready = threading.Event()
        self.ready_at = 0.0  # time.perf_counter() when the detector was created
        self.detector: Detector | None = None

    def run(self) -> None:
        error: BaseException | None = None
        try:
            if self.after is not None:
                # Load after the first worker: a first-use conversion (or engine build) then runs
                # once, and the others find it in the cache.
                self.stage = "waiting for the first worker's model"
                while not self.after.ready.wait(0.1):
                    if self.mailbox.cancelled or not self.after.is_alive():
                        return
            self.stage = "loading the model"
            self.detector = self.make_detector()
            self.ready_at = time.perf_counter()
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
        while not self.mailbox.cancelled:
            self.stage = "capture"
            got = self.feed.next()
            if got is None:
                return
            seq, frame, capture = got
            self.stage = "detect"
            seconds: dict[str, float] = {}
            dets = det.detect_batch([frame.image], seconds)[0]
            self.stage = "handing over"
            if not self.mailbox.put(Result(frame, dets, {"capture": capture, **seconds}), seq):
                return


def run_async(source: Source, make_detector: Callable[[], Detector], sinks: Sequence[Sink], *,
              max_frames: int | None = None, show_fps: bool = True, stop: threading.Event | None = None,
              keep_all: bool | None = None, capacity: int = 4, source_timeout: float = 10.0,
              startup_timeout: float = 600.0, frame_timeout: float | None = None,
              on_ready: Callable[[Detector], None] | None = None, prefetch: bool = True,
              workers: int = 1) -> RunResult:
    """Run the producer/consumer pipeline until EOS, ``max_frames``, a sink's stop request or ``stop``.

    ``keep_all`` defaults to ``not source.is_live``. ``frame_timeout`` (default ``source_timeout + 5``)
    bounds the wait between results once the first arrived. ``on_ready(detector)`` is called in the
    consumer thread once the model is loaded. The returned stages include the producer's.
    ``prefetch``: decode file sources in a third thread (:class:`PrefetchSource`), overlapping
    decoding with inference; live sources already capture in their own thread.
    ``workers``: producer threads, each calling ``make_detector`` once (see module docstring).
    """
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, found {workers}")
    keep_all = (not source.is_live) if keep_all is None else keep_all
    frame_timeout = source_timeout + 5.0 if frame_timeout is None else frame_timeout
    mailbox = Mailbox(keep_all, capacity + workers - 1, producers=workers)
    reader = PrefetchSource(source, capacity + workers) if prefetch and not source.is_live else None
    # Live sources drop stale results, so the consumer counts max_frames on delivered results.
    feed = FrameFeed(reader or source, source_timeout, max_frames if keep_all else None)
    producers: list[Producer] = []
    for i in range(workers):
        producers.append(Producer(feed, make_detector, mailbox, i, after=producers[0] if i else None))
    stages, meter = StageTimes(), FpsMeter()
    frames, stopped_by, t_start, first = 0, "eos", time.perf_counter(), 0.0
    for p in producers:
        p.start()
    wait_since = time.perf_counter()  # when the consumer started waiting for the next result
    try:
        while True:
            if stop is not None and stop.is_set():
                stopped_by = "signal"
                break
            if max_frames is not None and frames >= max_frames:
                stopped_by = "max_frames"
                break
            item = mailbox.get(0.1)
            if item is None:
                # The first result carries model loading and warm-up (cuDNN autotuning, a lazy
                # TensorRT engine build): it gets startup_timeout, later ones frame_timeout.
                limit = frame_timeout if frames else startup_timeout
                if time.perf_counter() - wait_since > limit:
                    stuck = ", ".join(sorted({p.stage for p in producers}))
                    raise PipelineStalled(f"pipeline: expected a result within {limit:.0f} s, found none "
                                          f"(producer stuck in '{stuck}')")
                continue
            if isinstance(item, EndOfStream):
                stopped_by = "max_frames" if feed.exhausted else "eos"
                break
            if frames == 0:
                t_start = producers[0].ready_at  # FPS excludes model loading, like the sync loop
                if on_ready is not None:
                    on_ready(producers[0].detector)
            else:
                stages.add("wait", time.perf_counter() - wait_since)
            for name, sec in item.stage_seconds.items():
                stages.add(name, sec)
            user_stop = deliver(item.frame, item.detections, sinks, stages, meter if show_fps else None)
            frames += 1
            if frames == 1:
                first = time.perf_counter() - t_start
            wait_since = time.perf_counter()
            if user_stop:
                stopped_by = "user"
                break
    finally:
        mailbox.cancel()
        for p in producers:
            p.join(timeout=5.0)
        if reader is not None:
            reader.close()
    return RunResult(frames, time.perf_counter() - t_start, stages, stopped_by, first)
