"""Fault probes on the entry scripts: signals at awkward moments end the run at once, in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigint_during_first_use_conversion_exits_130_and_names_the_loading_thread(shared_dir, tmp_path):
    """The conversion runs in the inference thread and cannot be interrupted: the run stops at
    once anyway (it used to wait 5 s for that thread), says so, and leaves no output file behind
    half-written (the JSON lines sink has no line to write)."""
    env = {**os.environ, "TRTSSD_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "trt_ssd_async.py"), "-m", "ssd_mobilenet_v1_coco_quant", "--model_dir",
         str(shared_dir / "models"), "--video", str(shared_dir / "media" / "car-detection.mp4"), "--headless",
         "--json", str(tmp_path / "o.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        for line in proc.stderr:  # synchronise on the program's own output, not on time
            seen.append(line)
            if "converting" in line:
                break
        assert seen and "converting" in seen[-1], "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "stopped by signal" in out and "trtssd-infer-0 (loading the model)" in out, out


@pytest.mark.parametrize("script", ["trt_ssd.py", "trt_ssd_async.py"])
@pytest.mark.parametrize("after_import", ["trtssd.cli.common", "numpy", "cv2"])
def test_sigint_during_startup_is_one_line_not_a_traceback(script, after_import, tmp_path):
    """Ctrl-C while the script still imports its modules or parses flags. ``-X importtime`` reports
    each import as it completes, so the signal is sent right after ``after_import`` finished:
    during the imports that follow it, not during the interpreter's own start-up."""
    proc = subprocess.Popen([sys.executable, "-X", "importtime", str(REPO / script), "--image", str(tmp_path / "none.jpg"),
                             "--headless", "--json", str(tmp_path / "o.jsonl")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = False
        for line in proc.stderr:  # synchronise on the interpreter's own report
            if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == after_import:
                seen = True
                break
        assert seen, f"{after_import} was never imported"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err = "\n".join(x for x in err.splitlines() if not x.startswith("import time:"))
    assert "Traceback" not in err, err
    # interrupted (130), or the run got far enough to report the missing image first (1)
    assert proc.returncode in (130, 1), (proc.returncode, err)
