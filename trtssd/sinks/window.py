"""OpenCV window: ESC or Q quits, F toggles fullscreen, closing the window stops."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from trtssd.detections import Detections
from trtssd.errors import InputError
from trtssd.sinks.base import Sink
from trtssd.sources.base import Frame

KEY_ESC = 27


def check_display() -> None:
    """Raise InputError when no window can be opened: on Linux, no X11/Wayland display to connect
    to (OpenCV's Qt/GTK backend would abort the process instead of raising). Qt's non-screen
    platforms (``QT_QPA_PLATFORM=offscreen``/``minimal``) count as a display."""
    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb"):
        return
    raise InputError("window: expected a display ($DISPLAY or $WAYLAND_DISPLAY), found none; "
                     "add --headless with --output, --json and/or --mjpeg")


class WindowSink(Sink):
    def __init__(self, title: str = "trtssd", width: int | None = None, height: int | None = None) -> None:
        self.title = title
        check_display()
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise InputError(
                f"display: expected a GUI-capable OpenCV and a display (DISPLAY set), found none ({str(exc).strip().splitlines()[-1]}); "
                "use --headless"
            ) from None
        if width and height:
            cv2.resizeWindow(title, width, height)
        self._fullscreen = False
        self._stop = False
        self._shown = False

    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        if self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self._stop = True
            return
        cv2.imshow(self.title, annotated if annotated is not None else frame.image)
        self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in (KEY_ESC, ord("q"), ord("Q")):
            self._stop = True
        elif key in (ord("f"), ord("F")):
            self._fullscreen = not self._fullscreen
            cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN,
                                  cv2.WINDOW_FULLSCREEN if self._fullscreen else cv2.WINDOW_NORMAL)

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
