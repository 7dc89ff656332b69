"""The torch GPU backend on the real SSD exports (issue 10), on a CUDA machine without TensorFlow:
artifacts converted elsewhere (``trtssd convert NAME -o DIR/NAME.onnx``) and a folder of images.

For each artifact, torch on CUDA (FP32 and FP16, CUDA graph) against ONNX Runtime on the CPU on
every image: raw outputs (max |diff|) and detections at conf 0.3 (same class, IoU >= 0.9, score
within 0.02, both ways). Exit status 1 when an FP32 run does not reproduce ONNX Runtime's
detections. Usage:

    python bench/gpu_real_exports.py OUT.json IMAGES_DIR ARTIFACT.onnx [ARTIFACT.onnx ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

IOU_MIN, SCORE_TOL, CONF = 0.9, 0.02, 0.3


def unmatched(a, b) -> int:
    """Detections of ``a`` without a counterpart in ``b`` (same class, IoU, score tolerance)."""
    from trtssd.postprocess.boxes import box_iou

    if len(a.class_id) == 0:
        return 0
    if len(b.class_id) == 0:
        return len(a.class_id)
    iou = box_iou(a.xyxy, b.xyxy)
    ok = (a.class_id[:, None] == b.class_id[None]) & (iou >= IOU_MIN) & \
        (np.abs(a.confidence[:, None] - b.confidence[None]) <= SCORE_TOL)
    return int((~ok.any(axis=1)).sum())


def main(out: str, images_dir: str, artifacts: list[str]) -> int:
    import torch

    from trtssd.detector import Detector, preprocess

    frames = [cv2.imread(str(p)) for p in sorted(Path(images_dir).iterdir()) if p.suffix.lower() in (".jpg", ".png")]
    device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of this script only
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "no CUDA GPU (CPU dry run)"
    report = {"gpu": gpu, "torch": torch.__version__, "images": len(frames), "models": {}}
    print(f"{report['gpu']}, torch {report['torch']}, {len(frames)} images", flush=True)
    failed = False
    for artifact in artifacts:
        name = Path(artifact).stem
        with Detector(artifact, "onnxruntime", conf_th=CONF) as ref:
            images = preprocess(frames, ref.info.input_size)
            ref_raw = ref.backend.infer(images)
            ref_dets = ref.detect_batch(frames)
        for precision in ("fp32", "fp16") if device == "cuda" else ("fp32",):
            with Detector(artifact, "torch", conf_th=CONF, backend_options={"device": device, "precision": precision}) as det:
                boxes, scores = det.backend.infer(images)
                dets = det.detect_batch(frames)
            row = {
                "boxes_max_abs": float(np.abs(boxes - ref_raw[0]).max()),
                "scores_max_abs": float(np.abs(scores - ref_raw[1]).max()),
                "reference_detections": sum(len(d.class_id) for d in ref_dets),
                "torch_detections": sum(len(d.class_id) for d in dets),
                "reference_not_reproduced": sum(unmatched(r, d) for r, d in zip(ref_dets, dets)),
                "torch_not_in_reference": sum(unmatched(d, r) for r, d in zip(ref_dets, dets)),
            }
            report["models"][f"{name}/{precision}"] = row
            print(f"{name} {precision}: {json.dumps(row)}", flush=True)
            if precision == "fp32" and (row["reference_not_reproduced"] or row["torch_not_in_reference"]):
                failed = True
    Path(out).write_text(json.dumps(report, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
