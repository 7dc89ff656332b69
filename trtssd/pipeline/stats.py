"""Frame-rate and per-stage timing."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass, field


class FpsMeter:
    """Frames per second delivered over the last ``window`` seconds: (ticks - 1) / their time span.

    A rate over a window, not an average of ``1 / interval``: bursty arrivals (two frames 1 ms
    apart, then a 19 ms gap) read 100 FPS, not the ~500 FPS an average of 1/dt would show.
    """

    def __init__(self, window: float = 1.0) -> None:
        if window <= 0:
            raise ValueError(f"window: expected > 0 seconds, found {window}")
        self.window = window
        self.fps = 0.0
        self._ticks: deque[float] = deque()

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        ticks = self._ticks
        ticks.append(now)
        while len(ticks) > 2 and now - ticks[0] > self.window:
            ticks.popleft()
        span = ticks[-1] - ticks[0]
        if len(ticks) >= 2 and span > 0:
            self.fps = (len(ticks) - 1) / span
        return self.fps


@dataclass
class StageTimes:
    """Accumulated seconds and counts per named stage (capture, preprocess, infer, ...)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def measure(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0
            self.counts[stage] += 1

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds
        self.counts[stage] += 1

    def merge(self, other: "StageTimes") -> None:
        for k, v in other.seconds.items():
            self.seconds[k] += v
            self.counts[k] += other.counts[k]

    def summary(self) -> str:
        parts = [f"{k} {1000 * v / max(1, self.counts[k]):.2f} ms" for k, v in self.seconds.items()]
        return "per frame: " + ", ".join(parts) if parts else "per frame: no frames"


@dataclass
class RunResult:
    """Outcome of a run: frames processed, wall seconds, stage times, and why it stopped.

    ``first_frame_seconds``: wall time until the first batch (``first_frames`` frames) was through
    (model warm-up: cuDNN autotuning, graph capture, lazy allocations; seconds on a GPU backend).
    :attr:`fps` is the steady rate after it; :attr:`overall_fps` includes it.
    ``latencies``: live sources, seconds from capture to the end of the sinks' writes, per frame.
    ``leftover_threads``: pipeline threads still running when the run returned (``name (stage)``).
    """

    frames: int
    seconds: float
    stages: StageTimes
    stopped_by: str  # "eos", "user", "max_frames", "signal"
    first_frame_seconds: float = 0.0
    first_frames: int = 1
    latencies: list[float] = field(default_factory=list)
    leftover_threads: list[str] = field(default_factory=list)

    @property
    def overall_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def fps(self) -> float:
        steady = self.seconds - self.first_frame_seconds
        first = max(1, self.first_frames)
        if self.frames <= first or steady <= 0:
            return self.overall_fps
        return (self.frames - first) / steady

    def latency_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of :attr:`latencies`, in ms (nan without latencies)."""
        if not self.latencies:
            return float("nan")
        values = sorted(self.latencies)
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]

    def summary(self, prog: str, backend: str) -> str:
        """The one-line report the CLIs print at exit."""
        rate = f"{self.fps:.1f} FPS"
        if self.frames > max(1, self.first_frames):
            what = "frame" if self.first_frames <= 1 else f"batch of {self.first_frames}"
            rate += (f" after the first {what} ({1000 * self.first_frame_seconds:.0f} ms, warm-up; "
                     f"{self.overall_fps:.1f} FPS overall)")
        extra = ""
        if self.latencies:
            extra += (f"; latency capture->written p50 {self.latency_ms(0.5):.1f} ms, "
                      f"p99 {self.latency_ms(0.99):.1f} ms")
        if self.leftover_threads:
            extra += f"; threads still running at exit: {', '.join(self.leftover_threads)}"
        stages = self.stages.summary()
        if self.frames > max(1, self.first_frames):
            stages = stages.replace("per frame:", "per frame after the first:", 1)
        return (f"{prog}: {self.frames} frames in {self.seconds:.2f} s = {rate}; backend {backend}, "
                f"stopped by {self.stopped_by}{extra}; {stages}")
