"""trt_ssd.py end to end (real model, real photos and video) and its bad-input behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 60  # a hang guard for subprocesses, not a speed assertion


def run(args, cwd=REPO, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, str(REPO / "trt_ssd.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)


@pytest.fixture(scope="module")
def model_args(shared_dir, quant_artifact):
    return ["-m", "ssd_mobilenet_v1_coco_quant", "--model_dir", str(shared_dir / "models")]


def test_huskies_three_dogs(shared_dir, model_args, tmp_path):
    out, js = tmp_path / "out.jpg", tmp_path / "out.jsonl"
    r = run([*model_args, "--image", str(shared_dir / "media" / "tensorrt_demos_huskies.png"),
             "--headless", "--output", str(out), "--json", str(js)])
    assert r.returncode == 0, r.stderr
    lines = js.read_text().splitlines()
    assert len(lines) == 1
    dets = json.loads(lines[0])["detections"]
    dogs = [d for d in dets if d["label"] == "dog" and d["score"] >= 0.5]
    assert len(dogs) >= 3
    img = cv2.imread(str(out))
    assert img is not None and img.shape == cv2.imread(str(shared_dir / "media" / "tensorrt_demos_huskies.png")).shape


def test_video_frames_and_json_lines(shared_dir, model_args, tmp_path):
    out, js = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    r = run([*model_args, "--video", str(shared_dir / "media" / "car-detection.mp4"), "--headless",
             "--output", str(out), "--json", str(js), "--max_frames", "40"])
    assert r.returncode == 0, r.stderr
    frames = [json.loads(line)["frame"] for line in js.read_text().splitlines()]
    assert frames == list(range(40))
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 40
    assert not list(tmp_path.glob(".*partial*"))
    assert "FPS" in r.stdout


def test_do_resize(shared_dir, model_args, tmp_path):
    out = tmp_path / "small.png"
    r = run([*model_args, "--image", str(shared_dir / "media" / "tensorrt_demos_dog.jpg"), "--headless",
             "--do_resize", "--width", "320", "--height", "240", "--output", str(out)])
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == (240, 320, 3)


@pytest.mark.parametrize(
    "case, args, expect",
    [
        ("missing image", ["--image", "/nonexistent/x.jpg"], "image not found"),
        ("missing video", ["--video", "/nonexistent/x.mp4"], "video not found"),
        ("unreadable image", ["--image", "{bad_image}"], "expected a readable image"),
        ("unreadable video", ["--video", "{bad_video}"], "expected a decodable video"),
        ("no input", [], "expected exactly one of"),
        ("unknown model", ["-m", "ssd_nonsense", "--image", "{good}"], "unknown model 'ssd_nonsense'"),
        ("wrong kind of model", ["-m", "{bad_model}", "--image", "{good}"], "expected a .tflite"),
        ("absent model, no network", ["-m", "ssd_mobilenet_v1_coco", "--image", "{good}"], "ssd_mobilenet_v1_coco.pb"),
        ("bad output extension", ["--image", "{good}", "--output", "{tmp}/x.txt"], "expected an image"),
        ("headless without outputs", ["--image", "{good}"], "--headless: expected --output"),
        ("json path is a directory", ["--image", "{good}", "--json", "{tmp}"], "expected a file path, found a directory"),
    ],
)
def test_bad_input_is_one_clear_line(case, args, expect, shared_dir, model_args, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    subs = {"{bad_image}": str(tmp_path / "bad.jpg"), "{bad_video}": str(tmp_path / "bad.mp4"),
            "{bad_model}": str(tmp_path / "model.bin"), "{tmp}": str(tmp_path),
            "{good}": str(shared_dir / "media" / "tensorrt_demos_dog.jpg")}
    args = [subs.get(a, a).replace("{tmp}", str(tmp_path)) for a in args]
    base = model_args if "-m" not in args else ["--model_dir", str(shared_dir / "models")]
    extra = [] if case in ("headless without outputs", "json path is a directory") else ["--json", str(tmp_path / "o.jsonl")]
    env = {"TRTSSD_MODEL_DIR": str(tmp_path / "empty")}
    r = run([*base, *args, "--headless", *extra], env_extra=env)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("trtssd: error:") and expect in lines[0], lines[0]
