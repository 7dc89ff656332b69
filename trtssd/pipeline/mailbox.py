"""The hand-off between the inference workers and the consumer: typed results through a Condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from trtssd.detections import Detections
from trtssd.sources.base import Frame


@dataclass(frozen=True)
class Result:
    """One frame and its detections, with the inference worker's per-stage seconds for it."""

    frame: Frame
    detections: Detections
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EndOfStream:
    """Every worker finished without error: the source ended (or ``max_frames`` was reached)."""


class Mailbox:
    """Workers -> consumer hand-off through one ``threading.Condition``.

    ``keep_all`` (file sources): results come out in sequence order (0, 1, 2, ...) whatever order
    the workers finish them in; ``put`` blocks while its last result would be ``capacity`` or more
    ahead of the next one the consumer takes (no frame lost, bounded memory). Otherwise a single
    slot that ``put`` overwrites with newer results (newest wins; ``dropped`` counts the losses).
    ``producers``: how many workers call :meth:`finish` before the stream ends.

    A worker's error ends the stream, but only after the results already handed over before it
    (in order, for ``keep_all``) have been taken: nothing computed is discarded.
    """

    def __init__(self, keep_all: bool, capacity: int = 4, producers: int = 1) -> None:
        self.keep_all = keep_all
        self.capacity = max(1, capacity) if keep_all else 1
        self.cond = threading.Condition()
        self._pending: dict[int, Result] = {}  # by sequence number
        self._next = 0  # keep_all: the sequence number the consumer takes next
        self._auto_seq = 0
        self._last_taken = -1  # newest-only: the sequence number the consumer took last
        self._producers_left = producers
        self._error: BaseException | None = None
        self._ended = False
        self.cancelled = False
        self.dropped = 0

    def put(self, item: Result, seq: int | None = None) -> bool:
        """Hand over ``item`` (frame number ``seq``; default: the next in call order).
        Returns False once the consumer cancelled (the worker should stop)."""
        return self.put_many([item], seq)

    def put_many(self, items: Sequence[Result], first_seq: int | None = None) -> bool:
        """Hand over consecutive results numbered from ``first_seq`` (a batch). Returns False once
        the consumer cancelled."""
        if not items:
            return not self.cancelled
        with self.cond:
            if first_seq is None:
                first_seq, self._auto_seq = self._auto_seq, self._auto_seq + len(items)
            last = first_seq + len(items) - 1
            if self.keep_all:
                # room for the whole batch; a batch larger than the capacity waits to be next
                while (last >= self._next + self.capacity and first_seq != self._next) and not self.cancelled:
                    self.cond.wait(0.5)
                if self.cancelled:
                    return False
                for k, item in enumerate(items):
                    self._pending[first_seq + k] = item
            else:
                if self.cancelled:
                    return False
                if last < max(self._pending, default=-1) or last <= self._last_taken:
                    # a slower worker's older frames: already superseded, or older than one shown
                    self.dropped += len(items)
                    return True
                self.dropped += len(self._pending) + len(items) - 1
                self._pending = {last: items[-1]}
            self.cond.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        """One worker is done (``error``: why it failed; the first error ends the stream)."""
        with self.cond:
            self._producers_left -= 1
            if error is not None and self._error is None:
                self._error = error
            self._ended = self._error is not None or self._producers_left <= 0
            self.cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops: wake and release the workers."""
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def _take(self) -> Result | None:
        if self.keep_all:
            item = self._pending.pop(self._next, None)
            if item is not None:
                self._next += 1
            return item
        if self._pending:
            self._last_taken = max(self._pending)
            item = self._pending.pop(self._last_taken)
            self._pending.clear()
            return item
        return None

    def get(self, timeout: float) -> Result | EndOfStream | None:
        """Next result, EndOfStream, or None after ``timeout`` s; re-raises a worker's error once
        the results handed over before it are taken."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                item = self._take()
                if item is not None:
                    self.cond.notify_all()
                    return item
                if self._error is not None:
                    raise self._error
                if self._ended:
                    return EndOfStream()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
