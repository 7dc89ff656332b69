"""Display helpers for sink tests: a private Xvfb server and GStreamer screenshots of it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number in :90..:199")


@pytest.fixture
def xvfb():
    """``DISPLAY`` value of a fresh Xvfb (1024x768x24), stopped after the test."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (make setup)")
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):  # up to 10 s
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        if proc.poll() is not None:
            pytest.fail(f"Xvfb :{n} exited with {proc.returncode}")
        time.sleep(0.1)
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def screenshot(display: str, path: Path) -> np.ndarray:
    """Grab the whole X screen with GStreamer's ximagesrc; returns the BGR image."""
    import cv2

    subprocess.run(["gst-launch-1.0", "-q", "ximagesrc", "num-buffers=1", "use-damage=false", "!", "videoconvert", "!",
                    "pngenc", "!", "filesink", f"location={path}"],
                   env={**os.environ, "DISPLAY": display}, check=True, timeout=30, capture_output=True)
    image = cv2.imread(str(path))
    assert image is not None, f"no screenshot at {path}"
    return image


def color_pixels(image: np.ndarray, bgr: tuple[int, int, int], tol: int = 30) -> int:
    """How many pixels are within ``tol`` of ``bgr`` in every channel."""
    return int((np.abs(image.astype(np.int16) - np.array(bgr, np.int16)) <= tol).all(axis=2).sum())
