"""Display helpers for sink tests: a private Xvfb server and GStreamer screenshots of it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def xvfb():
    """``DISPLAY`` value of a fresh Xvfb (1024x768x24), stopped after the test.

    Xvfb picks a free display number itself (``-displayfd``: it takes the lock atomically, so
    concurrent test runs never share a screen) and writes it to the pipe once it accepts
    connections: reading that line is the readiness signal, no polling.
    """
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (make setup)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()  # returns at readiness, or "" when Xvfb exits
    if not number.isdigit():
        proc.kill()
        proc.wait()
        pytest.fail(f"Xvfb did not start (exit code {proc.returncode})")
    try:
        yield f":{number}"
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
