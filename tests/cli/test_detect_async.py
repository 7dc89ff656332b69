"""trt_ssd.py / trt_ssd_async.py end to end: complete outputs on a video, clean shutdown on signals,
live sources (--gstr, --rtp) from the command line, clear errors for absent devices."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["trt_ssd.py", "trt_ssd_async.py"]
HAVE_GST = shutil.which("gst-launch-1.0") is not None


def run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True, text=True, timeout=timeout)


def video_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def json_indices(path: Path) -> list[int]:
    return [json.loads(line)["frame"] for line in path.read_text().splitlines()]


def assert_live_contract(indices: list[int], requested: int) -> None:
    """What a live source promises: the requested number of frames, frame numbers strictly
    increasing (stale frames are dropped by design, so numbers may skip)."""
    assert len(indices) == requested, indices
    assert all(a < b for a, b in zip(indices, indices[1:])), indices


def wait_for_lines(proc: subprocess.Popen, path: Path, n: int, limit_s: float = 120.0) -> None:
    """Block until ``path`` holds ``n`` complete lines (the run is producing), failing if the
    process exits first; ``limit_s`` only guards against a hang."""
    deadline = time.monotonic() + limit_s
    while not (path.exists() and path.read_text().count("\n") >= n):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"no {n} lines in {path} within {limit_s} s"
        time.sleep(0.05)  # polling a condition, not waiting for an event to have happened


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_video_headless_outputs_are_complete(script, quant_artifact, shared_dir, tmp_path):
    src = shared_dir / "media" / "car-detection.mp4"
    out, js = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    r = run_script(script, "-m", str(quant_artifact[0]), "--video", str(src), "--headless", "--output", str(out), "--json", str(js))
    assert r.returncode == 0, r.stderr
    n = video_frames(src)
    assert n == 377
    assert video_frames(out) == n
    assert json_indices(js) == list(range(n))
    summary = r.stdout.strip().splitlines()[-1]
    assert "stopped by eos" in summary
    for stage in ("capture", "preprocess", "infer", "postprocess", "draw", "write"):
        assert f"{stage} " in summary, summary


@pytest.mark.parametrize("script", ["trt_ssd_async.py", "trt_ssd.py"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_on_looping_video_shuts_down_cleanly(script, sig, quant_artifact, shared_dir, tmp_path):
    out, js = tmp_path / "loop.mp4", tmp_path / "loop.jsonl"
    proc = subprocess.Popen([sys.executable, str(REPO / script), "-m", str(quant_artifact[0]),
                             "--video", str(shared_dir / "media" / "car-detection.mp4"), "--video_looping",
                             "--headless", "--output", str(out), "--json", str(js)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_lines(proc, js, 10)  # frames flow: the signal lands mid-run, not during loading
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err  # 130 for SIGINT, 143 for SIGTERM
    lines = js.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses: no partial line
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert js.read_text().endswith("\n")
    assert out.exists() and not list(tmp_path.glob(".*partial*"))
    assert video_frames(out) == len(records)


@pytest.mark.skipif(not HAVE_GST, reason="GStreamer not installed (make setup)")
@pytest.mark.parametrize("script", SCRIPTS)
def test_gstr_videotestsrc_from_the_command_line(script, quant_artifact, tmp_path):
    js = tmp_path / "g.jsonl"
    r = run_script(script, "-m", str(quant_artifact[0]), "--gstr", "videotestsrc is-live=true ! video/x-raw,framerate=30/1",
                   "--width", "320", "--height", "240", "--headless", "--json", str(js), "--max_frames", "5",
                   "--output", str(tmp_path / "g.mp4"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert_live_contract(json_indices(js), 5)
    assert "stopped by max_frames" in r.stdout
    assert video_frames(tmp_path / "g.mp4") == 5


@pytest.mark.skipif(not HAVE_GST, reason="GStreamer not installed (make setup)")
def test_rtp_h265_from_the_command_line(quant_artifact, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = subprocess.Popen(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=15/1", "!",
         "videoconvert", "!", "x265enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=10", "!",
         "rtph265pay", "config-interval=1", "pt=96", "!", "udpsink", "host=127.0.0.1", f"port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        js = tmp_path / "rtp.jsonl"
        r = run_script("trt_ssd_async.py", "-m", str(quant_artifact[0]), "--rtp", str(port), "--rtp_codec", "h265",
                       "--headless", "--json", str(js), "--max_frames", "3", timeout=120)
    finally:
        sender.terminate()
        sender.wait(timeout=10)
    assert r.returncode == 0, r.stderr
    assert_live_contract(json_indices(js), 3)


@pytest.mark.parametrize("args, message", [
    (["--usb", "97"], "expected a V4L2 device /dev/video97"),
    (["--onboard", "0"], "nvarguscamerasrc"),
    (["--rtsp", "http://x"], "expected an rtsp:// URI"),
    (["--video", "a.mp4", "--rtp", "5000"], "expected exactly one of"),
    (["--video", "/nonexistent.mp4"], "video not found"),
])
@pytest.mark.parametrize("script", SCRIPTS)
def test_input_errors_exit_1_with_one_line(script, args, message, tmp_path):
    r = run_script(script, *args, "--headless", "--json", str(tmp_path / "x.jsonl"), timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("trtssd: error:") and message in r.stderr, r.stderr


def test_producer_error_exits_non_zero(shared_dir, tmp_path):
    """A model that cannot load fails in the producer thread; the main thread reports it."""
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    r = run_script("trt_ssd_async.py", "-m", str(bad), "--video", str(shared_dir / "media" / "car-detection.mp4"),
                   "--headless", "--json", str(tmp_path / "x.jsonl"), timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("trtssd: error:"), r.stderr


@pytest.mark.skipif(not HAVE_GST, reason="GStreamer not installed (make setup)")
def test_source_stall_times_out_with_a_clear_message(quant_artifact, tmp_path):
    """A live source that stops delivering: the run ends with an error, not a hang."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_script("trt_ssd_async.py", "-m", str(quant_artifact[0]), "--rtp", str(port), "--source_timeout", "2",
                   "--headless", "--json", str(tmp_path / "x.jsonl"), timeout=60)
    assert r.returncode == 1
    assert "expected a frame within 2.0 s, found none" in r.stderr, r.stderr


def test_mjpeg_flag_serves_the_live_view(quant_artifact, shared_dir, tmp_path):
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(REPO / "trt_ssd_async.py"), "-m", str(quant_artifact[0]),
                             "--image", str(shared_dir / "media" / "tensorrt_demos_huskies.png"), "--headless",
                             "--mjpeg", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        stats = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats.json", timeout=2) as r:
                    stats = json.loads(r.read())
                if stats["frames"] >= 3:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
        assert stats is not None and stats["frames"] >= 3  # a repeated image is a live stream
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert f"live view at http://127.0.0.1:{port}/" in err
