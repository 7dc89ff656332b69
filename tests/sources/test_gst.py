"""GStreamer sources against real GStreamer: videotestsrc (--gstr), RTP/UDP from a gst-launch sender,
RTSP from a real gst-rtsp-server on 127.0.0.1 (killed and restarted: the source reconnects)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trtssd.errors import InputError, SourceTimeout
from trtssd.sources.factory import SourceConfig, open_source
from trtssd.sources.gst import GstSource

pytestmark = pytest.mark.skipif(shutil.which("gst-launch-1.0") is None, reason="GStreamer not installed (make setup)")
HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def read_n(src, n: int, timeout: float = 20.0) -> list:
    return [src.read(timeout=timeout) for _ in range(n)]


def have_rtsp_server() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    code = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True).returncode == 0


def start_rtsp_server(port: int, codec: str) -> subprocess.Popen:
    proc = subprocess.Popen([SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), str(port), codec],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # bounded: the server prints READY or exits
    if line.strip() != "READY":
        stop(proc)
        pytest.fail(f"RTSP server did not start: {line!r} {proc.stderr.read()[-500:]}")
    return proc


def test_gstr_videotestsrc_frames_are_bgr_of_the_requested_size():
    config = SourceConfig(gstr="videotestsrc is-live=true pattern=red ! video/x-raw,framerate=30/1", width=96, height=64)
    with open_source(config) as src:
        assert src.is_live
        frames = read_n(src, 5)
    assert [f.index for f in frames] == list(range(5))
    for f in frames:
        assert f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8
        b, g, r = f.image.reshape(-1, 3).mean(axis=0)
        assert r > 200 and g < 40 and b < 40, (b, g, r)


def wait_until(condition, what: str, limit_s: float = 60.0) -> None:
    """Poll ``condition()`` until true; ``limit_s`` only guards against a hang."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"expected {what} within {limit_s} s"
        time.sleep(0.01)


def test_live_source_delivers_only_the_newest_frame():
    config = SourceConfig(gstr="videotestsrc is-live=true ! video/x-raw,framerate=30/1", width=64, height=48)
    with open_source(config) as src:
        src.read(timeout=20)
        # A slow consumer: a backlog of 10 frames builds up while it does not read.
        backlog_from = src.frames_published
        wait_until(lambda: src.frames_published >= backlog_from + 10, "10 more published frames")
        mark = time.monotonic()
        published = src.frames_published
        wait_until(lambda: src.frames_published > published, "a frame published after the mark")
        frame = src.read(timeout=5)
    assert frame.index == 1  # one delivery for the whole backlog, not the next frame of a queue
    assert frame.timestamp >= mark  # the newest: published after the backlog was complete


def test_gstr_pipeline_without_frames_is_an_error():
    with open_source(SourceConfig(gstr="videotestsrc num-buffers=0", width=64, height=48)) as src:
        with pytest.raises(InputError, match="expected video frames from GStreamer, found none"):
            src.read(timeout=20)


def test_gstr_finite_pipeline_ends_the_stream():
    with open_source(SourceConfig(gstr="videotestsrc num-buffers=3", width=64, height=48)) as src:
        frames = []
        while (f := src.read(timeout=20)) is not None:
            frames.append(f)
    assert 1 <= len(frames) <= 3


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtp_udp_from_gst_launch_sender(codec):
    port = free_port(socket.SOCK_DGRAM)
    with open_source(SourceConfig(rtp=port, rtp_codec=codec, width=160, height=120)) as src:
        sender = subprocess.Popen(
            ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=15/1",
             "!", "videoconvert", "!", f"x{codec[1:]}enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=10",
             "!", f"rtp{codec}pay", "config-interval=1", "pt=96", "!", "udpsink", "host=127.0.0.1", f"port={port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            frames = read_n(src, 5)
            while frames[-1].image.std() < 40 and len(frames) < 60:  # grey until the first key frame
                frames.append(src.read(timeout=20))
        finally:
            stop(sender)
    assert all(f.image.shape == (120, 160, 3) for f in frames)
    assert frames[-1].image.std() >= 40  # the SMPTE bars, not a blank frame


@pytest.mark.skipif(not have_rtsp_server(), reason="gst-rtsp-server for /usr/bin/python3 not installed (make setup)")
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtsp_from_real_server(codec):
    port = free_port()
    server = start_rtsp_server(port, codec)
    try:
        with open_source(SourceConfig(rtsp=f"rtsp://127.0.0.1:{port}/test", rtsp_latency=50, width=160, height=120)) as src:
            frames = read_n(src, 5)
            while frames[-1].image.std() <= 5 and len(frames) < 60:  # blank until the first key frame
                frames.append(src.read(timeout=20))
    finally:
        stop(server)
    assert all(f.image.shape == (120, 160, 3) for f in frames)
    assert frames[-1].image.std() > 5


@pytest.mark.skipif(not have_rtsp_server(), reason="gst-rtsp-server for /usr/bin/python3 not installed (make setup)")
def test_rtsp_reconnects_after_server_restart():
    port = free_port()
    server = start_rtsp_server(port, "h264")
    with open_source(SourceConfig(rtsp=f"rtsp://127.0.0.1:{port}/test", rtsp_latency=50, width=160, height=120)) as src:
        assert isinstance(src, GstSource)
        try:
            before = read_n(src, 3)
            stop(server)
            with pytest.raises(SourceTimeout):  # drained: nothing new while the server is down
                for _ in range(100):
                    src.read(timeout=1.5)
            server = start_rtsp_server(port, "h264")
            after = read_n(src, 5, timeout=30)
        finally:
            stop(server)
        assert src.starts >= 2
        assert after[0].index > before[-1].index
        assert all(f.image.shape == (120, 160, 3) for f in after)


def test_rtsp_server_helper_runs_under_system_python():
    """The helper is executed by Debian's python3 (python3-gi), not the venv: keep it importable there."""
    assert "gi.repository" in (HERE / "rtsp_server.py").read_text()
    assert sys.executable != SYSTEM_PYTHON or have_rtsp_server()
