"""Read-ahead for file sources: a decoder thread fills a bounded buffer so decoding overlaps inference.

Order and completeness are kept (every frame once, in order); the decoder waits when the buffer is
full. Live sources already capture in their own thread and are not wrapped.
"""

from __future__ import annotations

import collections
import threading
import time

from trtssd.errors import SourceTimeout
from trtssd.sources.base import Frame, Source

_END = object()


class PrefetchSource(Source):
    """Wraps ``inner`` (a file source); ``depth`` decoded frames are kept ready.

    :meth:`close` stops the decoder thread only; ``inner`` stays the caller's to close.
    """

    def __init__(self, inner: Source, depth: int = 4) -> None:
        self.inner = inner
        self.is_live = inner.is_live
        self.depth = max(1, depth)
        self._cond = threading.Condition()
        self._buf: collections.deque = collections.deque()
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    @property
    def fps(self) -> float | None:
        return self.inner.fps

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while len(self._buf) >= self.depth and not self._closing:
                        self._cond.wait(0.5)
                    if self._closing:
                        return
                frame = self.inner.read()
                with self._cond:
                    self._buf.append(_END if frame is None else frame)
                    self._cond.notify_all()
                if frame is None:
                    return
        except BaseException as exc:  # re-raised by read()
            with self._cond:
                self._error = exc
                self._buf.append(_END)
                self._cond.notify_all()

    def read(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buf:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise SourceTimeout(f"file read-ahead: expected a decoded frame within {timeout:.1f} s, found none")
                self._cond.wait(left)
            item = self._buf[0]
            if item is _END:
                if self._error is not None:
                    raise self._error
                return None
            self._buf.popleft()
            self._cond.notify_all()
            return item

    @property
    def alive(self) -> bool:
        """Whether the decoder thread is still running (after :meth:`close`: still inside a read)."""
        return self._thread.is_alive()

    def close(self, timeout: float = 1.0) -> None:
        """Stop the decoder thread, waiting at most ``timeout`` s (it ends after its current read)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
