"""TensorRT backend: behaviour without TensorRT (this project's CI), the version gate, and a GPU
test that builds and runs a real engine (skipped where TensorRT/CUDA are absent)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from trtssd.backends import tensorrt as trt_backend
from trtssd.backends.base import create_backend, resolve_backend_name
from trtssd.conversion.artifact import ArtifactInfo
from trtssd.errors import BackendError
from trtssd.models.spec import BoxCoderSpec, PostprocessSpec

INFO = ArtifactInfo(model_name="m", source_sha256="0" * 64, converter="t", input_size=(300, 300),
                    anchors_cyxhw=np.zeros((4, 4), np.float32), box_coder=BoxCoderSpec(), score_activation="none",
                    labels=("bg", "a"), postprocess=PostprocessSpec())


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # ``import tensorrt`` raises ImportError


def _fake_tensorrt(monkeypatch, version: str) -> types.ModuleType:
    module = types.ModuleType("tensorrt")
    module.__version__ = version
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


def test_is_available_false_without_tensorrt(no_tensorrt):
    assert trt_backend.is_available() is False


def test_is_available_needs_cuda_python(monkeypatch):
    _fake_tensorrt(monkeypatch, "10.13.0.35")
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    assert trt_backend.is_available() is False


def test_auto_falls_back_without_tensorrt(no_tensorrt):
    assert resolve_backend_name("auto") != "tensorrt"


@pytest.mark.parametrize("make", [
    lambda: trt_backend.import_tensorrt(),
    lambda: create_backend("tensorrt", Path("x.onnx"), INFO),
    lambda: trt_backend.TensorRTBackend(Path("x.onnx"), INFO, precision="fp32"),
])
def test_clear_error_without_tensorrt(no_tensorrt, make):
    with pytest.raises(BackendError) as exc:
        make()
    msg = str(exc.value)
    assert msg.startswith("TensorRT is not installed") and "\n" not in msg
    assert "pip install" in msg and "JetPack" in msg


@pytest.mark.parametrize("version,ok", [("8.6.1", False), ("9.3.0.1", False), ("10.0.1.6", False), ("10.3.0.26", True),
                                        ("10.13.0.35", True), ("11.4.0.9", True)])
def test_version_gate(monkeypatch, version, ok):
    module = _fake_tensorrt(monkeypatch, version)
    if ok:
        assert trt_backend.import_tensorrt() is module
    else:
        with pytest.raises(BackendError, match=f"TensorRT: expected version >= 10.3, found {version}"):
            trt_backend.import_tensorrt()


def test_invalid_options_rejected_before_tensorrt_import(no_tensorrt):
    with pytest.raises(ValueError, match="precision: expected one of"):
        trt_backend.TensorRTBackend(Path("x.onnx"), INFO, precision="int4")


# ---- real TensorRT on a GPU (never runs in CI) ------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime_nms(tmp_path, monkeypatch, precision):
    if not trt_backend.is_available():
        pytest.skip("TensorRT is not installed")
    try:
        from trtssd.backends import cuda_rt

        cuda_rt.device_name()
    except Exception as exc:  # no cuda-python / driver / device
        pytest.skip(f"no CUDA device: {exc}")
    import cv2

    from trtssd.backends.onnxruntime_nms import OnnxRuntimeNmsBackend
    from trtssd.conversion.api import ensure_artifact
    from trtssd.detector import preprocess
    from trtssd.postprocess.nms import NmsParams

    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path))
    shared = Path(os.environ.get("TRTSSD_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
    artifact, info = ensure_artifact("ssd_mobilenet_v1_coco_quant")
    frames = [cv2.imread(str(p)) for p in sorted((shared / "data/coco_val2017_subset158/val2017").glob("*.jpg"))[:4]]
    images, sizes = preprocess(frames, info.input_size), [(f.shape[1], f.shape[0]) for f in frames]
    nms = NmsParams(0.3, 0.6, 100, 100)
    with OnnxRuntimeNmsBackend(artifact, info, nms=nms) as ref_backend:
        ref = ref_backend.detect_images(images, sizes)
    with trt_backend.TensorRTBackend(artifact, info, nms=nms, precision=precision, max_batch=2) as backend:
        got = backend.detect(frames)  # 4 images, max batch 2: two engine calls
        assert backend.engine_path is not None and backend.engine_path.exists()
    for g, r in zip(got, ref):
        common = min(len(g.class_id), len(r.class_id))
        assert abs(len(g.class_id) - len(r.class_id)) <= 2
        assert np.mean(g.class_id[:common] == r.class_id[:common]) >= 0.8
