"""Precision variants of the engine-ready ONNX: the int8 rewrite of a uint8 Q/DQ network, fp16
conversion, post-training quantization, caching, and the accuracy of each precision on the COCO
subset in ONNX Runtime (the acceptance numbers of docs/tensorrt.md)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtssd.backends.final import default_nms, final_to_detections
from trtssd.conversion import precision as prec
from trtssd.conversion.calibration import CalibrationData
from trtssd.conversion.engine_onnx import (OUTPUT_NAMES, ensure_engine_onnx, nms_candidates, read_nms,
                                           read_precision)
from trtssd.detector import preprocess
from trtssd.errors import InputError
from trtssd.postprocess.nms import NmsParams

MAP_NMS = NmsParams(0.05, 0.6, 100, 100)  # score 0.05, 100 detections: the accuracy checks' settings


# ---- pure functions -----------------------------------------------------------------------------

@pytest.mark.parametrize("lo,hi,scale", [
    (-1.0, 127 / 128, 1 / 128),        # uint8 zero point 128, scale 1/128: exact in int8
    (0.0, 6.0, 6.0 / 127),             # ReLU6 range (uint8 zero point 0): 127 positive codes
    (-3.0, 1.0, 3.0 / 128),
    (0.0, 0.0, 1.0),                   # degenerate range: any positive scale
])
def test_symmetric_scale_covers_range(lo, hi, scale):
    s = prec.symmetric_scale(lo, hi)
    assert s == pytest.approx(scale)
    assert -128 * s <= lo + 1e-9 and 127 * s >= hi - 1e-9


@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (16, 1, 3, 3), (4, 2)])
def test_per_channel_int8_round_trip(shape):
    w = np.random.default_rng(0).normal(0, 0.3, shape).astype(np.float32)
    w[0] = 0  # an all-zero channel keeps a usable scale
    q, s = prec.per_channel_int8(w)
    assert q.dtype == np.int8 and s.shape == (shape[0],) and np.abs(q).max() <= 127
    back = q.astype(np.float32) * s.reshape((-1,) + (1,) * (len(shape) - 1))
    assert np.all(np.abs(back - w) <= s.reshape((-1,) + (1,) * (len(shape) - 1)) / 2 + 1e-7)


# ---- the int8 rewrite on a small uint8 Q/DQ network (tf2onnx's layout) -------------------------

def _uint8_qdq_net(path: Path) -> None:
    """images uint8 -> Transpose -> DQ(1/128, 128) -> Conv(uint8 weights, int32 bias) -> Q(uint8, zp 0:
    the saturation is the fused ReLU6) -> DQ -> Reshape -> outputs."""
    rng = np.random.default_rng(1)
    w_q = rng.integers(0, 256, (4, 3, 1, 1), dtype=np.uint8)
    b_q = rng.integers(-500, 500, 4).astype(np.int32)
    i = numpy_helper.from_array
    inits = [i(np.float32(1 / 128), "in_s"), i(np.uint8(128), "in_z"),
             i(w_q, "w_q"), i(np.float32(0.02), "w_s"), i(np.uint8(120), "w_z"),
             i(b_q, "b_q"), i(np.float32(0.02 / 128), "b_s"), i(np.int32(0), "b_z"),
             i(np.float32(6 / 255), "a_s"), i(np.uint8(0), "a_z"),
             i(np.array([0, 4, 4], np.int64), "s4")]
    nodes = [
        helper.make_node("Transpose", ["images"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("DequantizeLinear", ["t", "in_s", "in_z"], ["x"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"]),
        helper.make_node("DequantizeLinear", ["b_q", "b_s", "b_z"], ["b"]),
        helper.make_node("Conv", ["x", "w", "b"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "a_s", "a_z"], ["yq"]),
        helper.make_node("Reshape", ["yq", "s4"], ["yq_r"]),  # quantized values moved, then dequantized
        helper.make_node("DequantizeLinear", ["yq_r", "a_s", "a_z"], ["box_encodings"]),
        helper.make_node("Identity", ["box_encodings"], ["class_scores"]),
    ]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 2, 2, 3])],
                              [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["batch", 4, 4]),
                               helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, ["batch", 4, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def test_qdq_to_int8_symmetric(tmp_path):
    _uint8_qdq_net(tmp_path / "u8.onnx")
    model = prec.qdq_to_int8_symmetric(onnx.load(str(tmp_path / "u8.onnx")))
    onnx.checker.check_model(model, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            assert inits[n.input[2]].dtype == np.int8 and not inits[n.input[2]].any()  # int8, zero point 0
    assert not any(t.dtype in (np.uint8, np.int32) for t in inits.values())  # int32 bias folded to float
    assert model.graph.node[0].op_type == "Cast" and model.graph.node[0].input[0] == "images"  # uint8 only at the input
    assert "Clip" in {n.op_type for n in model.graph.node}  # the uint8 saturation (ReLU6) is kept
    x = np.random.default_rng(2).integers(0, 256, (3, 2, 2, 3), dtype=np.uint8)
    want = ort.InferenceSession(str(tmp_path / "u8.onnx"), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    assert got.min() >= 0 and got.max() <= 6.0 + 1e-6  # same range as the uint8 activation
    # Activation codes go from 255 to 127 steps over [0, 6] and weights are re-quantized: within a few steps.
    assert np.abs(got - want).max() <= 4 * 6 / 127


def test_fp16_keeps_io_types_and_normalisation():
    from onnx import numpy_helper as nh

    nodes = [helper.make_node("Cast", ["images"], ["x"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "k"], ["xs"], name="norm"),
             helper.make_node("Transpose", ["xs"], ["t"], perm=[0, 3, 1, 2], name="tr"),
             helper.make_node("Conv", ["t", "w"], ["y"], name="conv"),
             helper.make_node("Reshape", ["y", "s4"], ["box_encodings"], name="r1"),
             helper.make_node("Reshape", ["y", "s4"], ["y2"], name="r2"),
             helper.make_node("Sigmoid", ["y2"], ["class_scores"], name="sig")]
    inits = [nh.from_array(np.float32(1 / 255), "k"), nh.from_array(np.ones((4, 3, 1, 1), np.float32), "w"),
             nh.from_array(np.array([0, 4, 4], np.int64), "s4")]
    graph = helper.make_graph(nodes, "f", [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 2, 2, 3])],
                              [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["batch", 4, 4]),
                               helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, ["batch", 4, 4])], inits)
    model = prec.to_fp16(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8))
    onnx.checker.check_model(model, full_check=True)
    assert prec.input_normalization_nodes(model)[:2] == ["cast", "norm"]
    types = {o.name: o.type.tensor_type.elem_type for o in [*model.graph.input, *model.graph.output]}
    assert types == {"images": TensorProto.UINT8, "box_encodings": TensorProto.FLOAT, "class_scores": TensorProto.FLOAT}
    conv_w = next(t for t in model.graph.initializer if t.name == "w")
    assert conv_w.data_type == TensorProto.FLOAT16
    x = np.full((1, 2, 2, 3), 255, np.uint8)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    np.testing.assert_allclose(out, 3.0, rtol=1e-3)


def test_int8_of_a_float_model_needs_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends"))
    from test_trt_builder import _tiny_artifact

    info = _tiny_artifact(tmp_path / "tiny.onnx")
    with pytest.raises(InputError, match="precision int8: model 'tiny' has no quantization of its own; expected --calib_dir"):
        ensure_engine_onnx(tmp_path / "tiny.onnx", MAP_NMS, info, precision="int8")
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for k in range(8):
        cv2.imwrite(str(calib / f"{k}.png"), rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    path = ensure_engine_onnx(tmp_path / "tiny.onnx", MAP_NMS, info, precision="int8",
                              calib=CalibrationData(calib, (2, 2), 4))
    assert read_precision(path) == "int8" and read_nms(path) == MAP_NMS
    model = onnx.load(str(path))
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert q and all(inits[n.input[2]].dtype == np.int8 for n in q)  # symmetric int8, as TensorRT wants
    ptq = list((tmp_path / "cache" / "precision").glob("tiny-ptq*.onnx"))
    assert len(ptq) == 1  # cached by model and image set
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": np.zeros((2, 2, 2, 3), np.uint8)})


@pytest.mark.parametrize("cc,expected", [(None, 3840), ((8, 7), 3840), ((5, 3), 2000), ((6, 2), 2000), ((9, 0), 3840)])
def test_nms_candidates_within_tensorrt_limits(cc, expected):
    assert nms_candidates(cc) == expected


# ---- the real model: each precision's graph on the COCO subset ---------------------------------

def _map_of(path: Path, info, shared: Path) -> float:
    from trtssd.evaluation.coco import evaluate

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def detect_batch(frames):
        outs = sess.run(list(OUTPUT_NAMES), {"images": preprocess(frames, info.input_size)})
        return final_to_detections(outs, [(f.shape[1], f.shape[0]) for f in frames], info.labels, MAP_NMS.score_threshold)

    root = shared / "data" / "coco_val2017_subset158"
    return evaluate(detect_batch, root / "val2017", root / "instances_val2017_subset158.json", progress=False).map


def _video_frames(shared: Path, dst: Path, per_video: int = 32) -> Path:
    """Calibration images that are not evaluation images: frames of the two shared videos."""
    dst.mkdir(parents=True, exist_ok=True)
    for video in sorted((shared / "media").glob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for i in range(0, n, max(1, n // per_video))[:per_video]:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, frame = cap.read()
            if ok:
                cv2.imwrite(str(dst / f"{video.stem}-{i:05d}.jpg"), frame)
        cap.release()
    return dst


@pytest.mark.slow
def test_precisions_on_coco_subset(quant_artifact, shared_dir, tmp_path, capsys):
    """Acceptance (ONNX Runtime, CPU): int8 from the model's own quantization within 0.01 mAP of
    fp32 (0.2095), fp16 within 0.005, post-training int8 of the float network within 0.02."""
    artifact, info = quant_artifact
    model_dir = shared_dir / "models"
    paths = {p: ensure_engine_onnx(artifact, MAP_NMS, info, precision=p, model_dir=model_dir) for p in ("fp32", "fp16", "int8")}
    calib = CalibrationData(_video_frames(shared_dir, tmp_path / "calib"), info.input_size, 8)
    paths["int8-ptq"] = ensure_engine_onnx(artifact, MAP_NMS, info, precision="int8", calib=calib)
    assert "tflite-qdq" in paths["int8"].name and "-ptq" in paths["int8-ptq"].name
    maps = {k: _map_of(p, info, shared_dir) for k, p in paths.items()}
    with capsys.disabled():
        print("\nmAP@[.5:.95] (ORT CPU, 158 images, score 0.05, 100 det): "
              + ", ".join(f"{k} {v:.4f}" for k, v in maps.items()))
    assert maps["fp32"] == pytest.approx(0.2095, abs=0.0005)
    assert abs(maps["fp16"] - maps["fp32"]) <= 0.005
    assert abs(maps["int8"] - maps["fp32"]) <= 0.01
    assert abs(maps["int8-ptq"] - maps["fp32"]) <= 0.02
    # Every precision keeps decoding, activation and NMS in float32 and the I/O types.
    for p in paths.values():
        m = onnx.load(str(p))
        assert m.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
        assert [o.type.tensor_type.elem_type for o in m.graph.output] == [TensorProto.INT32, TensorProto.FLOAT,
                                                                          TensorProto.FLOAT, TensorProto.INT32]
        inferred = onnx.shape_inference.infer_shapes(m)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
        nms_node = next(n for n in m.graph.node if n.op_type == "NonMaxSuppression")
        assert types[nms_node.input[0]] == types[nms_node.input[1]] == TensorProto.FLOAT


def test_int8_names_a_missing_quantized_source(quant_artifact, tmp_path, monkeypatch):
    """A TFLite-converted artifact whose source is not here: one line saying what to pass."""
    from dataclasses import replace

    artifact, info = quant_artifact
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "empty-cache"))  # no cached Q/DQ artifact
    other = replace(info, model_name="not_registered_model")
    with pytest.raises(InputError, match=r"expected the TFLite source of model 'not_registered_model' .* --model_dir"):
        ensure_engine_onnx(artifact, MAP_NMS, other, precision="int8")
