"""``trtssd bench``: network-only latency/throughput sweep and end-to-end video FPS of a backend.

End to end runs the product's path: video source -> pipeline engine -> JSON lines sink
(:mod:`trtssd.bench.e2e`), with a fresh detector created in the engine's inference thread.

Prints a table and writes ``bench-<model>-<backend>-<precision>.json`` and ``.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from trtssd.cli.common import add_model_args


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,8,64, found {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, found {text!r}")
    return values


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark a backend: network latency/throughput and end-to-end video FPS")
    # The model every checkout and CI has (../shared or its official download), not the original
    # demo's default, which must be fetched first: `trtssd bench` runs as typed.
    add_model_args(p, "ssd_mobilenet_v1_coco_quant")
    p.add_argument("--precision", choices=["fp32", "fp16"], default=None,
                   help="network precision (torch backend; default fp16 on CUDA, fp32 elsewhere)")
    p.add_argument("--device", default=None, help="torch backend device, e.g. cuda, cuda:1, cpu (default: cuda if present)")
    p.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                   help="torch backend: torch.compile the network (optional inductor mode); slower start, faster runs")
    p.add_argument("--batch", type=_int_list, default=[1, 8, 64, 256], help="network batch sizes (default 1,8,64,256)")
    p.add_argument("--min_time", type=float, default=1.0, help="seconds of timed calls per batch size (default 1.0)")
    p.add_argument("--input_sets", type=int, default=4, help="distinct random input sets rotated per batch size (default 4)")
    p.add_argument("--video", action="append", default=[], help="video file for end-to-end FPS (repeatable)")
    p.add_argument("--max_frames", type=int, default=None, help="frames per end-to-end run; the video loops (default: once through)")
    p.add_argument("--e2e_batch", type=_int_list, default=[16], help="frames per backend call end to end (default 16)")
    p.add_argument("--modes", default="decode,sync,async", help="end-to-end modes (default decode,sync,async)")
    p.add_argument("--conf_th", type=float, default=0.3, help="score threshold end to end (default 0.3)")
    p.add_argument("--no_network", action="store_true", help="skip the network-only sweep")
    p.add_argument("--out", default="bench-results", help="output directory (default ./bench-results)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trtssd.bench import e2e as e2e_mod
    from trtssd.bench.network import bench_network
    from trtssd.bench.report import environment, format_table, write_json, write_plot
    from trtssd.backends.base import resolve_backend_name
    from trtssd.detector import Detector

    backend_name = resolve_backend_name(args.backend)
    options: dict = {}
    if backend_name == "torch":
        options = {"device": args.device, "precision": args.precision}
        if args.compile:
            options["compile"] = True if args.compile == "default" else args.compile
    elif args.precision not in (None, "fp32"):
        raise ValueError(f"--precision {args.precision}: expected fp32 for backend '{backend_name}' (fp16 needs --backend torch)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = sorted(set(modes) - {"decode", "sync", "async"})
    if bad:
        raise ValueError(f"--modes: expected decode, sync or async, found {', '.join(bad)}")
    videos = [Path(v) for v in args.video]
    for v in videos:
        if not v.is_file():
            raise FileNotFoundError(f"video '{v}': expected an existing file, found none")

    def make_detector() -> Detector:  # called in the engine's inference thread
        return Detector(args.model, backend_name, conf_th=args.conf_th, model_dir=args.model_dir, backend_options=options)

    det = make_detector()
    backend = det.backend
    precision = getattr(backend, "precision", "fp32")
    out_dir = Path(args.out)
    stem = f"bench-{det.info.model_name}-{backend.name}-{precision}" + ("-compiled" if args.compile else "")
    print(f"trtssd bench: model {det.info.model_name}, backend {backend.name}, precision {precision}", file=sys.stderr)
    network = [] if args.no_network else bench_network(backend, args.batch, input_sets=args.input_sets,
                                                       min_time_s=args.min_time)
    det.close()
    e2e: list = []
    for video in videos:
        if "decode" in modes:
            e2e.append(e2e_mod.bench_decode(video, args.max_frames))
        for b in args.e2e_batch:
            jsonl = out_dir / f"{stem}-{video.stem}-b{b}.jsonl"
            out_dir.mkdir(parents=True, exist_ok=True)
            for mode in ("sync", "async"):
                if mode in modes:
                    e2e.append(e2e_mod.bench_engine(make_detector, video, args.max_frames, b, jsonl,
                                                    threaded=mode == "async"))

    meta = {"command": "trtssd " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "model": det.info.model_name,
            "precision": precision, "compile": args.compile, "e2e_path": "pipeline engine -> JSON lines sink (trtssd.bench.e2e)",
            "environment": environment(backend)}
    print(format_table(network, e2e))
    json_path = write_json(out_dir / f"{stem}.json", meta, network, e2e)
    png = write_plot(out_dir / f"{stem}.png", f"{det.info.model_name} {backend.name} {precision} "
                     f"{meta['environment'].get('gpu', meta['environment'].get('device', ''))}", network, e2e)
    print(f"wrote {json_path}" + (f" and {png}" if png else " (no plot: pip install matplotlib)"))
    return 0
