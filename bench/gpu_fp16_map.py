#!/usr/bin/env python3
"""fp16 network vs fp32 on a CUDA GPU, with real float16 arithmetic (the torch backend).

ONNX Runtime's CPU provider runs most float16 nodes of the fp16 engine-ready ONNX in float32
(it inserts casts), so bench/precision_map.py only checks float16 storage. This script runs the
fp16 network of :mod:`trtssd.conversion.precision` (``FP16_NET``, written on a machine with
onnxconverter-common, see docs/tensorrt.md) through the torch backend in float16 on CUDA, the fp32
artifact in float32, and scores both on the COCO subset with the numpy postprocessing at score
0.05 and 100 detections (the settings of the acceptance check: |fp16 - fp32| <= 0.005 mAP).

    python bench/gpu_fp16_map.py ARTIFACT.onnx FP16_NET.onnx COCO_DIR [OUT.json]

Prints one JSON object: mAP per run, the difference, the GPU, versions.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(artifact: str, fp16_net: str, coco_dir: str, out: str | None = None) -> int:
    import torch

    from trtssd.detector import Detector
    from trtssd.evaluation.coco import evaluate

    coco = Path(coco_dir)
    ann = next(coco.glob("instances_*.json"))
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "runs": {}}
    runs = [("torch_cuda_fp32_artifact", artifact, "fp32"), ("torch_cuda_fp16_fp16net", fp16_net, "fp16")]
    for label, path, precision in runs:
        det = Detector(path, "torch", conf_th=0.05, max_det=100, backend_options={"precision": precision})
        det.backend.device_path = False  # numpy postprocessing on the host: only the network differs
        t0 = time.monotonic()
        res = evaluate(det.detect_batch, coco / "val2017", ann, batch_size=8, progress=False)
        report["runs"][label] = {"map": round(res.map, 4), "map50": round(res.map50, 4),
                                 "detections": res.num_detections, "seconds": round(time.monotonic() - t0, 1)}
        det.close()
        print(label, report["runs"][label], flush=True)
    r = report["runs"]
    report["fp16_minus_fp32"] = round(r["torch_cuda_fp16_fp16net"]["map"] - r["torch_cuda_fp32_artifact"]["map"], 4)
    report["within_0.005"] = abs(report["fp16_minus_fp32"]) <= 0.005
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        Path(out).write_text(text)
    return 0 if report["within_0.005"] else 1


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
