"""TFLite SSD -> artifact conversion: graph contract, metadata, dynamic batch, caching, errors."""

from __future__ import annotations

import os

import cv2
import numpy as np
import onnx
import pytest

from trtssd.conversion.api import ensure_artifact
from trtssd.conversion.artifact import BOXES_NAME, INPUT_NAME, SCORES_NAME, ArtifactInfo, read_info
from trtssd.conversion.tflite import inspect_tflite
from trtssd.errors import ModelFormatError


def test_inspect_reads_the_postprocess_op(shared_dir):
    info = inspect_tflite(shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite")
    assert info.input_shape == (1, 300, 300, 3) and info.input_dtype == np.uint8
    assert info.anchors_cyxhw.shape == (1917, 4)
    o = info.options
    assert (o["y_scale"], o["x_scale"], o["h_scale"], o["w_scale"]) == (10.0, 10.0, 5.0, 5.0)
    assert o["num_classes"] == 90 and o["max_detections"] == 10


def test_artifact_graph_contract(quant_artifact):
    path, info = quant_artifact
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    (inp,) = model.graph.input
    assert inp.name == INPUT_NAME and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 300, 300, 3]
    assert [o.name for o in model.graph.output] == [BOXES_NAME, SCORES_NAME]
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "NonMaxSuppression") for n in model.graph.node)
    assert info.score_activation == "none" and info.num_classes == 91 and info.labels[18] == "dog"


def test_metadata_roundtrip(quant_artifact):
    info = quant_artifact[1]
    again = ArtifactInfo.from_json(info.to_json())
    np.testing.assert_array_equal(again.anchors_cyxhw, info.anchors_cyxhw)
    assert again.box_coder == info.box_coder and again.labels == info.labels and again.postprocess == info.postprocess


def test_dynamic_batch_equals_single_images(cpu_detector, shared_dir):
    from trtssd.detector import preprocess

    images = [cv2.imread(str(shared_dir / "media" / n)) for n in ("tensorrt_demos_huskies.png", "tensorrt_demos_dog.jpg")]
    x = preprocess(images * 2, (300, 300))
    boxes, scores = cpu_detector.backend.infer(x)
    assert boxes.shape == (4, 1917, 4) and scores.shape == (4, 1917, 91)
    for i in range(4):
        b1, s1 = cpu_detector.backend.infer(x[i:i + 1])
        np.testing.assert_allclose(boxes[i:i + 1], b1, atol=1e-4)
        np.testing.assert_allclose(scores[i:i + 1], s1, atol=1e-5)


def test_cached_artifact_is_reused(quant_artifact, shared_dir):
    path, _ = quant_artifact
    mtime = os.stat(path).st_mtime_ns
    again, _ = ensure_artifact("ssd_mobilenet_v1_coco_quant", shared_dir / "models", log=pytest.fail)
    assert again == path and os.stat(path).st_mtime_ns == mtime


def test_artifact_path_is_accepted_as_model(quant_artifact):
    path, info = quant_artifact
    again_path, again = ensure_artifact(str(path))
    assert again_path == path and again.source_sha256 == info.source_sha256


@pytest.mark.parametrize("make", ["plain_onnx", "garbage_onnx"])
def test_non_artifact_onnx_is_rejected(tmp_path, make):
    p = tmp_path / "m.onnx"
    if make == "plain_onnx":
        x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
        y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
        g = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
        onnx.save(onnx.helper.make_model(g), str(p))
    else:
        p.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelFormatError, match="expected"):
        read_info(p)


def test_tflite_without_ssd_postprocess_is_rejected(tmp_path):
    """A real TFLite file that is not an SSD export (built here with TF) -> clear error."""
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def f(x):
        return tf.nn.relu(x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    p = tmp_path / "relu.tflite"
    p.write_bytes(converter.convert())
    with pytest.raises(ModelFormatError, match="TFLite_Detection_PostProcess"):
        inspect_tflite(p)
