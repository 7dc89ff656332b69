"""A new user's first hour: bad input gets one clear line, the right exit code, and nothing left
behind (no empty output file, no traceback); odd-but-valid input gets a warning, not silence."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["trt_ssd.py", "trt_ssd_async.py"]
HANG_GUARD_S = 120  # a hang guard for subprocesses, not a speed assertion


def run(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True, text=True,
                          timeout=HANG_GUARD_S, env=env)


def stderr_lines(r: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.strip()]


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def model_args(shared_dir, quant_artifact):
    return ["-m", str(quant_artifact[0])]


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_display_without_headless_is_one_line_before_any_model_work(script, shared_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    # An absent model: the display check must come first, so the model error is never reached.
    r = run(script, "-m", str(tmp_path / "absent.tflite"), "--image", str(shared_dir / "media" / "tensorrt_demos_dog.jpg"),
            "--json", str(tmp_path / "o.jsonl"), env=env)
    assert r.returncode == 1, r.stderr
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("trtssd: error: window: expected a display") and "--headless" in lines[0]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_truncated_tflite_is_one_line(script, shared_dir, tmp_path):
    src = (shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite").read_bytes()
    half = tmp_path / "half.tflite"
    half.write_bytes(src[: len(src) // 2])
    r = run(script, "-m", str(half), "--image", str(shared_dir / "media" / "tensorrt_demos_dog.jpg"),
            "--headless", "--json", str(tmp_path / "o.jsonl"))
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert "expected a complete TFLite flatbuffer" in lines[0] and "half.tflite" in lines[0]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_truncated_video_warns_with_both_counts_and_keeps_valid_outputs(script, model_args, shared_dir, tmp_path):
    data = (shared_dir / "media" / "car-detection.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    r = run(script, *model_args, "--video", str(cut), "--headless", "--output", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    decoded = len(js.read_text().splitlines())
    assert 0 < decoded < 377
    warnings = [ln for ln in stderr_lines(r) if ln.startswith("trtssd: warning:")]
    assert len(warnings) == 1, r.stderr
    assert "expected 377 frames" in warnings[0] and f"decoded {decoded}" in warnings[0]
    assert count_frames(out) == decoded


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("case", ["unknown model", "broken model", "silent live source"])
def test_failed_run_leaves_no_empty_output(script, case, model_args, shared_dir, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    video = ["--video", str(shared_dir / "media" / "car-detection.mp4")]
    args = {
        "unknown model": ["-m", "ssd_nonsense", *video],
        "broken model": ["-m", str(broken), *video],
        "silent live source": [*model_args, "--rtp", str(_udp_port()), "--source_timeout", "1"],
    }[case]
    js, out = tmp_path / "o.jsonl", tmp_path / "o.mp4"
    r = run(script, *args, "--headless", "--json", str(js), "--output", str(out))
    assert r.returncode == 1
    assert len(stderr_lines(r)) == 1 and r.stderr.startswith("trtssd: error:"), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx"]  # nothing left behind


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this OS")
@pytest.mark.parametrize("script", SCRIPTS)
def test_json_on_a_full_device_names_the_file(script, model_args, shared_dir):
    r = run(script, *model_args, "--image", str(shared_dir / "media" / "tensorrt_demos_dog.jpg"), "--headless",
            "--json", "/dev/full")
    assert r.returncode == 1
    lines = stderr_lines(r)
    assert len(lines) == 1, r.stderr
    assert "'/dev/full'" in lines[0] and "No space left on device" in lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_image_list_json_lines_name_their_source(script, model_args, shared_dir, tmp_path):
    pattern = str(shared_dir / "media" / "tensorrt_demos_*")
    js = tmp_path / "o.jsonl"
    r = run(script, *model_args, "--image", pattern, "--headless", "--json", str(js))
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in js.read_text().splitlines()]
    expected = sorted(str(p) for p in (shared_dir / "media").glob("tensorrt_demos_*"))
    assert [rec["source"] for rec in records] == expected
    assert [rec["frame"] for rec in records] == list(range(len(expected)))


@pytest.mark.slow
def test_conversion_prints_only_its_own_progress_lines(shared_dir, tmp_path):
    """TensorFlow's native start-up lines (absl, oneDNN) stay off the terminal."""
    env = dict(os.environ, TRTSSD_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "trtssd.cli.main", "convert", "ssd_mobilenet_v1_coco_quant",
                        "--model_dir", str(shared_dir / "models")], capture_output=True, text=True,
                       timeout=HANG_GUARD_S, env=env, cwd=REPO)
    assert r.returncode == 0, r.stderr
    lines = stderr_lines(r)
    assert [ln.split(" ", 2)[:2] for ln in lines] == [["trtssd:", "converting"], ["trtssd:", "converted"]], r.stderr
