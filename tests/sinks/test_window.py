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
    raw = cv2.imread(str(image_path))
    drawn = natural = 0
    try:
        deadline = time.monotonic() + 300  # a hang guard, not a timing assertion
        while not (out_json.exists() and len(out_json.read_text().splitlines()) >= 1):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no frame processed"
            time.sleep(0.05)  # polling a condition
        dets = json.loads(out_json.read_text().splitlines()[0])["detections"]
        colors = {color_for(d["class_id"]) for d in dets}
        natural = sum(color_pixels(raw, c) for c in colors)
        # The window shows the annotated frame once it has been drawn: look until it is on screen.
        while True:
            shot = screenshot(xvfb, tmp_path / "screen.png")
            drawn = sum(color_pixels(shot, c) for c in colors)
            if drawn > natural + 1000 or time.monotonic() > deadline or proc.poll() is not None:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert drawn > natural + 1000, f"no boxes on display {xvfb} (drawn {drawn}, natural {natural}); " \
                                   f"screenshot {tmp_path / 'screen.png'}; output: {out[-2000:]}"
