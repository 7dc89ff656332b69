"""The OpenCV window under Xvfb: trt_ssd_async.py shows annotated frames (screenshot shows the boxes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from trtssd.sinks.draw import color_for

from .conftest import color_pixels, screenshot

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["trt_ssd.py", "trt_ssd_async.py"])
def test_window_shows_boxes_under_xvfb(xvfb, quant_artifact, shared_dir, tmp_path, script):
    image_path = shared_dir / "media" / "tensorrt_demos_dog.jpg"
    out_json = tmp_path / "dets.jsonl"
    proc = subprocess.Popen([sys.executable, str(REPO / script), "-m", str(quant_artifact[0]), "--image", str(image_path),
                             "--json", str(out_json)],
                            env={**os.environ, "DISPLAY": xvfb}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(600):  # up to 60 s for the window to show a few frames
            if out_json.exists() and len(out_json.read_text().splitlines()) >= 5:
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        time.sleep(0.5)
        shot = screenshot(xvfb, tmp_path / "screen.png")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130, out
    dets = json.loads(out_json.read_text().splitlines()[0])["detections"]
    colors = {color_for(d["class_id"]) for d in dets}
    raw = cv2.imread(str(image_path))
    drawn = sum(color_pixels(shot, c) for c in colors)
    natural = sum(color_pixels(raw, c) for c in colors)
    assert drawn > natural + 1000, (drawn, natural)
