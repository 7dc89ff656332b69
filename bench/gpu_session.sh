#!/usr/bin/env bash
# One device call: environment, parity + mAP, then `trtssd bench` FP16 and FP32 on both videos.
# Needs .devcache/ (artifact, videos, COCO subset) and .whl/ (pycocotools, platformdirs) carried.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:/tmp/site
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nproc;
  python3 -m pip list 2>/dev/null | grep -iE "^(torch|torchvision|opencv|onnx|onnxruntime|numpy|matplotlib|cupy) "; } | tee "$OUT/env.txt"
A=.devcache/ssd_mobilenet_v1_coco_quant.onnx; V1=.devcache/car-detection.mp4; V2=.devcache/one-by-one-person-detection.mp4

T="timeout -s ABRT"
PY="python3 -X faulthandler"
B="$PY -m trtssd.cli.main bench"
$PY -c "import trtssd.cli.main as m; m.build_parser()" 2>/dev/null || B="$PY bench/bench_cli.py"
echo "bench runner: $B"
case "${STEP:-all}" in
  all|bench)
  $T ${T16:-240} $B -m $A --backend torch --precision fp16 --batch 1,8,64,256 --video $V1 --video $V2 --e2e_batch ${E2E:-8,32,128} ${EXTRA:-} --out "$OUT" 2>&1 | tee "$OUT/bench_fp16.log"
  $T ${T32:-120} $B -m $A --backend torch --precision fp32 --batch 1,8,64,256 --video $V1 --video $V2 --e2e_batch 32 --modes sync,async ${EXTRA:-} --out "$OUT" 2>&1 | tee "$OUT/bench_fp32.log" ;;
esac
case "${STEP:-all}" in
  all|parity) $T ${TP:-200} $PY bench/gpu_parity.py $A $V1 .devcache/coco "$OUT/parity.json" 2>&1 | grep -v "^trtssd: convert" | tee "$OUT/parity.log" ;;
esac
rm -f "$OUT"/*.jsonl
