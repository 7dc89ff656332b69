"""Browser live view: HTTP routes, and the page rendered by headless Chromium shows the annotated frame."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from trtssd.errors import InputError
from trtssd.sinks.draw import color_for, draw_detections
from trtssd.sinks.mjpeg import BOUNDARY, MjpegServerSink
from trtssd.sources.base import Frame

from .conftest import color_pixels


def _get(url: str, timeout: float = 10.0) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.headers.get("Content-Type"), r.read()


@pytest.fixture
def server():
    with MjpegServerSink(0) as sink:
        yield sink


def _frame(value: int = 0) -> Frame:
    img = np.zeros((120, 160, 3), np.uint8)
    cv2.rectangle(img, (20, 20), (140, 100), (0, 0, 255), -1)
    img[0, 0] = value
    return Frame(img, value, 0.0)


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/"


def test_page_frame_stats_and_404(server):
    from trtssd.detections import Detections

    for i in range(3):
        server.write(_frame(i), Detections.empty(), None)
    ctype, page = _get(server.url)
    assert ctype.startswith("text/html") and b'src="/stream.mjpg"' in page and b"stats.json" in page
    ctype, jpeg = _get(server.url + "frame.jpg")
    assert ctype == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 160, 3) and img[60, 80, 2] > 200
    stats = json.loads(_get(server.url + "stats.json")[1])
    assert stats["frames"] == 3 and stats["fps"] >= 0
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(server.url + "nope")
    assert err.value.code == 404


def test_stream_is_multipart_jpeg(server):
    from trtssd.detections import Detections

    server.write(_frame(), Detections.empty(), None)
    with urllib.request.urlopen(server.url + "stream.mjpg", timeout=10) as r:
        assert r.headers.get("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        head = r.read(200)
    assert head.startswith(f"--{BOUNDARY}\r\nContent-Type: image/jpeg".encode())
    assert b"\xff\xd8" in head  # JPEG start of image


def test_port_in_use_is_a_clear_error(server):
    with pytest.raises(InputError, match=f"{server.port}: expected a free port"):
        MjpegServerSink(server.port)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (make setup)")
def test_page_in_headless_chromium_shows_annotated_frame(server, cpu_detector, shared_dir, tmp_path):
    image = cv2.imread(str(shared_dir / "media" / "tensorrt_demos_dog.jpg"))
    dets = cpu_detector.detect(image)
    assert len(dets) > 0
    annotated = draw_detections(image, dets)
    stop = threading.Event()

    def feed():  # a live stream: a new frame every 50 ms while the browser loads the page
        i = 0
        while not stop.is_set() and i < 2400:
            server.write(Frame(image, i, 0.0), dets, annotated)
            i += 1
            stop.wait(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    shot = tmp_path / "page.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=900,700", server.url]
    try:
        subprocess.run(cmd, capture_output=True, timeout=60)
    finally:
        stop.set()
        feeder.join(5)
    page = cv2.imread(str(shot))
    assert page is not None, "chromium wrote no screenshot"
    colors = {color_for(int(c)) for c in dets.class_id}
    drawn = sum(color_pixels(page, c) for c in colors)
    natural = sum(color_pixels(cv2.resize(image, (page.shape[1], page.shape[0])), c) for c in colors)
    assert drawn > natural + 1000, (drawn, natural)  # the boxes' colours are on the page
