"""The entry scripts run from a plain interpreter: lacking the dependencies, they re-execute
themselves with the checkout's ``.venv`` (what ``make setup`` created)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["trt_ssd.py", "trt_ssd_async.py", "eval_ssd.py", "ssd/build_engine.py"]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """An interpreter with none of trtssd's dependencies (a fresh venv without pip)."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout (make setup)")
    d = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False).create(d)
    python = d / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy"], capture_output=True)
    assert probe.returncode != 0, "the bare interpreter unexpectedly has numpy"
    return python


@pytest.mark.parametrize("script", SCRIPTS)
def test_entry_script_finds_the_checkout_venv(script, bare_python):
    r = subprocess.run([str(bare_python), str(REPO / script), "--help"], capture_output=True, text=True, timeout=120,
                       cwd="/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:"), r.stdout
    assert "Traceback" not in r.stderr
