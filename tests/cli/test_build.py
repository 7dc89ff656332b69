"""``ssd/build_engine.py`` / ``trtssd build`` on a machine without TensorRT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from trtssd.backends.tensorrt import is_available
from trtssd.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(is_available(), reason="TensorRT is installed here")
@pytest.mark.parametrize("precision", [None, "fp32", "int8"])
def test_build_engine_script_without_tensorrt(quant_artifact, isolated_cache, shared_dir, tmp_path, precision):
    cache = isolated_cache  # the session's converted artifact is reused
    env = {**os.environ, "TRTSSD_CACHE_DIR": str(cache)}
    flags = ["--model_dir", str(shared_dir / "models")] + (["--precision", precision] if precision else [])
    proc = subprocess.run([sys.executable, str(REPO / "ssd" / "build_engine.py"), "ssd_mobilenet_v1_coco_quant", *flags],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("engine-ready ONNX: ")]
    assert len(lines) == 1
    onnx_path = Path(lines[0].split(": ", 1)[1])
    assert onnx_path.is_file() and str(onnx_path).startswith(str(cache))
    onnx.checker.check_model(onnx.load(str(onnx_path)), full_check=True)
    from trtssd.conversion.engine_onnx import read_precision

    assert read_precision(onnx_path) == (precision or "fp16")  # fp16 is the default
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("trtssd: error:")]
    assert proc.stderr.strip().splitlines()[-1] == errors[0]  # the one error line ends the output
    assert len(errors) == 1 and "TensorRT is not installed" in errors[0] and "pip install" in errors[0]


@pytest.mark.slow
def test_build_onnx_only_copies_output(quant_artifact, tmp_path, capsys):
    out = tmp_path / "ssd_nms.onnx"
    rc = main(["build", "ssd_mobilenet_v1_coco_quant", "--onnx_only", "--conf_th", "0.2", "--iou_th", "0.5",
               "--max_det", "20", "-o", str(out)])
    assert rc == 0
    assert capsys.readouterr().out.strip() == f"engine-ready ONNX: {out}"
    from trtssd.conversion.engine_onnx import read_nms

    nms = read_nms(out)
    assert (nms.score_threshold, nms.iou_threshold, nms.max_per_class, nms.max_total) == (0.2, 0.5, 20, 20)


@pytest.mark.parametrize("flags,message", [
    (["--precision", "fp32", "--dla", "0"], "DLA: expected precision fp16 or int8"),
    (["--max_batch", "0"], "max batch: expected >= 1, found 0"),
    (["--workspace", "0"], "workspace: expected >= 1 MiB"),
    (["--precision", "fp16", "--calib_dir", "imgs"], "calibration images: expected precision int8"),
])
def test_build_rejects_bad_flags_before_converting(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path))
    assert main(["build", "no_such_model", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("trtssd: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "artifacts").exists()


def test_build_rejects_unknown_precision(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["build", "m", "--precision", "int4"])
    assert exc.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_build_int8_of_a_float_model_needs_calib_dir(tmp_path, monkeypatch, capsys):
    """A float model has no quantization of its own: int8 without --calib_dir is one clear error."""
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))
    sys.path.insert(0, str(REPO / "tests" / "backends"))
    from test_trt_builder import _tiny_artifact

    _tiny_artifact(tmp_path / "tiny.onnx")
    assert main(["build", str(tmp_path / "tiny.onnx"), "--precision", "int8"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err == ("trtssd: error: precision int8: model 'tiny' has no quantization of its own; expected --calib_dir "
                   "with calibration images (post-training quantization), found none")
    assert "engine-ready ONNX" not in captured.out
