#!/usr/bin/env python3
"""COCO mAP of the engine-ready ONNX in each precision, run by ONNX Runtime (CPU).

    python bench/precision_map.py ssd_mobilenet_v1_coco_quant --model_dir ../shared/models \
        --coco ../shared/data/coco_val2017_subset158 --precisions fp32 fp16 int8 [--calib_dir DIR]

Prints one line per precision (mAP@[.5:.95], mAP@.5, detections, seconds) and the difference to
the first precision. Scores are thresholded at --conf_th (0.05) with --max_det (100) per image,
the settings of docs/tensorrt.md's accuracy checks. ONNX Runtime's CPU provider runs float16
nodes it has no float16 kernel for in float32 (with casts), so the fp16 line is not a full
float16-arithmetic check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def evaluate_engine_onnx(path: Path, info, coco: Path, conf_th: float) -> tuple[float, float, int, float]:
    import onnxruntime as ort

    from trtssd.backends.final import final_to_detections
    from trtssd.conversion.engine_onnx import OUTPUT_NAMES
    from trtssd.detector import preprocess
    from trtssd.evaluation.coco import evaluate

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def detect_batch(frames):
        images = preprocess(frames, info.input_size)
        outs = sess.run(list(OUTPUT_NAMES), {"images": images})
        return final_to_detections(outs, [(f.shape[1], f.shape[0]) for f in frames], info.labels, conf_th)

    t0 = time.monotonic()
    ann = next(coco.glob("instances_*.json"))
    res = evaluate(detect_batch, coco / "val2017", ann, progress=False)
    return res.map, res.map50, res.num_detections, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--model_dir", default=None)
    p.add_argument("--coco", required=True, type=Path, help="folder with val2017/ and instances_*.json")
    p.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "int8"])
    p.add_argument("--calib_dir", default=None, type=Path, help="int8 by post-training quantization on these images")
    p.add_argument("--calib_images", type=int, default=512)
    p.add_argument("--conf_th", type=float, default=0.05)
    p.add_argument("--max_det", type=int, default=100)
    args = p.parse_args(argv)

    from trtssd.backends.final import default_nms
    from trtssd.conversion.api import ensure_artifact
    from trtssd.conversion.calibration import CalibrationData
    from trtssd.conversion.engine_onnx import ensure_engine_onnx
    from trtssd.postprocess.nms import NmsParams

    artifact, info = ensure_artifact(args.model, args.model_dir)
    base = default_nms(info, args.conf_th)
    nms = NmsParams(base.score_threshold, base.iou_threshold, args.max_det, args.max_det)
    first = None
    for precision in args.precisions:
        calib = None
        if precision == "int8" and args.calib_dir:
            calib = CalibrationData(args.calib_dir, info.input_size, 8, args.calib_images)
        path = ensure_engine_onnx(artifact, nms, info, precision=precision, calib=calib, model=args.model,
                                  model_dir=args.model_dir, log=lambda m: print(m, file=sys.stderr))
        m, m50, n, secs = evaluate_engine_onnx(path, info, args.coco, args.conf_th)
        first = m if first is None else first
        print(f"{precision:5s} mAP {m:.4f}  mAP50 {m50:.4f}  detections {n}  delta {m - first:+.4f}  "
              f"({secs:.0f} s)  {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
