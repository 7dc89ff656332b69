"""Browser live view: an MJPEG-over-HTTP server (``--mjpeg PORT``).

Routes: ``/`` a small HTML page (the live stream and the current FPS), ``/stream.mjpg``
(multipart/x-mixed-replace JPEG stream), ``/frame.jpg`` (the newest frame), ``/stats.json``
(``{"fps": float, "frames": int}``). Binds 127.0.0.1 unless told otherwise; port 0 picks a free port.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from trtssd.detections import Detections
from trtssd.errors import InputError
from trtssd.pipeline.stats import FpsMeter
from trtssd.sinks.base import Sink
from trtssd.sources.base import Frame

BOUNDARY = "trtssdframe"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>trtssd live</title>
<style>body{margin:0;background:#111;color:#eee;font:16px sans-serif}
header{padding:6px 10px}img{display:block;max-width:100vw}</style></head>
<body><header>trtssd live view &middot; <span id="fps">FPS: -</span></header>
<img id="live" src="/stream.mjpg" alt="live annotated stream">
<script>
async function poll(){try{const s=await (await fetch('/stats.json',{cache:'no-store'})).json();
document.getElementById('fps').textContent='FPS: '+s.fps.toFixed(1)+' ('+s.frames+' frames)';}catch(e){}}
setInterval(poll,1000);poll();
</script></body></html>
"""


class _Latest:
    """The newest JPEG and its sequence number, guarded by a Condition."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0
        self.fps = 0.0
        self.closed = False

    def wait_newer(self, seq: int, timeout: float) -> tuple[bytes | None, int]:
        with self.cond:
            self.cond.wait_for(lambda: self.seq > seq or self.closed, timeout)
            return (self.jpeg, self.seq) if self.seq > seq else (None, seq)


def _handler(latest: _Latest) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, body: bytes, ctype: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the browser went away
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/stats.json":
                self._send(json.dumps({"fps": round(latest.fps, 2), "frames": latest.seq}).encode(), "application/json")
            elif path == "/frame.jpg":
                jpeg, _ = latest.wait_newer(0, 5.0)
                if jpeg is None:
                    self._send(b"no frame yet", "text/plain", HTTPStatus.SERVICE_UNAVAILABLE)
                else:
                    self._send(jpeg, "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seq = 0
            try:
                self.wfile.write(f"--{BOUNDARY}\r\n".encode())
                while not latest.closed:
                    jpeg, seq = latest.wait_newer(seq, 1.0)
                    if jpeg is None:
                        continue
                    # each part is closed by the next boundary at once, so browsers show it without
                    # waiting for the following frame
                    self.wfile.write(f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                    self.wfile.write(jpeg + f"\r\n--{BOUNDARY}\r\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class MjpegServerSink(Sink):
    """Serves the annotated frames to browsers. ``port``: the bound port (useful with port 0)."""

    def __init__(self, port: int = 8090, host: str = "127.0.0.1", quality: int = 80) -> None:
        if not 0 <= port < 65536:
            raise InputError(f"--mjpeg: expected a TCP port 0..65535, found {port}")
        self._latest = _Latest()
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(self._latest))
        except OSError as exc:
            raise InputError(f"--mjpeg {host}:{port}: expected a free port to listen on, found {exc.strerror}") from None
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self.quality = quality
        self._meter = FpsMeter()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mjpeg-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        image = annotated if annotated is not None else frame.image
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise InputError(f"mjpeg: expected a JPEG-encodable BGR image, found {image.dtype} {list(image.shape)}")
        fps = self._meter.tick(time.perf_counter())
        with self._latest.cond:
            self._latest.jpeg, self._latest.fps = buf.tobytes(), fps
            self._latest.seq += 1
            self._latest.cond.notify_all()

    def close(self) -> None:
        if self._latest.closed:
            return
        with self._latest.cond:
            self._latest.closed = True
            self._latest.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
