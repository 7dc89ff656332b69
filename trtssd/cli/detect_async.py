"""``trt_ssd_async.py`` / ``trtssd detect-async``: the threaded producer/consumer pipeline.

Same flags as ``trt_ssd.py`` (see :mod:`trtssd.cli.detect`) plus ``--queue``, ``--workers``,
``--batch`` and ``--startup_timeout``. The engine (:mod:`trtssd.pipeline.engine`) runs threaded: a
decoder/grabber thread captures, the inference thread creates the detector (and so owns a GPU
backend's context) and detects, the main thread draws, shows and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from trtssd.cli.common import run_main
from trtssd.cli.detect import configure as configure_sync
from trtssd.cli.detect import open_sinks, source_config, stop_on_signals, validate


def configure(parser: argparse.ArgumentParser) -> None:
    configure_sync(parser)
    parser.add_argument("--queue", type=int, default=4,
                        help="results buffered between threads for file sources (default 4; live sources keep the newest only)")
    parser.add_argument("--workers", default="auto",
                        help="inference threads, each with its own detector (default auto: 2 for the CPU "
                             "backends on a machine with >= 2 cores, splitting the cores between them; else 1)")
    parser.add_argument("--batch", default="auto",
                        help="frames per backend call for file sources (default auto: 16 on a GPU backend, else 1; "
                             "live sources always 1, newest frame first)")
    parser.add_argument("--startup_timeout", type=float, default=600.0,
                        help="seconds to wait for the model to load/convert before failing (default 600)")


def build_parser(prog: str = "trt_ssd_async.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Detect objects with an SSD model (threaded pipeline).")
    configure(parser)
    return parser


def register(sub) -> None:
    p = sub.add_parser("detect-async", help="threaded detection pipeline (like trt_ssd_async.py)")
    configure(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trtssd.detector import Detector
    from trtssd.pipeline.engine import run_pipeline
    from trtssd.sources.factory import open_source

    validate(args)
    if args.queue < 1:
        raise ValueError(f"--queue: expected >= 1, found {args.queue}")
    backend_name = [args.backend]
    workers, backend_options = plan_workers(args.workers, args.backend)
    batch = plan_batch(args.batch, args.backend)

    def make_detector() -> Detector:  # runs in the producer thread
        return Detector(args.model, args.backend, conf_th=args.conf_th, model_dir=args.model_dir,
                        backend_options=backend_options)

    def on_ready(detector: Detector) -> None:
        backend_name[0] = detector.backend.name

    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(stop_on_signals())
        source = stack.enter_context(open_source(source_config(args)))
        sinks = open_sinks(args, stack, source.fps, title="trt_ssd_async")
        result = run_pipeline(source, make_detector, sinks, threaded=True, max_frames=args.max_frames, stop=stop,
                              queue=args.queue, source_timeout=args.source_timeout, batch=batch,
                              startup_timeout=args.startup_timeout, on_ready=on_ready, workers=workers)
        if source.is_live:
            batch = 1
    backend = f"{backend_name[0]}, {workers} worker{'s' * (workers > 1)}, batch {batch}"
    print(result.summary("trt_ssd_async", backend))
    return stop.exit_code() if result.stopped_by == "signal" else 0


CPU_BACKENDS = ("onnxruntime", "onnxruntime-nms")


def plan_workers(requested: str, backend: str, cores: int | None = None) -> tuple[int, dict]:
    """``(workers, backend_options)`` for ``--workers`` (a number or ``auto``).

    CPU backends get ``auto`` = 2 workers on >= 2 cores, each ONNX Runtime session with half the
    cores (``$TRTSSD_ORT_THREADS`` overrides); GPU backends one worker (one device context).
    """
    from trtssd.backends.base import resolve_backend_name

    cores = cores or os.cpu_count() or 1
    cpu = resolve_backend_name(backend) in CPU_BACKENDS
    if requested == "auto":
        workers = 2 if cpu and cores >= 2 else 1
    else:
        try:
            workers = int(requested)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"--workers: expected 'auto' or an integer >= 1, found {requested!r}")
    options = {}
    if cpu and workers > 1 and not os.environ.get("TRTSSD_ORT_THREADS"):
        options["intra_op_threads"] = max(1, cores // workers)
    return workers, options


GPU_BATCH = 16


def plan_batch(requested: str, backend: str) -> int:
    """Frames per backend call for ``--batch`` (a number or ``auto``): ``auto`` is
    :data:`GPU_BATCH` on a GPU backend (one call per batch amortises the per-call launch and
    synchronisation cost), 1 on the CPU backends (no gain there, and results come later)."""
    from trtssd.backends.base import resolve_backend_name

    if requested == "auto":
        return 1 if resolve_backend_name(backend) in CPU_BACKENDS else GPU_BATCH
    try:
        batch = int(requested)
    except ValueError:
        batch = 0
    if batch < 1:
        raise ValueError(f"--batch: expected 'auto' or an integer >= 1, found {requested!r}")
    return batch


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())
