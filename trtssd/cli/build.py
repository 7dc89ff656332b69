"""``trtssd build``: model -> engine-ready ONNX (NMS in-graph) -> cached TensorRT engine.

The engine-ready ONNX is written (and its path printed) before TensorRT is imported, so on a
machine without TensorRT the command still produces the ONNX, then fails with one line.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from trtssd.backends.final import DEFAULT_MIN_SCORE, default_nms, engine_nms
from trtssd.backends.trt_engine import PRECISIONS, BuildOptions
from trtssd.conversion.api import ensure_artifact
from trtssd.conversion.artifact import INPUT_NAME
from trtssd.conversion.engine_onnx import ensure_engine_onnx
from trtssd.postprocess.nms import NmsParams


def add_build_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by ``trtssd build`` and ``ssd/build_engine.py``."""
    p.add_argument("model", help="registered model name or path to a .tflite / trtssd .onnx file")
    p.add_argument("--model_dir", default=None, help="extra directory searched for model files")
    p.add_argument("--precision", default="fp16", choices=PRECISIONS,
                   help="network precision, written into the ONNX graph (default: fp16); int8 uses a quantized model's "
                        "own quantization, or post-training quantization with --calib_dir")
    p.add_argument("--max_batch", type=int, default=1, help="largest batch of the optimization profile (default: 1)")
    p.add_argument("--workspace", type=int, default=1024, help="builder workspace limit in MiB (default: 1024)")
    p.add_argument("--calib_dir", default=None,
                   help="int8: calibration images for post-training quantization (required for float models)")
    p.add_argument("--calib_images", type=int, default=512, help="use at most this many calibration images (default: 512)")
    p.add_argument("--calib_batch", type=int, default=8, help="calibration batch size (default: 8)")
    p.add_argument("--dla", type=int, default=None, metavar="N", help="build for DLA core N with GPU fallback (Jetson; fp16/int8)")
    p.add_argument("--conf_th", type=float, default=DEFAULT_MIN_SCORE,
                   help=f"score threshold baked into the engine's NMS; usable with any runtime conf_th >= it (default: {DEFAULT_MIN_SCORE})")
    p.add_argument("--iou_th", type=float, default=None, help="NMS IoU threshold (default: the model's, 0.6 for the zoo)")
    p.add_argument("--max_det", type=int, default=None, help="max detections per class and per image (default: the model's)")
    p.add_argument("--class_agnostic", action="store_true", help="one NMS over each anchor's best class (TFLite 'fast NMS')")
    p.add_argument("--onnx_only", action="store_true", help="write the engine-ready ONNX and stop (no TensorRT needed)")
    p.add_argument("-o", "--output", default=None, help="also copy the engine (or, with --onnx_only, the ONNX) to this path")
    p.add_argument("--force", action="store_true", help="rebuild even when a cached engine exists")


def register(sub) -> None:
    p = sub.add_parser("build", help="build a TensorRT engine (NMS in-engine; fp32/fp16/int8, dynamic batch, cached)")
    add_build_args(p)
    p.set_defaults(func=run)


def _copy(src: Path, dst: str | None) -> Path:
    if not dst:
        return src
    out = Path(dst).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out)
    return out


def run(args: argparse.Namespace) -> int:
    # Validate every flag before the (slow) conversion.
    opts = BuildOptions(precision=args.precision, max_batch=args.max_batch, workspace_mib=args.workspace,
                        dla_core=args.dla, calib_dir=Path(args.calib_dir) if args.calib_dir else None,
                        calib_batch=args.calib_batch, calib_max_images=args.calib_images)
    artifact, info = ensure_artifact(args.model, args.model_dir)
    base = default_nms(info)
    nms = engine_nms(NmsParams(
        score_threshold=args.conf_th,
        iou_threshold=base.iou_threshold if args.iou_th is None else args.iou_th,
        max_per_class=base.max_per_class if args.max_det is None else args.max_det,
        max_total=base.max_total if args.max_det is None else args.max_det,
        class_agnostic=args.class_agnostic,
    ), min_score=args.conf_th)
    from trtssd.backends.tensorrt import default_candidates

    onnx_path = ensure_engine_onnx(artifact, nms, info, precision=opts.precision, calib=opts.calibration(info.input_size),
                                   candidates=default_candidates(), model=args.model, model_dir=args.model_dir,
                                   force=args.force, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"engine-ready ONNX: {_copy(onnx_path, args.output) if args.onnx_only else onnx_path}", flush=True)
    if args.onnx_only:
        return 0
    from trtssd.backends.tensorrt import import_tensorrt
    from trtssd.backends.trt_engine import ensure_engine

    trt = import_tensorrt()
    engine = ensure_engine(trt, onnx_path, INPUT_NAME, info.input_size, opts, force=args.force,
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"engine: {_copy(engine, args.output)}")
    return 0
