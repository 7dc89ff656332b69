"""End-to-end diagnostics (one device call): repeated sync runs in one process (one-off costs of
the first timed run) and aggregate OpenCV decode FPS with 1/2/4/8 concurrent decoders."""

import sys
import threading
import time
from pathlib import Path

import cv2

from trtssd.bench import e2e
from trtssd.detector import Detector

if __name__ == "__main__":
    artifact, video = sys.argv[1], Path(sys.argv[2])
    print("cv2", cv2.__version__, "threads", cv2.getNumThreads(), flush=True)
    det = Detector(artifact, "torch", conf_th=0.3, backend_options={"precision": "fp16"})
    fn = lambda fr: det.backend.detect_frames(fr, det.nms)  # noqa: E731
    for i in range(3):
        r = e2e.bench_sync(fn, video, None, 8, Path("/tmp/diag.jsonl"))
        print("sync b8 run", i, round(r.seconds, 3), round(r.fps, 1), flush=True)
    for workers in (1, 2, 4, 8):
        counts = [0] * workers

        def work(k):
            counts[k] = sum(len(b) for b in e2e.iter_batches(video, 32, None))

        ts = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        t0 = time.perf_counter()
        [t.start() for t in ts]
        [t.join() for t in ts]
        dt = time.perf_counter() - t0
        print(f"decoders {workers}: {sum(counts)} frames {dt:.3f} s -> {sum(counts) / dt:.0f} FPS aggregate", flush=True)
