"""End-to-end video FPS: decode -> detect -> JSON lines, headless.

* ``decode``: decoding alone (OpenCV), the ceiling for the other two.
* ``sync``: one thread reads ``batch`` frames, detects them, writes their JSON lines.
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


def detections_json(frame_index: int, dets: Detections) -> str:
    """One JSON line: frame index and ``[x1, y1, x2, y2, score, class_id]`` rows (pixels)."""
    rows = [[round(float(v), 1) for v in box] + [round(float(s), 4), int(c)]
            for box, s, c in zip(dets.xyxy, dets.confidence, dets.class_id)]
    return json.dumps({"frame": frame_index, "detections": rows})


def bench_decode(path: Path, max_frames: int | None, batch: int = 32) -> E2EResult:
    t0 = time.perf_counter()
    n = sum(len(b) for b in iter_batches(path, batch, max_frames))
    dt = time.perf_counter() - t0
    return E2EResult(str(path), "decode", batch, n, dt, n / dt, 0)


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
                queue_size: int = 4) -> E2EResult:
    _warm_up(detect, path, batch, max_frames)
    q: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            for frames in iter_batches(path, batch, max_frames):
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
    return E2EResult(str(path), "async", batch, n, dt, n / dt, ndet)
