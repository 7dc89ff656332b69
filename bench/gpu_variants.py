"""Network-only FP16 variants of the torch backend (one device call): eager vs CUDA graph,
channels_last vs NCHW, torch.compile modes. Usage: python bench/gpu_variants.py ARTIFACT [VARIANT...]"""

import json
import sys
import time
from pathlib import Path

from trtssd.backends.torch import TorchBackend
from trtssd.bench.network import bench_point
from trtssd.conversion.artifact import read_info

VARIANTS = {
    "graph_cl": {},
    "eager_cl": {"cuda_graph": False},
    "graph_nchw": {"channels_last": False},
    "compile_default": {"compile": True},
    "compile_max_autotune": {"compile": "max-autotune-no-cudagraphs"},
}

if __name__ == "__main__":
    artifact = Path(sys.argv[1])
    names = sys.argv[2:] or list(VARIANTS)
    info = read_info(artifact)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        tb = TorchBackend(artifact, info, device="cuda", precision="fp16", **VARIANTS[name])
        for b in (1, 256):
            p = bench_point(tb, b, min_time_s=0.5)
            rows.append({"variant": name, "batch": b, "median_ms": p.median_ms, "images_per_s": p.images_per_s,
                         "setup_and_run_s": time.perf_counter() - t0})
            print(json.dumps(rows[-1]), flush=True)
        tb.close()
