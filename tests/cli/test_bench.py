"""``trtssd bench`` on the CPU backend (brief), and its argument errors."""

from __future__ import annotations

import argparse
import json

import pytest

from trtssd.cli.bench import _int_list
from trtssd.cli.main import main


@pytest.mark.slow
def test_bench_onnxruntime_cpu_writes_table_json_and_plot(quant_artifact, shared_dir, tmp_path, capsys):
    video = shared_dir / "media" / "car-detection.mp4"
    rc = main(["bench", "-m", str(quant_artifact[0]), "--backend", "onnxruntime", "--batch", "1,2", "--min_time", "0.05",
               "--input_sets", "2", "--video", str(video), "--max_frames", "6", "--e2e_batch", "4",
               "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "img/s" in out and "car-detection.mp4" in out
    doc = json.loads((tmp_path / "bench-ssd_mobilenet_v1_coco_quant-onnxruntime-fp32.json").read_text())
    assert [p["batch"] for p in doc["network"]] == [1, 2]
    assert all(p["images_per_s"] > 0 and p["timer"] == "host_clock" for p in doc["network"])
    assert [r["mode"] for r in doc["end_to_end"]] == ["decode", "sync", "async"]
    assert all(r["frames"] == 6 for r in doc["end_to_end"])
    dets = {r["mode"]: r["detections"] for r in doc["end_to_end"] if r["mode"] != "decode"}
    assert dets["sync"] == dets["async"]
    lines = (tmp_path / "bench-ssd_mobilenet_v1_coco_quant-onnxruntime-fp32-car-detection-b4.jsonl").read_text().splitlines()
    # the product's JSON lines (the CLI's sink), not a benchmark-only format
    assert [json.loads(x)["frame"] for x in lines] == list(range(6))
    assert all(set(json.loads(x)) == {"frame", "detections"} for x in lines)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "bench-ssd_mobilenet_v1_coco_quant-onnxruntime-fp32.png").stat().st_size > 0


@pytest.mark.parametrize("argv,message", [
    (["--precision", "fp16"], "expected fp32 for backend 'onnxruntime'"),
    (["--video", "/nonexistent/v.mp4", "--no_network"], "expected an existing file"),
    (["--modes", "sync,fast", "--no_network"], "found fast"),
])
def test_bench_errors(argv, message, quant_artifact, tmp_path, capsys):
    rc = main(["bench", "-m", str(quant_artifact[0]), "--backend", "onnxruntime", "--out", str(tmp_path), *argv])
    assert rc == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [("1,8,64,256", [1, 8, 64, 256]), ("4", [4]), ("2, 3", [2, 3])])
def test_int_list(text, expected):
    assert _int_list(text) == expected


@pytest.mark.parametrize("text", ["", "a,b", "0,4", "-1"])
def test_int_list_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        _int_list(text)
