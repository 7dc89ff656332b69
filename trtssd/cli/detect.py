"""``trt_ssd.py`` / ``trtssd detect``: detect objects in an image or video (synchronous loop).

Flags keep the original tensorrt_demos names (-m/--model, --image, --video, --video_looping,
--width, --height, --do_resize) and add --backend, --conf_th, --headless, --output, --json,
--max_frames.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from trtssd.cli.common import add_model_args, run_main

DEFAULT_MODEL = "ssd_mobilenet_v1_coco"


def add_input_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("input (one of)")
    g.add_argument("--image", help="image file")
    g.add_argument("--video", help="video file")
    g.add_argument("--video_looping", action="store_true", help="loop the video file")
    parser.add_argument("--width", type=int, default=640, help="capture width (cameras), resize width with --do_resize")
    parser.add_argument("--height", type=int, default=480, help="capture height (cameras), resize height with --do_resize")
    parser.add_argument("--do_resize", action="store_true", help="resize image/video frames to --width x --height")


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf_th", type=float, default=0.3, help="score threshold (default 0.3)")
    parser.add_argument("--headless", action="store_true", help="no window (write --output / --json only)")
    parser.add_argument("--output", help="annotated output: image (.jpg/.png) or video (.mp4/.avi) by extension")
    parser.add_argument("--json", help="JSON lines output: one object per frame")
    parser.add_argument("--max_frames", type=int, default=None, help="stop after N frames")


def build_parser(prog: str = "trt_ssd.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Detect objects with an SSD model (synchronous loop).")
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser, DEFAULT_MODEL)
    add_input_args(parser)
    add_output_args(parser)


def register(sub) -> None:
    p = sub.add_parser("detect", help="detect objects in an image or video (like trt_ssd.py)")
    configure(p)
    p.set_defaults(func=run)


def source_config(args: argparse.Namespace):
    from trtssd.sources.factory import SourceConfig

    return SourceConfig(
        image=args.image, video=args.video, video_looping=args.video_looping,
        width=args.width, height=args.height, do_resize=args.do_resize,
        repeat_image=not args.headless,
    )


def open_sinks(args: argparse.Namespace, stack: contextlib.ExitStack, fps: float | None) -> list:
    """Window / output / JSON sinks from the flags, registered on ``stack`` for closing."""
    from trtssd.sinks.files import JsonLinesSink, output_sink

    sinks = []
    if args.output:
        sinks.append(stack.enter_context(output_sink(args.output, fps)))
    if args.json:
        sinks.append(stack.enter_context(JsonLinesSink(args.json)))
    if not args.headless:
        from trtssd.sinks.window import WindowSink

        sinks.append(stack.enter_context(WindowSink("trt_ssd", args.width, args.height)))
    return sinks


def validate(args: argparse.Namespace) -> None:
    if not 0.0 <= args.conf_th <= 1.0:
        raise ValueError(f"--conf_th: expected a value in [0, 1], found {args.conf_th}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max_frames: expected >= 1, found {args.max_frames}")
    if args.headless and not (args.output or args.json):
        raise ValueError("--headless: expected --output and/or --json to write results to, found neither")


@contextlib.contextmanager
def stop_on_signals():
    """SIGINT/SIGTERM set the returned event (a second SIGINT raises KeyboardInterrupt)."""
    stop = threading.Event()

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    from trtssd.detector import Detector
    from trtssd.pipeline.sync import run_sync
    from trtssd.sources.factory import open_source

    validate(args)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_source(source_config(args)))
        detector = stack.enter_context(Detector(args.model, args.backend, conf_th=args.conf_th, model_dir=args.model_dir))
        sinks = open_sinks(args, stack, source.fps)
        stop = stack.enter_context(stop_on_signals())
        result = run_sync(source, detector, sinks, max_frames=args.max_frames, stop=stop)
    print(f"trt_ssd: {result.frames} frames in {result.seconds:.2f} s = {result.fps:.1f} FPS "
          f"(backend {detector.backend.name}, stopped by {result.stopped_by}); {result.stages.summary()}")
    return 130 if result.stopped_by == "signal" else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())
