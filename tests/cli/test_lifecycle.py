"""Fault probes on the entry scripts: signals at awkward moments end the run at once, in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
@pytest.mark.parametrize("delay", [0.05, 0.3, 0.8])
def test_sigint_during_startup_is_one_line_not_a_traceback(script, delay, tmp_path):
    """Ctrl-C while the script still imports its modules or parses flags. The delay only picks
    where the signal lands; the contract is the same wherever that is."""
    proc = subprocess.Popen([sys.executable, str(REPO / script), "--image", str(tmp_path / "none.jpg"), "--headless",
                             "--json", str(tmp_path / "o.jsonl")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)  # not synchronisation: samples a point of the start-up
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    # interrupted (130), or the run got far enough to report the missing image first (1)
    assert proc.returncode in (130, 1, -signal.SIGINT), (proc.returncode, err)
