"""Capture -> JSON line latency of a live 30 FPS source through the engine (trt_ssd_async's path).

A paced source publishes the frames of a video at ``fps`` from its own grabber thread, as a camera
would (newest frame only); the threaded engine runs the detector and a JSON lines sink; the engine
records, per frame, the time from the frame's capture timestamp to the end of its JSON line write.

Usage: python bench/live_latency.py ARTIFACT VIDEO BACKEND [FRAMES] [FPS]
"""

from __future__ import annotations

import sys
import time

import cv2

from trtssd.detector import Detector
from trtssd.pipeline.engine import run_pipeline
from trtssd.sinks.files import JsonLinesSink
from trtssd.sources.live import LatestFrameSource


class PacedVideo(LatestFrameSource):
    def __init__(self, path: str, fps: float) -> None:
        super().__init__(f"paced {path}")
        self.path, self.period = path, 1.0 / fps
        self._start()

    def _grab_loop(self) -> None:
        cap = cv2.VideoCapture(self.path)
        nxt = time.monotonic()
        try:
            while not self._closing.is_set():
                ok, image = cap.read()
                if not ok:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                nxt += self.period
                if self._closing.wait(max(0.0, nxt - time.monotonic())):
                    return
                self._publish(image)  # stamped with time.monotonic() now: the capture time
        finally:
            cap.release()


if __name__ == "__main__":
    artifact, video, backend = sys.argv[1:4]
    frames = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    fps = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    with PacedVideo(video, fps) as src, JsonLinesSink("/tmp/live.jsonl") as sink:
        r = run_pipeline(src, lambda: Detector(artifact, backend, conf_th=0.3), [sink], threaded=True,
                         max_frames=frames, show_fps=False)
    lat = r.latencies[5:]  # the first frames carry the model's warm-up
    q = sorted(lat)
    print(f"live {fps:.0f} FPS source, backend {backend}: {r.frames} frames, delivered {r.fps:.1f} FPS; latency "
          f"capture->JSON line written: p50 {1000 * q[len(q) // 2]:.2f} ms, p99 {1000 * q[int(0.99 * len(q))]:.2f} ms, "
          f"max {1000 * q[-1]:.2f} ms (over {len(q)} frames after 5 warm-up frames)")
