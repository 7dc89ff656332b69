"""``trt_ssd.py`` / ``trtssd detect``: detect objects in an image or video (synchronous loop).

Flags keep the original tensorrt_demos names (-m/--model, --image, --video, --video_looping,
--usb, --onboard, --rtsp, --rtsp_latency, --width, --height, --do_resize) and add a directory/glob
``--image``, --gstr, --rtp/--rtp_codec, --backend, --conf_th, --headless, --output, --json,
--mjpeg/--mjpeg_host, --max_frames and --source_timeout.
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
    g.add_argument("--image", help="image file, or a directory / quoted glob of images (each processed once)")
    g.add_argument("--video", help="video file")
    g.add_argument("--usb", help="USB (V4L2) camera: index N for /dev/videoN, or a device path")
    g.add_argument("--onboard", type=int, help="Jetson CSI camera sensor id (nvarguscamerasrc)")
    g.add_argument("--rtsp", help="RTSP stream URI, H.264 or H.265 (reconnects with backoff)")
    g.add_argument("--gstr", help="GStreamer pipeline description producing raw video (no sink)")
    g.add_argument("--rtp", type=int, help="UDP port to receive an RTP stream on (see --rtp_codec)")
    parser.add_argument("--video_looping", action="store_true", help="loop the video file")
    parser.add_argument("--rtsp_latency", type=int, default=200, help="RTSP jitter buffer in ms (default 200)")
    parser.add_argument("--rtp_codec", choices=("h264", "h265"), default="h264", help="RTP payload codec (default h264)")
    parser.add_argument("--source_timeout", type=float, default=10.0,
                        help="seconds a live source may deliver nothing before the run fails (default 10)")
    parser.add_argument("--width", type=int, default=640, help="capture width (cameras), resize width with --do_resize")
    parser.add_argument("--height", type=int, default=480, help="capture height (cameras), resize height with --do_resize")
    parser.add_argument("--do_resize", action="store_true", help="resize image/video frames to --width x --height")


def add_output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf_th", type=float, default=0.3, help="score threshold (default 0.3)")
    parser.add_argument("--headless", action="store_true", help="no window (write --output / --json only)")
    parser.add_argument("--output", help="annotated output: image (.jpg/.png) or video (.mp4/.avi) by extension")
    parser.add_argument("--json", help="JSON lines output: one object per frame")
    parser.add_argument("--mjpeg", type=int, default=None, metavar="PORT",
                        help="serve a browser live view (MJPEG over HTTP) on PORT")
    parser.add_argument("--mjpeg_host", default="127.0.0.1", help="address the live view binds (default 127.0.0.1)")
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
        image=args.image, video=args.video, usb=args.usb, onboard=args.onboard, rtsp=args.rtsp,
        gstr=args.gstr, rtp=args.rtp, video_looping=args.video_looping,
        width=args.width, height=args.height, do_resize=args.do_resize,
        repeat_image=not args.headless or args.mjpeg is not None,
        rtsp_latency=args.rtsp_latency, rtp_codec=args.rtp_codec,
    )


def open_sinks(args: argparse.Namespace, stack: contextlib.ExitStack, fps: float | None,
               title: str = "trt_ssd") -> list:
    """Window / output / JSON / MJPEG sinks from the flags, registered on ``stack`` for closing."""
    from trtssd.sinks.files import JsonLinesSink, output_sink

    sinks = []
    if args.mjpeg is not None:
        from trtssd.sinks.mjpeg import MjpegServerSink

        server = stack.enter_context(MjpegServerSink(args.mjpeg, args.mjpeg_host))
        print(f"{title}: live view at {server.url}", file=sys.stderr, flush=True)
        sinks.append(server)
    if args.output:
        sinks.append(stack.enter_context(output_sink(args.output, fps)))
    if args.json:
        sinks.append(stack.enter_context(JsonLinesSink(args.json)))
    if not args.headless:
        from trtssd.sinks.window import WindowSink

        sinks.append(stack.enter_context(WindowSink(title, args.width, args.height)))
    return sinks


def validate(args: argparse.Namespace) -> None:
    if not 0.0 <= args.conf_th <= 1.0:
        raise ValueError(f"--conf_th: expected a value in [0, 1], found {args.conf_th}")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max_frames: expected >= 1, found {args.max_frames}")
    if args.headless and not (args.output or args.json or args.mjpeg is not None):
        raise ValueError("--headless: expected --output, --json and/or --mjpeg to write results to, found none")
    if args.source_timeout <= 0:
        raise ValueError(f"--source_timeout: expected > 0 seconds, found {args.source_timeout}")
    if not args.headless:
        from trtssd.sinks.window import check_display

        check_display()  # before any model work: OpenCV would abort the process later


class StopRequest(threading.Event):
    """Set by SIGINT/SIGTERM; ``signum`` says which (for the 128 + N exit code)."""

    signum: int = signal.SIGINT

    def exit_code(self) -> int:
        return 128 + int(self.signum)


@contextlib.contextmanager
def stop_on_signals():
    """SIGINT/SIGTERM set the returned :class:`StopRequest` (a second SIGINT raises KeyboardInterrupt)."""
    stop = StopRequest()

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.signum = signum
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    from trtssd.detector import Detector
    from trtssd.pipeline.engine import run_pipeline
    from trtssd.sources.factory import open_source

    validate(args)
    backend_name = [args.backend]

    def make_detector() -> Detector:
        return Detector(args.model, args.backend, conf_th=args.conf_th, model_dir=args.model_dir)

    def on_ready(detector: Detector) -> None:
        backend_name[0] = detector.backend.name

    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(stop_on_signals())
        source = stack.enter_context(open_source(source_config(args)))
        sinks = open_sinks(args, stack, source.fps)
        result = run_pipeline(source, make_detector, sinks, threaded=False, max_frames=args.max_frames, stop=stop,
                              source_timeout=args.source_timeout, on_ready=on_ready)
    print(result.summary("trt_ssd", backend_name[0]))
    return stop.exit_code() if result.stopped_by == "signal" else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())
