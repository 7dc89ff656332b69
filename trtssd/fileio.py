"""Atomic file writes: readers (other threads, other processes) never see a partial file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dst: Path | str) -> Iterator[Path]:
    """Yield a fresh temp path beside ``dst`` (unique per call, so concurrent writers of the same
    ``dst`` never share it); on success it is renamed onto ``dst``, on failure removed."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".partial")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes_atomic(dst: Path | str, data: bytes) -> None:
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
