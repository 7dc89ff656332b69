"""Frame-rate and per-stage timing."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field


class FpsMeter:
    """Smoothed instantaneous FPS (exponential moving average over frame intervals)."""

    def __init__(self, smoothing: float = 0.95) -> None:
        self.smoothing = smoothing
        self.fps = 0.0
        self._last: float | None = None

    def tick(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        if self._last is not None and now > self._last:
            current = 1.0 / (now - self._last)
            self.fps = current if self.fps == 0.0 else self.fps * self.smoothing + current * (1 - self.smoothing)
        self._last = now
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

    ``first_frame_seconds``: wall time until the first frame was through (model warm-up: cuDNN
    autotuning, graph capture, lazy allocations; seconds on a GPU backend). :attr:`fps` is the
    steady rate after it; :attr:`overall_fps` includes it.
    """

    frames: int
    seconds: float
    stages: StageTimes
    stopped_by: str  # "eos", "user", "max_frames", "signal"
    first_frame_seconds: float = 0.0

    @property
    def overall_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def fps(self) -> float:
        steady = self.seconds - self.first_frame_seconds
        if self.frames < 2 or steady <= 0:
            return self.overall_fps
        return (self.frames - 1) / steady

    def summary(self, prog: str, backend: str) -> str:
        """The one-line report the CLIs print at exit."""
        rate = f"{self.fps:.1f} FPS"
        if self.frames >= 2:
            rate += (f" after the first frame ({1000 * self.first_frame_seconds:.0f} ms, warm-up; "
                     f"{self.overall_fps:.1f} FPS overall)")
        return (f"{prog}: {self.frames} frames in {self.seconds:.2f} s = {rate}; backend {backend}, "
                f"stopped by {self.stopped_by}; {self.stages.summary()}")
