"""Run the tf2onnx command line in a subprocess: TensorFlow's import, logging and memory stay out
of the calling process, and its public CLI is a steadier interface than tf2onnx's internals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trtssd.errors import ConversionError

OPSET = 17


def run_tf2onnx(source_args: list[str], dst: Path, what: str, opset: int = OPSET) -> None:
    """``python -m tf2onnx.convert <source_args> --opset N --output dst``; a failure raises
    ConversionError with tf2onnx's last error line."""
    cmd = [sys.executable, "-m", "tf2onnx.convert", *source_args, "--opset", str(opset), "--output", str(dst)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not Path(dst).exists():
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines
        raise ConversionError(f"tf2onnx failed on {what}: {errors[-1] if errors else 'no output'}")
