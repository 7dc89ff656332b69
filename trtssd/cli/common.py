"""CLI plumbing shared by subcommands: the error -> exit-code boundary and common flags.

Library code raises :class:`~trtssd.errors.TrtSsdError` (and ``ValueError`` for bad arguments);
only :func:`run_main` turns them into one ``trtssd: error: ...`` line and an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from trtssd.errors import TrtSsdError

# FFmpeg (inside OpenCV) would print its own lines (e.g. "moov atom not found") on bad input; the
# CLI reports such errors itself, in one line. Users can still raise the level through the env.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class _CliFormatter(logging.Formatter):
    """``trtssd: warning: message`` (the library's log records, as the CLI shows them)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"trtssd: {record.levelname.lower()}: {record.getMessage()}"


def configure_logging(level: int = logging.WARNING) -> None:
    """Show the library's warnings and errors on stderr, one line each (idempotent)."""
    logger = logging.getLogger("trtssd")
    if not any(getattr(h, "_trtssd_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_CliFormatter())
        handler._trtssd_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def run_main(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; map library errors to one stderr line and a non-zero exit code."""
    configure_logging()
    try:
        return int(fn(args) or 0)
    except (TrtSsdError, ValueError) as exc:
        print(f"trtssd: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:  # e.g. an output path in a read-only or missing place
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"trtssd: error: file{where}: expected to be able to use it, found {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("trtssd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def add_model_args(parser: argparse.ArgumentParser, default_model: str = "ssd_mobilenet_v1_coco") -> None:
    from trtssd.backends.base import available_backends

    parser.add_argument("-m", "--model", default=default_model,
                        help=f"registered model name (see 'trtssd models'), or a path to a TFLite SSD (.tflite), a TF1 frozen graph "
                             f"(.pb or zoo .tar.gz), a TF2 SavedModel directory or a trtssd .onnx artifact (default: {default_model})")
    parser.add_argument("--model_dir", default=None,
                        help="extra directory searched for model files (also $TRTSSD_MODEL_DIR)")
    parser.add_argument("--backend", default=os.environ.get("TRTSSD_BACKEND", "onnxruntime"), choices=available_backends(),
                        help="inference backend (default: onnxruntime, the CPU backend; 'auto' picks TensorRT, then torch+CUDA)")
