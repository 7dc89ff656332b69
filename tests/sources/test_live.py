"""Live-source machinery: newest frame, and the device released by the grabber thread itself."""

from __future__ import annotations

import threading

import numpy as np

from trtssd.sources.live import LatestFrameSource


class BlockingDevice(LatestFrameSource):
    """Publishes one frame, then blocks inside a 'device read' until ``unblock`` is set."""

    def __init__(self) -> None:
        super().__init__("fake camera")
        self.in_read, self.unblock = threading.Event(), threading.Event()
        self.events: list[str] = []
        self._start()

    def _grab_loop(self) -> None:
        self._publish(np.zeros((4, 4, 3), np.uint8))
        while not self._closing.is_set():
            self.events.append("read start")
            self.in_read.set()
            self.unblock.wait()
            self.events.append("read end")

    def _release(self) -> None:
        self.events.append("release")


def test_release_never_runs_while_the_grabber_is_inside_a_read():
    src = BlockingDevice()
    assert src.read(timeout=5.0) is not None
    assert src.in_read.wait(5.0)
    src.close(timeout=0.05)  # the grabber is stuck in the device read: close must not release under it
    assert src.alive and "release" not in src.events
    src.unblock.set()
    src._thread.join(5.0)
    assert not src.alive and src.events[-2:] == ["read end", "release"]


def test_close_joins_and_releases_once():
    src = BlockingDevice()
    assert src.in_read.wait(5.0)
    src.unblock.set()
    src.close(timeout=5.0)
    assert not src.alive and src.events.count("release") == 1
