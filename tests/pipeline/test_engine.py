"""The pipeline engine: hand-off semantics, completeness/order, errors, stalls, stop, lifecycle."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from trtssd.detections import Detections
from trtssd.detector import Detector
from trtssd.errors import ModelNotFoundError, SourceTimeout
from trtssd.pipeline.engine import FrameFeed, PipelineStalled, run_pipeline
from trtssd.pipeline.mailbox import EndOfStream, Mailbox, Result
from trtssd.sinks.base import Sink
from trtssd.sources.base import Frame, Source
from trtssd.sources.files import VideoFileSource


def run_async(source, make_detector, sinks, capacity=4, **kwargs):
    return run_pipeline(source, make_detector, sinks, threaded=True, queue=capacity, **kwargs)


def _result(i: int) -> Result:
    return Result(Frame(np.zeros((2, 2, 3), np.uint8), i, float(i)), Detections.empty())


class Recorder(Sink):
    def __init__(self, stop_after: int | None = None) -> None:
        self.indices, self.annotated_shapes, self.stop_after = [], [], stop_after
        self.thread_ids = set()

    def write(self, frame, detections, annotated):
        self.indices.append(frame.index)
        self.annotated_shapes.append(None if annotated is None else annotated.shape)
        self.thread_ids.add(threading.get_ident())

    @property
    def stop_requested(self):
        return self.stop_after is not None and len(self.indices) >= self.stop_after


class Synthetic(Source):
    """``n`` frames (or endless), optionally live, optionally slow."""

    def __init__(self, n: int | None, live: bool = False, delay: float = 0.0) -> None:
        self.n, self.is_live, self.delay, self.i = n, live, delay, 0

    def read(self, timeout=None):
        if self.n is not None and self.i >= self.n:
            return None
        time.sleep(self.delay)
        self.i += 1
        return Frame(np.full((48, 64, 3), self.i % 255, np.uint8), self.i - 1, float(self.i))


@pytest.mark.parametrize("capacity", [1, 3])
def test_mailbox_keep_all_is_fifo_and_blocks_when_full(capacity):
    box = Mailbox(keep_all=True, capacity=capacity)
    done = []

    def produce():
        for i in range(10):
            box.put(_result(i))
        box.finish()
        done.append(True)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    time.sleep(0.2)
    assert not done  # 10 > capacity: the producer waits for the consumer
    got = []
    while not isinstance(item := box.get(5.0), EndOfStream):
        got.append(item.frame.index)
    t.join(5)
    assert got == list(range(10)) and box.dropped == 0


def test_mailbox_newest_only_drops_stale_results():
    box = Mailbox(keep_all=False)
    for i in range(5):
        assert box.put(_result(i))
    assert box.get(1.0).frame.index == 4
    assert box.dropped == 4
    assert box.get(0.05) is None


def test_mailbox_reraises_producer_error_and_cancel_releases_producer():
    box = Mailbox(keep_all=True, capacity=1)
    box.put(_result(0))
    box.cancel()
    assert box.put(_result(1)) is False  # not blocked forever
    box2 = Mailbox(keep_all=True)
    box2.finish(SourceTimeout("x: expected a frame within 1.0 s, found none"))
    with pytest.raises(SourceTimeout):
        box2.get(1.0)


def test_mailbox_reorders_results_of_several_producers():
    box = Mailbox(keep_all=True, capacity=2, producers=2)
    assert box.put(_result(1), seq=1)  # the second worker finished first
    assert box.get(0.05) is None  # frame 0 is still missing: nothing out of order
    done = threading.Event()

    def late_put():
        box.put(_result(2), seq=2)  # 2 >= next (0) + capacity: waits for the consumer
        done.set()

    threading.Thread(target=late_put, daemon=True).start()
    assert not done.wait(0.2)
    box.put(_result(0), seq=0)
    assert [box.get(1.0).frame.index for _ in range(3)] == [0, 1, 2]
    assert done.wait(1.0)
    box.finish()
    assert box.get(0.05) is None  # one producer is still running
    box.finish()
    assert isinstance(box.get(1.0), EndOfStream)


@pytest.mark.parametrize("take_first", [False, True])
def test_mailbox_newest_only_ignores_an_older_late_result(take_first):
    box = Mailbox(keep_all=False, producers=2)
    box.put(_result(5), seq=5)
    if take_first:  # frame 5 already shown: frame 4 must not follow it
        assert box.get(1.0).frame.index == 5
    box.put(_result(4), seq=4)  # a slower worker's older frame
    assert box.dropped == 1
    if take_first:
        assert box.get(0.05) is None
    else:
        assert box.get(1.0).frame.index == 5


@pytest.mark.parametrize(
    "requested, backend, cores, expected",
    [
        ("auto", "onnxruntime", 2, (2, {"intra_op_threads": 1})),
        ("auto", "onnxruntime", 16, (2, {"intra_op_threads": 8})),
        ("auto", "onnxruntime", 1, (1, {})),
        ("1", "onnxruntime", 2, (1, {})),
        ("3", "onnxruntime-nms", 2, (3, {"intra_op_threads": 1})),
    ],
)
def test_plan_workers(requested, backend, cores, expected, monkeypatch):
    from trtssd.cli.detect_async import plan_workers

    monkeypatch.delenv("TRTSSD_ORT_THREADS", raising=False)
    assert plan_workers(requested, backend, cores) == expected


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_plan_workers_rejects(bad):
    from trtssd.cli.detect_async import plan_workers

    with pytest.raises(ValueError, match="--workers: expected"):
        plan_workers(bad, "onnxruntime", 2)


@pytest.fixture(scope="module")
def make_detector(quant_artifact):
    return lambda: Detector(str(quant_artifact[0]), "onnxruntime", conf_th=0.3)


@pytest.mark.parametrize("workers", [1, 2])
def test_video_every_frame_in_order_with_real_model(shared_dir, make_detector, cpu_detector, workers):
    sink = Recorder()
    with VideoFileSource(shared_dir / "media" / "car-detection.mp4") as src:
        result = run_async(src, make_detector, [sink], capacity=2, workers=workers)
    assert result.stopped_by == "eos" and result.frames == 377
    assert sink.indices == list(range(377))
    assert sink.thread_ids == {threading.get_ident()}  # the consumer is the calling thread
    assert set(sink.annotated_shapes) == {(432, 768, 3)}
    for stage in ("capture", "preprocess", "infer", "postprocess", "draw", "write"):
        assert result.stages.counts[stage] == 376, stage  # every frame after the first (warm-up)


@pytest.mark.parametrize("workers", [1, 2])
def test_async_detections_equal_sync(shared_dir, make_detector, cpu_detector, workers):
    class Keep(Recorder):
        def __init__(self):
            super().__init__()
            self.dets = []

        def write(self, frame, detections, annotated):
            super().write(frame, detections, annotated)
            self.dets.append(detections)

    sink = Keep()
    with VideoFileSource(shared_dir / "media" / "car-detection.mp4") as src:
        run_async(src, make_detector, [sink], max_frames=20, workers=workers)
    with VideoFileSource(shared_dir / "media" / "car-detection.mp4") as src:
        expected = [cpu_detector.detect(f.image) for _, f in zip(range(20), src)]
    assert sink.indices == list(range(20))
    for got, want in zip(sink.dets, expected):
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_array_equal(got.class_id, want.class_id)


def test_detector_is_created_in_the_producer_thread(make_detector):
    threads = []

    def make():
        threads.append(threading.get_ident())
        return make_detector()

    run_async(Synthetic(3), make, [Recorder()])
    assert threads and threads[0] != threading.get_ident()


def test_producer_error_is_raised_in_the_consumer():
    def broken():
        raise ModelNotFoundError("model 'nope': expected a registered name or file, found neither")

    with pytest.raises(ModelNotFoundError, match="nope"):
        run_async(Synthetic(3), broken, [Recorder()])


def test_stalled_producer_is_reported_not_waited_on_forever(make_detector):
    with pytest.raises(PipelineStalled, match="stuck in 'capture'"):
        run_async(Synthetic(None, delay=3.0), make_detector, [Recorder()], frame_timeout=0.5, startup_timeout=120)


def test_model_load_does_not_count_against_the_frame_timeout(make_detector):
    """Loading takes longer than frame_timeout; that is no stall. The margin between a frame's
    detection (~10 ms, a few hundred on a loaded 2-core machine) and frame_timeout is wide, so
    the test never depends on how fast this machine is."""

    def slow():
        time.sleep(3.0)
        return make_detector()

    result = run_async(Synthetic(5), slow, [Recorder()], frame_timeout=2.5, startup_timeout=120)
    assert result.frames == 5


def test_workers_load_one_after_another(make_detector):
    """The second worker creates its detector only once the first has one, so a first-use
    conversion runs once instead of racing on the cache."""
    spans, lock = [], threading.Lock()

    def make():
        t0 = time.perf_counter()
        time.sleep(0.3)
        det = make_detector()
        with lock:
            spans.append((t0, time.perf_counter()))
        return det

    sink = Recorder()
    run_async(Synthetic(12), make, [sink], workers=2)
    (a0, a1), (b0, b1) = sorted(spans)
    assert b0 >= a1 and sink.indices == list(range(12))


def test_slow_model_load_hits_startup_timeout():
    def slow():
        time.sleep(2.0)

    with pytest.raises(PipelineStalled, match="stuck in 'loading the model'"):
        run_async(Synthetic(3), slow, [Recorder()], startup_timeout=0.3)


@pytest.mark.parametrize("stop_how, expected", [("sink", "user"), ("event", "signal"), ("max_frames", "max_frames")])
def test_stop_reasons(make_detector, stop_how, expected):
    stop = threading.Event()
    sink = Recorder(stop_after=5 if stop_how == "sink" else None)
    if stop_how == "event":
        threading.Timer(1.0, stop.set).start()
    result = run_async(Synthetic(None), make_detector, [sink], stop=stop,
                       max_frames=7 if stop_how == "max_frames" else None)
    assert result.stopped_by == expected
    assert sink.indices == list(range(len(sink.indices)))
    if stop_how == "max_frames":
        assert len(sink.indices) == 7


def test_live_source_consumer_sees_newest_results_only(make_detector):
    source = Synthetic(None, live=True)

    class SlowSink(Recorder):
        """Returns only once the producer has read 3 more frames, so it has handed over at least
        two newer results meanwhile: the older of them must have been dropped."""

        def write(self, frame, detections, annotated):
            super().write(frame, detections, annotated)
            deadline = time.monotonic() + 60  # a hang guard
            while source.i < frame.index + 4 and time.monotonic() < deadline:
                time.sleep(0.005)  # polling a condition

    sink = SlowSink(stop_after=6)
    run_async(source, make_detector, [sink])
    steps = np.diff(sink.indices)
    assert (steps >= 2).all(), sink.indices  # ascending, and a stale result skipped every time


# ---- lifecycle: every wait cancellable, errors never lose results, nothing left unreported ----

class Silent(Source):
    """A live source that never delivers: read waits its timeout (on an Event), then times out."""

    is_live = True

    def __init__(self) -> None:
        self.reading = threading.Event()  # set once a read started
        self.closed = threading.Event()
        self.reads = 0

    def read(self, timeout=None):
        self.reads += 1
        self.reading.set()
        self.closed.wait(timeout)
        raise SourceTimeout(f"silent: expected a frame within {timeout:.1f} s, found none")


class FakeDetector:
    """Detects nothing; ``fail_at``: raise on that frame index; ``close_error``: raise in close()."""

    def __init__(self, fail_at: int | None = None, close_error: BaseException | None = None) -> None:
        self.fail_at, self.close_error = fail_at, close_error

    def detect_batch(self, frames, timings=None):
        if self.fail_at is not None and any(f[0, 0, 0] == self.fail_at + 1 for f in frames):
            raise RuntimeError(f"backend failed on frame {self.fail_at}")
        return [Detections.empty() for _ in frames]

    def close(self):
        if self.close_error is not None:
            raise self.close_error


@pytest.mark.parametrize("threaded", [False, True])
def test_stop_while_a_live_source_is_silent_ends_the_run(threaded):
    """trt_ssd.py used to wait out --source_timeout inside read() before seeing SIGINT."""
    src, stop = Silent(), threading.Event()
    threading.Thread(target=lambda: (src.reading.wait(), stop.set()), daemon=True).start()
    result = run_pipeline(src, FakeDetector, [Recorder()], threaded=threaded, stop=stop, source_timeout=3600)
    assert result.stopped_by == "signal" and result.frames == 0 and result.leftover_threads == []


def test_feed_ends_for_every_reader_after_one_timed_out():
    """With 2 workers, the second used to start its own full source_timeout read after the first
    timed out (and the consumer joined it for 5 s)."""
    src = Silent()
    feed = FrameFeed(src, source_timeout=0.3)
    with pytest.raises(SourceTimeout, match="expected a frame within 0.3 s"):
        feed.next()
    reads = src.reads
    assert feed.done and feed.next() is None and src.reads == reads


def test_silent_source_with_two_workers_fails_once_and_leaves_no_thread():
    with pytest.raises(SourceTimeout):
        run_pipeline(Silent(), FakeDetector, [Recorder()], threaded=True, workers=2, source_timeout=0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("trtssd-infer")]


def test_stop_during_model_load_returns_and_names_the_loading_thread():
    """SIGINT during a first-use conversion used to wait 5 s for the loading thread; the load cannot
    be interrupted, so the run returns and reports the thread instead."""
    loading, release, stop = threading.Event(), threading.Event(), threading.Event()

    def slow_load():
        loading.set()
        release.wait()
        return FakeDetector()

    threading.Thread(target=lambda: (loading.wait(), stop.set()), daemon=True).start()
    try:
        result = run_pipeline(Synthetic(3), slow_load, [Recorder()], threaded=True, stop=stop)
        assert result.stopped_by == "signal" and result.frames == 0
        assert result.leftover_threads == ["trtssd-infer-0 (loading the model)"]
    finally:
        release.set()


def test_error_in_detector_close_is_raised_not_reported_as_a_stall():
    err = RuntimeError("close failed")
    with pytest.raises(RuntimeError, match="close failed"):
        run_pipeline(Synthetic(3), lambda: FakeDetector(close_error=err), [Recorder()], threaded=True,
                     frame_timeout=3600)


@pytest.mark.parametrize("batch", [1, 2])
def test_results_computed_before_an_error_are_delivered(batch):
    sink = Recorder()
    with pytest.raises(RuntimeError, match="frame 5"):
        run_pipeline(Synthetic(10), lambda: FakeDetector(fail_at=5), [sink], threaded=True, batch=batch)
    assert sink.indices == [0, 1, 2, 3, 4][: 5 - 5 % batch]


def test_mailbox_hands_out_pending_results_before_the_error():
    box = Mailbox(keep_all=True, capacity=8)
    box.put(_result(0))
    box.put(_result(1))
    box.finish(RuntimeError("boom"))
    assert [box.get(1.0).frame.index for _ in range(2)] == [0, 1]
    with pytest.raises(RuntimeError, match="boom"):
        box.get(1.0)


@pytest.mark.parametrize("batch, max_frames", [(4, None), (4, 10), (3, 7)])
def test_batches_keep_every_frame_in_order(batch, max_frames):
    sink = Recorder()
    result = run_pipeline(Synthetic(10), FakeDetector, [sink], threaded=True, batch=batch, max_frames=max_frames)
    n = 10 if max_frames is None else max_frames
    assert sink.indices == list(range(n)) and result.frames == n
    assert result.first_frames == min(batch, n)


def test_live_latency_is_recorded_per_frame():
    result = run_pipeline(Synthetic(None, live=True), FakeDetector, [Recorder(stop_after=5)], threaded=True)
    assert len(result.latencies) == result.frames >= 5 and all(x >= 0 for x in result.latencies)
