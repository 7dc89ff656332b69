"""Where a frame's time goes on the torch backend's device path (run on a GPU machine).

For each batch size: the wall time of one real ``backend.detect`` call (CUDA graph, what the
engine pays), then each stage alone - host copy into the pinned buffer, upload, resize, network,
decode + score activation, top-k, NMS + caps, pack + download - with a synchronise before and
after (host wall) and CUDA events (GPU time); then ``detect`` again while another thread keeps the
GIL busy with JSON formatting, as the engine's consumer does.

Usage: python bench/gpu_stages.py ARTIFACT VIDEO [BATCH ...]
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time

import cv2
import numpy as np
import torch

from trtssd.detector import Detector
from trtssd.postprocess import torch_ops


def frames_of(video: str, n: int) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(video), []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        out.append(f)
    cap.release()
    return out


def timed(fn):
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0 = time.perf_counter()
    e0.record()
    out = fn()
    e1.record()
    torch.cuda.synchronize()
    return out, 1000 * (time.perf_counter() - t0), e0.elapsed_time(e1)


def wall_per_call(fn, n: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t0) / n


def main(artifact: str, video: str, batches: list[int]) -> None:
    det = Detector(artifact, "torch", conf_th=0.3, backend_options={"precision": "fp16"})
    tb = det.backend
    print(f"gpu {torch.cuda.get_device_name()} torch {torch.__version__} cv2 threads {cv2.getNumThreads()}", flush=True)
    report = {}
    for b in batches:
        frames = frames_of(video, b)
        for _ in range(5):
            tb.detect(frames)
        reps = 40
        row = {"detect_wall_ms": wall_per_call(lambda: tb.detect(frames), reps)}
        stages: dict[str, list[tuple[float, float]]] = {}

        def add(name, host, gpu):
            stages.setdefault(name, []).append((host, gpu))

        for _ in range(reps):
            key = (b, *frames[0].shape)
            pinned = tb._pinned[key].numpy()
            t0 = time.perf_counter()
            for i, f in enumerate(frames):
                pinned[i] = f
            add("host_copy", 1000 * (time.perf_counter() - t0), 0.0)
            dev, h, g = timed(lambda: tb._inputs[key].copy_(tb._pinned[key], non_blocking=True))
            add("upload", h, g)
            with torch.inference_mode():
                x, h, g = timed(lambda: torch_ops.resize_frames(dev, tb.info.input_size, bgr_to_rgb=True))
                add("resize", h, g)
                (enc, raw), h, g = timed(lambda: tb.net_fn(x))
                add("network_eager", h, g)
                (boxes, scores), h, g = timed(lambda: (torch_ops.decode_boxes(enc, tb.anchors, tb.info.box_coder),
                                                       torch_ops.activate_scores(raw, tb.info.score_activation)))
                add("decode", h, g)
                _, h, g = timed(lambda: tb._run("detect", tb._frames_to_outputs, dev))
                add("resize+network+decode_graph", h, g)
                _, h, g = timed(lambda: scores[:, :, 1:].reshape(b, -1).topk(2048, dim=1))
                add("topk", h, g)
                (bb, ss, cc, ii), h, g = timed(lambda: torch_ops.batched_multiclass_nms(boxes, scores, tb.nms))
                add("topk+nms+caps", h, g)
                _, h, g = timed(lambda: torch.cat([bb, ss[:, None], cc[:, None].float(), ii[:, None].float()], 1).cpu())
                add("pack+download", h, g)
        for name, vals in stages.items():
            row[name] = {"host_ms": statistics.median(v[0] for v in vals), "gpu_ms": statistics.median(v[1] for v in vals)}
        stop = threading.Event()

        def busy():  # the consumer's kind of work: pure-Python JSON formatting, holding the GIL
            recs = [{"xyxy": [1.0, 2.0, 3.0, 4.0], "score": 0.5, "class_id": 3, "label": "car"}] * 5
            while not stop.is_set():
                json.dumps({"frame": 1, "detections": recs})

        t = threading.Thread(target=busy, daemon=True)
        t.start()
        row["detect_wall_ms_with_busy_python_thread"] = wall_per_call(lambda: tb.detect(frames), 5)
        old = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        row["detect_wall_ms_with_busy_thread_switch_0.5ms"] = wall_per_call(lambda: tb.detect(frames), 5)
        sys.setswitchinterval(old)
        stop.set()
        t.join()
        report[f"batch {b}"] = row
        print(json.dumps({f"batch {b}": row}, indent=1), flush=True)
    det.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3:]] or [1, 16])
