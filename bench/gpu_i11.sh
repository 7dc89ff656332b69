#!/usr/bin/env bash
# One device call for issue 11: per-stage costs of the torch device path, the CLIs on both videos
# (user's commands), and a live 30 FPS source's latency. Run from a copy of the repo; DATA holds
# the artifact and the two videos (copies of ../shared/media).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD TRTSSD_CACHE_DIR=/tmp/trtssd-cache
OUT=${OUT:-/tmp/out}; DATA=${DATA:-../i11-data}; mkdir -p "$OUT"
A=$DATA/ssd_mobilenet_v1_coco_quant.onnx; V1=$DATA/car-detection.mp4; V2=$DATA/one-by-one-person-detection.mp4
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; echo "cores $(nproc)";
  python3 -c "import torch, torchvision, cv2, numpy; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cv2', cv2.__version__, 'numpy', numpy.__version__)";
  echo "gst-launch: $(command -v gst-launch-1.0 || echo none)"; date -u; } | tee "$OUT/env.txt"
T="timeout -s ABRT"
case "${STEP:-all}" in all|stages)
  $T 150 python3 bench/gpu_stages.py $A $V1 ${STAGE_BATCHES:-1 16} 2>&1 | tee "$OUT/stages.log" ;; esac
case "${STEP:-all}" in all|cli)
  cli() { echo "== $* ($(basename $V))"; $T 90 python3 "$@" -m $A --backend torch --video $V --headless --json /tmp/o.jsonl 2>&1 | grep -v "^trtssd: convert" | tail -2; }
  for V in $V1 $V2; do
    cli trt_ssd_async.py
    cli trt_ssd_async.py --output /tmp/o.mp4
    cli trt_ssd_async.py --batch 1
    cli trt_ssd.py
    cli trt_ssd_async.py --video_looping --max_frames 5000
    [ -n "${EXTRA_ARGS:-}" ] && cli trt_ssd_async.py $EXTRA_ARGS
  done 2>&1 | tee "$OUT/cli.log" ;; esac
case "${STEP:-all}" in all|live)
  $T 60 python3 bench/live_latency.py $A $V1 torch 300 30 2>&1 | tail -2 | tee "$OUT/live.log" ;; esac
