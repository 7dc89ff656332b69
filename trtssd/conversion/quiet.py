"""Keep TensorFlow's native start-up lines (absl's "All log messages before absl::InitializeLog()",
oneDNN's "custom operations are on", CUDA probing) off the user's terminal.

Those lines are written by C++ code straight to file descriptor 2 when TensorFlow is first
imported, past Python's ``sys.stderr`` and past ``TF_CPP_MIN_LOG_LEVEL``. The converters import
TensorFlow (directly or through tf2onnx) inside :func:`quiet_native_stderr`, which points fd 2 at a
temporary file for the duration and logs what was captured at DEBUG level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Redirect fd 2 (native code's stderr) to a temporary file inside the block.

    Python-level errors raised inside still propagate normally; only the native lines are held
    back (logged at DEBUG). Thread-safety: fd 2 is process-wide, so use it around one-off imports,
    not around long-running work.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to hide
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured = sink.read().decode("utf-8", "replace").strip()
            if captured:
                log.debug("native start-up output held back:\n%s", captured)
