"""GPU parity check for the torch backend (run on a CUDA machine; see docs/benchmarks.md).

Raw outputs of the torch backend (fp32 and fp16, CUDA) vs ONNX Runtime (CPU) on random and real
images, and COCO mAP on a COCO subset: ONNX Runtime Detector vs torch fp16 (host postprocessing
and the all-on-GPU ``detect`` path). Usage:
    python bench/gpu_parity.py ARTIFACT.onnx VIDEO.mp4 COCO_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def main(artifact: str, video: str, coco_dir: str, out: str) -> None:
    from trtssd.backends.onnxruntime import OnnxRuntimeBackend
    from trtssd.backends.torch import TorchBackend
    from trtssd.conversion.artifact import read_info
    from trtssd.detector import Detector, preprocess
    from trtssd.evaluation.coco import evaluate

    info = read_info(Path(artifact))
    ort = OnnxRuntimeBackend(Path(artifact), info)
    rng = np.random.default_rng(1)
    cap = cv2.VideoCapture(video)
    frames = [cap.read()[1] for _ in range(8)]
    real = preprocess(frames, info.input_size)
    rand = rng.integers(0, 256, size=(8, *info.input_size, 3), dtype=np.uint8)
    report: dict = {"raw": {}}
    for prec in ("fp32", "fp16"):
        tb = TorchBackend(Path(artifact), info, device="cuda", precision=prec)
        for name, x in (("random", rand), ("video", real)):
            b0, s0 = ort.infer(x)
            b1, s1 = tb.infer(x)
            report["raw"][f"{prec}/{name}"] = {
                "boxes_max_abs": float(np.abs(b1 - b0).max()), "boxes_rel": rel(b1, b0),
                "scores_max_abs": float(np.abs(s1 - s0).max()), "scores_rel": rel(s1, s0)}
        tb.close()
    print(json.dumps(report["raw"], indent=1), flush=True)

    imgs = Path(coco_dir) / "val2017"
    ann = Path(coco_dir) / "instances_val2017_subset158.json"
    maps = {}
    runs = [("onnxruntime_cpu_fp32", "onnxruntime", {}, False),
            ("torch_cuda_fp16_hostpost", "torch", {"precision": "fp16"}, False),
            ("torch_cuda_fp16_gpupath", "torch", {"precision": "fp16"}, True),
            ("torch_cuda_fp32_gpupath", "torch", {"precision": "fp32"}, True),
            ("torch_cuda_fp16_compiled_gpupath", "torch", {"precision": "fp16", "compile": True}, True)]
    for label, backend, opts, gpu_path in runs:
        det = Detector(artifact, backend, conf_th=0.01, backend_options=opts)
        det.backend.device_path = gpu_path  # False: the numpy reference postprocessing on the host
        fn = det.detect_batch
        t0 = time.perf_counter()
        res = evaluate(fn, imgs, ann, batch_size=1, progress=False)
        maps[label] = {"map": res.map, "map50": res.map50, "seconds": time.perf_counter() - t0}
        print(label, maps[label], flush=True)
        det.close()
    report["map"] = maps
    report["map_delta_fp16_gpupath"] = maps["torch_cuda_fp16_gpupath"]["map"] - maps["onnxruntime_cpu_fp32"]["map"]
    report["map_delta_fp16_hostpost"] = maps["torch_cuda_fp16_hostpost"]["map"] - maps["onnxruntime_cpu_fp32"]["map"]
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:5])
