"""End-to-end video FPS: decode -> detect -> JSON lines, headless.

* ``decode``: decoding alone (OpenCV), the ceiling for the other two.
* ``sync``: one thread reads ``batch`` frames, detects them, writes their JSON lines.
* ``asyncW`` / ``decodeW``: the same with ``W`` decoder threads (:func:`iter_batches_parallel`).
* ``async``: a decoder thread fills a bounded queue of frame batches; the calling thread (which
  owns the backend) detects and writes.

The video is looped until ``max_frames`` frames are done (or read once when ``max_frames`` is
None). One warm-up batch runs before the clock starts (CUDA graph capture, cuDNN autotuning).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from trtssd.detections import Detections
from trtssd.errors import InputError

DetectFn = Callable[[Sequence[np.ndarray]], list[Detections]]


@dataclass(frozen=True)
class E2EResult:
    video: str
    mode: str  # decode | sync | async
    batch: int
    frames: int
    seconds: float
    fps: float
    detections: int

    def to_dict(self) -> dict:
        return asdict(self)


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"video '{path}': expected a readable video file, found none or undecodable data")
    return cap


def iter_batches(path: Path, batch: int, max_frames: int | None) -> Iterator[list[np.ndarray]]:
    """BGR frames of ``path`` in lists of ``batch`` (the last may be shorter), looping the video
    until ``max_frames`` frames (once through when None)."""
    done, cap, buf = 0, _open(path), []
    try:
        while max_frames is None or done < max_frames:
            ok, frame = cap.read()
            if not ok:
                if done == 0 and not buf:
                    raise InputError(f"video '{path}': expected at least one frame, found none")
                if max_frames is None:
                    break
                cap.release()
                cap = _open(path)
                continue
            buf.append(frame)
            done += 1
            if len(buf) == batch:
                yield buf
                buf = []
        if buf:
            yield buf
    finally:
        cap.release()


def _frame_count(path: Path) -> int:
    cap = _open(path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if n <= 0:
        raise InputError(f"video '{path}': expected a frame count in the container, found {n}")
    return n


def iter_batches_parallel(path: Path, batch: int, max_frames: int | None, workers: int,
                          chunk_batches: int = 8) -> Iterator[list[np.ndarray]]:
    """Like :func:`iter_batches`, decoded by ``workers`` threads, each with its own decoder.

    The frame sequence is cut into chunks of ``chunk_batches`` batches dealt round-robin to the
    workers; a worker seeks to its chunk's first frame and decodes it sequentially, and chunks are
    yielded in order. At most two chunks per worker wait in memory.
    """
    total = _frame_count(path)
    n = total if max_frames is None else max_frames
    size = batch * chunk_batches
    starts = list(range(0, n, size))
    queues = [queue.Queue(maxsize=2 * chunk_batches) for _ in range(workers)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work(w: int) -> None:
        cap, pos = None, -1
        try:
            for c in range(w, len(starts), workers):
                first, count = starts[c], min(size, n - starts[c])
                buf = []
                for k in range(first, first + count):
                    idx = k % total
                    if cap is None or pos != idx:
                        if cap is None:
                            cap = _open(path)
                        cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
                    ok, frame = cap.read()
                    if not ok:
                        raise InputError(f"video '{path}': expected frame {idx} of {total}, found the end")
                    pos = idx + 1
                    buf.append(frame)
                    if len(buf) == batch:
                        if not put(queues[w], buf):
                            return
                        buf = []
                if buf and not put(queues[w], buf):
                    return
        except BaseException as exc:  # re-raised by the consumer
            errors.append(exc)
            put(queues[w], None)
        finally:
            if cap is not None:
                cap.release()

    threads = [threading.Thread(target=work, args=(w,), name=f"trtssd-decode-{w}", daemon=True) for w in range(workers)]
    for t in threads:
        t.start()
    try:
        for c, first in enumerate(starts):
            count = min(size, n - first)
            for _ in range((count + batch - 1) // batch):
                item = queues[c % workers].get()
                if item is None:
                    raise errors[0]
                yield item
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)


def detections_json(frame_index: int, dets: Detections) -> str:
    """One JSON line: frame index and ``[x1, y1, x2, y2, score, class_id]`` rows (pixels)."""
    rows = [[round(float(v), 1) for v in box] + [round(float(s), 4), int(c)]
            for box, s, c in zip(dets.xyxy, dets.confidence, dets.class_id)]
    return json.dumps({"frame": frame_index, "detections": rows})


def bench_decode(path: Path, max_frames: int | None, batch: int = 32, decode_workers: int = 1) -> E2EResult:
    t0 = time.perf_counter()
    source = (iter_batches(path, batch, max_frames) if decode_workers <= 1
              else iter_batches_parallel(path, batch, max_frames, decode_workers))
    n = sum(len(b) for b in source)
    dt = time.perf_counter() - t0
    mode = "decode" if decode_workers <= 1 else f"decode{decode_workers}"
    return E2EResult(str(path), mode, batch, n, dt, n / dt, 0)


def _warm_up(detect: DetectFn, path: Path, batch: int, max_frames: int | None) -> None:
    """Run the full batch and the final partial batch once (graph capture / autotuning)."""
    first = next(iter_batches(path, batch, batch))
    for _ in range(2):  # graph-capturing backends capture a shape on its second use
        detect(first)
    total = max_frames
    if total is None:
        cap = _open(path)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
    rem = total % batch if total > 0 else 0
    if rem and rem < len(first):
        for _ in range(2):
            detect(first[:rem])


def bench_sync(detect: DetectFn, path: Path, max_frames: int | None, batch: int, out_jsonl: Path) -> E2EResult:
    _warm_up(detect, path, batch, max_frames)
    n = ndet = 0
    t0 = time.perf_counter()
    with open(out_jsonl, "w") as f:
        for frames in iter_batches(path, batch, max_frames):
            for dets in detect(frames):
                f.write(detections_json(n, dets) + "\n")
                n += 1
                ndet += len(dets)
    dt = time.perf_counter() - t0
    return E2EResult(str(path), "sync", batch, n, dt, n / dt, ndet)


def bench_async(detect: DetectFn, path: Path, max_frames: int | None, batch: int, out_jsonl: Path,
                queue_size: int = 4, decode_workers: int = 1) -> E2EResult:
    _warm_up(detect, path, batch, max_frames)
    q: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            source = (iter_batches(path, batch, max_frames) if decode_workers <= 1
                      else iter_batches_parallel(path, batch, max_frames, decode_workers))
            for frames in source:
                while not stop.is_set():
                    try:
                        q.put(frames, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            while True:  # the end marker; give up only when the consumer has gone
                try:
                    q.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    n = ndet = 0
    t0 = time.perf_counter()
    thread = threading.Thread(target=decode, name="trtssd-bench-decode", daemon=True)
    thread.start()
    try:
        with open(out_jsonl, "w") as f:
            while (frames := q.get()) is not None:
                for dets in detect(frames):
                    f.write(detections_json(n, dets) + "\n")
                    n += 1
                    ndet += len(dets)
    finally:
        stop.set()
        thread.join(timeout=5)
    if errors:
        raise errors[0]
    dt = time.perf_counter() - t0
    mode = "async" if decode_workers <= 1 else f"async{decode_workers}"
    return E2EResult(str(path), mode, batch, n, dt, n / dt, ndet)
