"""OpenVINO backend: FP32 parity with ONNX Runtime, the INT8 variant (the model's own QAT
quantization) against the float artifact and its COCO mAP, and ``--backend auto``'s choice."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("openvino")

from trtssd.backends import base  # noqa: E402
from trtssd.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from trtssd.backends.openvino import OpenVinoBackend, is_available  # noqa: E402
from trtssd.conversion.artifact import int8_variant_path  # noqa: E402
from trtssd.detector import preprocess  # noqa: E402
from trtssd.errors import BackendError  # noqa: E402

TFLITE_REFERENCE_MAP = 0.188  # ai-edge-litert on the COCO subset (../shared/SOURCES.md)


@pytest.fixture(scope="module")
def images(shared_dir):
    paths = sorted((shared_dir / "data" / "coco_val2017_subset158" / "val2017").glob("*.jpg"))[:8]
    return preprocess([cv2.imread(str(p)) for p in paths], (300, 300))


@pytest.fixture(scope="module")
def float_outputs(quant_artifact, images):
    return OnnxRuntimeBackend(*quant_artifact).infer(images)


def test_converter_writes_the_int8_variant(quant_artifact):
    import onnx

    path = int8_variant_path(quant_artifact[0])
    model = onnx.load(str(path))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    weights = {i.name: i for i in model.graph.initializer}
    conv_w = [weights[n.input[0]] for n in model.graph.node
              if n.op_type == "DequantizeLinear" and n.input[0] in weights and len(weights[n.input[0]].dims) == 4]
    assert len(conv_w) >= 40 and all(w.data_type == onnx.TensorProto.INT8 for w in conv_w)


@pytest.mark.slow
def test_fp32_matches_onnxruntime(quant_artifact, images, float_outputs):
    with OpenVinoBackend(*quant_artifact, precision="fp32") as ov:
        boxes, scores = ov.infer(images)
        assert ov.precision == "fp32"
    np.testing.assert_allclose(boxes, float_outputs[0], atol=1e-3)
    np.testing.assert_allclose(scores, float_outputs[1], atol=1e-4)


@pytest.mark.slow
def test_int8_close_to_float_and_batch_independent(quant_artifact, images, float_outputs):
    """The stated tolerances of the TFLite parity test (uint8 model vs float artifact)."""
    with OpenVinoBackend(*quant_artifact) as ov:
        assert ov.precision == "int8"
        boxes, scores = ov.infer(images)
        one = ov.infer(images[3:4])
    ds, db = np.abs(scores - float_outputs[1]), np.abs(boxes - float_outputs[0])
    assert ds.mean() <= 0.003 and ds.max() <= 0.12
    assert db.mean() <= 0.06 and db.max() <= 1.5
    np.testing.assert_allclose(one[1], scores[3:4], atol=1e-6)


@pytest.mark.slow
def test_int8_coco_map_reaches_the_tflite_reference(quant_artifact, shared_dir):
    from trtssd.detector import Detector
    from trtssd.evaluation.coco import evaluate

    d = shared_dir / "data" / "coco_val2017_subset158"
    with Detector(str(quant_artifact[0]), "openvino", conf_th=0.01, max_det=100) as det:
        assert det.backend.precision == "int8"
        result = evaluate(det.detect_batch, d / "val2017", d / "instances_val2017_subset158.json", progress=False)
    assert result.map >= TFLITE_REFERENCE_MAP


def test_precision_errors(quant_artifact, tmp_path):
    with pytest.raises(BackendError, match="expected one of auto, int8, fp32"):
        OpenVinoBackend(*quant_artifact, precision="fp16")
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(quant_artifact[0].read_bytes())
    with pytest.raises(BackendError, match="expected the INT8 variant"):
        OpenVinoBackend(lone, quant_artifact[1], precision="int8")
    with OpenVinoBackend(lone, quant_artifact[1]) as ov:  # auto without a variant: FP32
        assert ov.precision == "fp32"


def test_bad_input_shape(quant_artifact):
    with OpenVinoBackend(*quant_artifact) as ov, pytest.raises(ValueError, match=r"expected uint8 \[N, 300, 300, 3\]"):
        ov.infer(np.zeros((1, 200, 300, 3), np.uint8))


@pytest.mark.parametrize("present, expected", [
    ({"tensorrt": True, "torch": True, "openvino": True}, "tensorrt"),
    ({"tensorrt": False, "torch": True, "openvino": True}, "torch"),
    ({"tensorrt": False, "torch": False, "openvino": True}, "openvino"),
    ({"tensorrt": False, "torch": False, "openvino": False}, "onnxruntime"),
])
def test_auto_order(monkeypatch, present, expected):
    """Each candidate's module decides through its ``is_available()`` (the modules import without
    their packages)."""
    import importlib

    for name, ok in present.items():
        monkeypatch.setattr(importlib.import_module(base._BACKENDS[name][0]), "is_available", lambda ok=ok: ok)
    assert base.resolve_backend_name("auto") == expected


@pytest.mark.parametrize("machine, expected", [("x86_64", True), ("AMD64", True), ("aarch64", False), ("arm64", False)])
def test_openvino_only_auto_on_x86(monkeypatch, machine, expected):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert is_available() is expected
