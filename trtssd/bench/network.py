"""Network-only latency and throughput of a backend over a batch sweep.

Inputs are random uint8 images (several sets, rotated, so caches do not flatter); each point is
warmed up first, then timed per call: with CUDA events around each call on a torch CUDA backend
(inputs already on the device), with the host clock elsewhere (host numpy in, numpy out).
Reported times are medians.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from trtssd.backends.base import Backend


@dataclass(frozen=True)
class NetworkPoint:
    """One batch size: per-call latency statistics (ms) and images per second from the median."""

    batch: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    images_per_s: float
    iters: int
    timer: str  # "cuda_events" or "host_clock"

    def to_dict(self) -> dict:
        return asdict(self)


def _is_cuda_torch(backend: Backend) -> bool:
    dev = getattr(backend, "device", None)
    return getattr(backend, "name", "") == "torch" and getattr(dev, "type", "") == "cuda"


def _point(batch: int, times_ms: list[float], timer: str) -> NetworkPoint:
    t = np.asarray(times_ms, dtype=np.float64)
    med = float(np.median(t))
    return NetworkPoint(batch, med, float(np.percentile(t, 10)), float(np.percentile(t, 90)),
                        batch / (med / 1000.0), len(t), timer)


def _iters_for(est_ms: float, min_time_s: float, min_iters: int, max_iters: int) -> int:
    return int(min(max_iters, max(min_iters, min_time_s * 1000.0 / max(est_ms, 1e-3))))


def bench_point(backend: Backend, batch: int, *, input_sets: int = 4, min_time_s: float = 1.0,
                min_iters: int = 5, max_iters: int = 2000, warmup: int = 3, seed: int = 0) -> NetworkPoint:
    """Time ``backend`` at one batch size (see module docstring)."""
    h, w = backend.info.input_size
    rng = np.random.default_rng(seed)
    sets = [rng.integers(0, 256, size=(batch, h, w, 3), dtype=np.uint8) for _ in range(input_sets)]
    if _is_cuda_torch(backend):
        import torch

        dev_sets = [torch.from_numpy(s).to(backend.device) for s in sets]
        for i in range(warmup):
            backend.infer_tensor(dev_sets[i % input_sets])
        torch.cuda.synchronize(backend.device)
        t0 = time.perf_counter()
        backend.infer_tensor(dev_sets[0])
        torch.cuda.synchronize(backend.device)
        n = _iters_for((time.perf_counter() - t0) * 1000.0, min_time_s, min_iters, max_iters)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for i, (start, end) in enumerate(events):
            start.record()
            backend.infer_tensor(dev_sets[i % input_sets])
            end.record()
        torch.cuda.synchronize(backend.device)
        return _point(batch, [s.elapsed_time(e) for s, e in events], "cuda_events")
    for i in range(warmup):
        backend.infer(sets[i % input_sets])
    t0 = time.perf_counter()
    backend.infer(sets[0])
    n = _iters_for((time.perf_counter() - t0) * 1000.0, min_time_s, min_iters, max_iters)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        backend.infer(sets[i % input_sets])
        times.append((time.perf_counter() - t0) * 1000.0)
    return _point(batch, times, "host_clock")


def bench_network(backend: Backend, batches: list[int], **kwargs) -> list[NetworkPoint]:
    """:func:`bench_point` for every batch size, in order."""
    return [bench_point(backend, b, **kwargs) for b in batches]
