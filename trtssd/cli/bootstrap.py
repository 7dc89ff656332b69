"""Entry-point bootstrap (stdlib only): lets ``python3 trt_ssd.py ...`` work from a checkout whose
dependencies live in the ``.venv`` that ``make setup`` created, by re-executing with that
interpreter when the current one lacks them."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# The core dependencies (pyproject.toml), by import name.
REQUIRED = ("numpy", "cv2", "onnxruntime", "onnx", "tqdm", "platformdirs")


def ensure_environment(script: str) -> None:
    """Put the checkout on ``sys.path``; re-exec under ``<checkout>/.venv`` if deps are missing."""
    root = Path(script).resolve().parent
    while root != root.parent and not (root / "trtssd").is_dir():
        root = root.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if not missing:
        return
    venv_python = root / ".venv" / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == (root / ".venv").resolve()
    if venv_python.exists() and not in_venv and not os.environ.get("TRTSSD_NO_REEXEC"):
        os.environ["TRTSSD_NO_REEXEC"] = "1"
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    sys.stderr.write(
        f"trtssd: error: expected Python packages {', '.join(REQUIRED)}, found {', '.join(missing)} missing; "
        f"run 'make setup' in {root} (or pip install -e {root})\n"
    )
    raise SystemExit(1)
