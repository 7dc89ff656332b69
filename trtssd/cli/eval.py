"""``eval_ssd.py`` / ``trtssd eval``: COCO mAP of a model on an image folder + annotations."""

from __future__ import annotations

import argparse
import sys

from trtssd.cli.common import add_model_args, run_main

DEFAULT_CONF = 0.01


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_args(parser, "ssd_mobilenet_v1_coco")
    parser.add_argument("model_pos", nargs="?", metavar="model", help="model (positional, as the original eval_ssd.py)")
    parser.add_argument("--imgs_dir", required=True, help="directory of COCO images (e.g. val2017)")
    parser.add_argument("--annotations", required=True, help="COCO instances JSON (e.g. instances_val2017.json)")
    parser.add_argument("--conf_th", type=float, default=DEFAULT_CONF, help=f"score threshold (default {DEFAULT_CONF})")
    parser.add_argument("--max_det", type=int, default=100, help="detections kept per image (default 100)")
    parser.add_argument("--batch", type=int, default=1, help="images per backend call (default 1)")
    parser.add_argument("--results", default=None, help="COCO results JSON path (default: not written)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")


def register(sub) -> None:
    p = sub.add_parser("eval", help="COCO mAP on an image folder (like eval_ssd.py)")
    configure(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trtssd.detector import Detector
    from trtssd.evaluation.coco import evaluate

    model = args.model_pos or args.model
    if args.batch < 1:
        raise ValueError(f"--batch: expected >= 1, found {args.batch}")
    from trtssd.evaluation.coco import load_annotations

    load_annotations(args.annotations, args.imgs_dir)  # fail fast, before loading the model
    with Detector(model, args.backend, conf_th=args.conf_th, max_det=args.max_det, model_dir=args.model_dir) as det:
        result = evaluate(det.detect_batch, args.imgs_dir, args.annotations, results_json=args.results,
                          batch_size=args.batch, progress=not args.no_progress)
    print(result.summary)
    print(f"images={result.num_images} detections={result.num_detections} backend={det.backend.name} model={model}")
    print(f"map={result.map:.3f} map50={result.map50:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval_ssd.py", description="Evaluate an SSD model's COCO mAP.")
    configure(parser)
    return run_main(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
