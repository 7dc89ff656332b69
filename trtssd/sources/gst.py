"""GStreamer sources, run through ``gst-launch-1.0`` in a subprocess writing raw BGR frames to a pipe.

Why a subprocess: pip OpenCV has no GStreamer backend, and PyGObject from Debian (python3-gi)
targets the system Python, not the project's venv interpreter. ``gst-launch-1.0`` works with any
Python, needs only apt packages, and isolates GStreamer crashes from the detector process.

Every pipeline ends in ``videoconvert ! videoscale ! video/x-raw,format=BGR,width=W,height=H !
fdsink``, so frames arrive as fixed-size ``H*W*3`` byte blocks (the size given by --width/--height,
as the original tensorrt_demos camera pipelines scaled to it).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np

from trtssd.errors import InputError
from trtssd.sources.live import LatestFrameSource

GST_LAUNCH = "gst-launch-1.0"
GST_INSPECT = "gst-inspect-1.0"
CODECS = ("h264", "h265")


@functools.lru_cache(maxsize=None)
def has_element(name: str) -> bool:
    """Whether the local GStreamer install provides element ``name`` (e.g. Jetson's nvv4l2decoder)."""
    exe = shutil.which(GST_INSPECT)
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "--exists", name], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def bgr_tail(width: int, height: int, jetson: bool = False) -> str:
    """Conversion to fixed-size BGR; on Jetson ``nvvidconv`` scales in hardware first."""
    caps = f"video/x-raw,format=BGR,width={width},height={height}"
    if jetson:
        return f"nvvidconv ! video/x-raw,format=BGRx,width={width},height={height} ! videoconvert ! {caps}"
    return f"videoconvert ! videoscale ! {caps}"


def decoder(codec: str, jetson: bool) -> str:
    """Parser + decoder for ``codec``: nvv4l2decoder on Jetson, libav software decoders otherwise."""
    if codec not in CODECS:
        raise InputError(f"codec: expected one of {', '.join(CODECS)}, found '{codec}'")
    return f"{codec}parse ! " + ("nvv4l2decoder" if jetson else f"avdec_{codec}")


def csi_pipeline(sensor_id: int, width: int, height: int, fps: int = 30) -> str:
    """Jetson CSI camera (``--onboard N``); needs nvarguscamerasrc (JetPack)."""
    if not has_element("nvarguscamerasrc"):
        raise InputError(
            f"CSI camera {sensor_id}: expected the Jetson GStreamer element nvarguscamerasrc (JetPack), "
            "found it missing; use --usb N for a USB camera"
        )
    return (f"nvarguscamerasrc sensor-id={sensor_id} ! "
            f"video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1 ! {bgr_tail(width, height, True)}")


def rtsp_pipeline(uri: str, latency_ms: int, width: int, height: int) -> str:
    """RTSP client (H.264 or H.265, picked by decodebin; it prefers nvv4l2decoder where present)."""
    if not uri.startswith(("rtsp://", "rtsps://")):
        raise InputError(f"--rtsp: expected an rtsp:// URI, found '{uri}'")
    jetson = has_element("nvvidconv")
    return (f"rtspsrc location={shlex.quote(uri)} latency={int(latency_ms)} ! decodebin ! "
            f"{bgr_tail(width, height, jetson)}")


def rtp_pipeline(port: int, codec: str, width: int, height: int) -> str:
    """RTP/UDP listener matching ``... ! rtph26Xpay ! udpsink host=<this> port=PORT`` broadcasters."""
    if not 0 < port < 65536:
        raise InputError(f"--rtp: expected a UDP port 1..65535, found {port}")
    jetson = has_element("nvv4l2decoder") and has_element("nvvidconv")
    caps = f"application/x-rtp,media=video,clock-rate=90000,encoding-name={codec.upper()},payload=96"
    return (f'udpsrc port={port} caps="{caps}" ! rtp{codec}depay ! {decoder(codec, jetson)} ! '
            f"{bgr_tail(width, height, jetson)}")


def custom_pipeline(description: str, width: int, height: int) -> str:
    """A user pipeline (``--gstr``) producing raw video; we append the BGR conversion."""
    description = description.strip().rstrip("!").strip()
    if not description:
        raise InputError("--gstr: expected a GStreamer pipeline description, found an empty string")
    if "appsink" in description or "fdsink" in description:
        raise InputError("--gstr: expected a pipeline without a sink (trtssd appends its own), found appsink/fdsink")
    return f"{description} ! {bgr_tail(width, height)}"


@dataclass(frozen=True)
class Reconnect:
    """Restart policy when the pipeline ends: backoff doubles from ``initial`` to ``maximum`` seconds."""

    enabled: bool = False
    initial: float = 0.5
    maximum: float = 8.0


class GstSource(LatestFrameSource):
    """Frames from ``gst-launch-1.0 <pipeline> ! fdsink``; newest frame only; optional reconnect."""

    def __init__(self, pipeline: str, width: int, height: int, name: str = "GStreamer",
                 reconnect: Reconnect = Reconnect()) -> None:
        super().__init__(name)
        self.exe = shutil.which(GST_LAUNCH)
        if self.exe is None:
            raise InputError(f"{name}: expected {GST_LAUNCH} on PATH (apt install gstreamer1.0-tools; 'make setup'), found none")
        self.pipeline = f"{pipeline} ! fdsink fd=1 sync=false"
        self.width, self.height = width, height
        self.reconnect = reconnect
        self.starts = 0
        self._proc: subprocess.Popen | None = None
        self._proc_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._start()

    @property
    def fps(self) -> float | None:
        return None

    def _launch(self) -> subprocess.Popen:
        argv = [self.exe, "-q", "-e", *shlex.split(self.pipeline)]
        env = {**os.environ, "GST_DEBUG_NO_COLOR": "1"}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env, bufsize=0, start_new_session=True)
        threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True).start()
        self.starts += 1
        return proc

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        with proc.stderr:  # closed when gst-launch exits (one descriptor per reconnect otherwise)
            for line in iter(proc.stderr.readline, b""):
                self._stderr.append(line.decode(errors="replace").rstrip())

    def _read_exact(self, stream, size: int) -> bytes | None:
        buf = bytearray(size)
        view, got = memoryview(buf), 0
        while got < size:
            n = stream.readinto(view[got:])
            if not n:
                return None
            got += n
        return bytes(buf)

    def _grab_loop(self) -> None:
        size = self.width * self.height * 3
        backoff = self.reconnect.initial
        while not self._closing.is_set():
            with self._proc_lock:
                if self._closing.is_set():
                    return
                self._proc = self._launch()
            while (data := self._read_exact(self._proc.stdout, size)) is not None:
                self._publish(np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3))
                backoff = self.reconnect.initial
            self._stop_proc()
            if self._closing.is_set():
                return
            if not self.reconnect.enabled:
                if self.frames_published == 0:
                    detail = " | ".join(list(self._stderr)[-3:]) or f"exit code {self._proc.returncode}"
                    raise InputError(f"{self.name}: expected video frames from GStreamer, found none ({detail})")
                return  # end of stream
            if self._closing.wait(backoff):
                return
            backoff = min(backoff * 2, self.reconnect.maximum)

    def _stop_proc(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        proc.stdout.close()

    def close(self, timeout: float = 1.0) -> None:
        self._closing.set()
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
        super().close(timeout)
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):  # never raise from close()
                    self._proc.wait(timeout=3)
