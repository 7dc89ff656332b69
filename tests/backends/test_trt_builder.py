"""The TensorRT builder driven end to end against fake ``tensorrt`` modules with the Python API
surface of TensorRT 10.3 and 11.x (tests/backends/fake_tensorrt.py): what it sets, what it never
touches (the weak-typing API TensorRT 11 removed), caching and failures. The CUDA device queries
are the only other thing replaced (hardware boundary)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fake_tensorrt (helper module beside the tests)

import fake_tensorrt  # noqa: E402

from trtssd.backends import cuda_rt  # noqa: E402
from trtssd.backends import trt_engine as te  # noqa: E402
from trtssd.conversion.artifact import ArtifactInfo, write_info  # noqa: E402
from trtssd.conversion.engine_onnx import ensure_engine_onnx, read_precision  # noqa: E402
from trtssd.errors import BackendError, InputError  # noqa: E402
from trtssd.models.spec import BoxCoderSpec, PostprocessSpec  # noqa: E402
from trtssd.postprocess.nms import NmsParams  # noqa: E402

VERSIONS = ("10.3.0.26", "11.1.0.4")
GPU = "NVIDIA Jetson AGX Orin"
NMS = NmsParams(0.05, 0.6, 10, 10)


@pytest.fixture(autouse=True)
def _device(monkeypatch):
    monkeypatch.setattr(cuda_rt, "device_name", lambda device=None: GPU)
    monkeypatch.setattr(cuda_rt, "compute_capability", lambda device=None: (8, 7))


def _tiny_artifact(path: Path) -> ArtifactInfo:
    """A 1x1-conv 'SSD' on a 2x2 uint8 image: 4 anchors, 3 classes (incl. background)."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "scale"], ["xs"]),
        helper.make_node("Transpose", ["xs"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w_box", "b_box"], ["cb"]),
        helper.make_node("Conv", ["nchw", "w_cls", "b_cls"], ["cc"]),
        helper.make_node("Transpose", ["cb"], ["cb_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["cc"], ["cc_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["cb_t", "s_box"], ["box_encodings"]),
        helper.make_node("Reshape", ["cc_t", "s_cls"], ["class_scores"]),
    ]
    inits = [numpy_helper.from_array(np.float32(1 / 255), "scale"),
             numpy_helper.from_array(rng.normal(0, 0.1, (4, 3, 1, 1)).astype(np.float32), "w_box"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b_box"),
             numpy_helper.from_array(rng.normal(0, 1, (3, 3, 1, 1)).astype(np.float32), "w_cls"),
             numpy_helper.from_array(np.zeros(3, np.float32), "b_cls"),
             numpy_helper.from_array(np.array([0, 4, 4], np.int64), "s_box"),
             numpy_helper.from_array(np.array([0, 4, 3], np.int64), "s_cls")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 2, 2, 3])],
                              [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["batch", 4, 4]),
                               helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, ["batch", 4, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    anchors = np.array([[0.25, 0.25, 0.5, 0.5], [0.25, 0.75, 0.5, 0.5], [0.75, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]])
    info = ArtifactInfo(model_name="tiny", source_sha256="0" * 64, converter="test", input_size=(2, 2),
                        anchors_cyxhw=anchors.astype(np.float32), box_coder=BoxCoderSpec(), score_activation="sigmoid",
                        labels=("bg", "a", "b"), postprocess=PostprocessSpec(score_activation="sigmoid"))
    write_info(model, info)
    onnx.save(model, str(path))
    return info


@pytest.fixture
def engine_onnx(tmp_path, monkeypatch):
    """``precision -> engine-ready ONNX path`` of the tiny artifact (fp32 and fp16), in a fresh cache."""
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))
    artifact = tmp_path / "tiny.onnx"
    info = _tiny_artifact(artifact)
    return {p: ensure_engine_onnx(artifact, NMS, info, precision=p) for p in ("fp32", "fp16")}


@pytest.mark.parametrize("version", VERSIONS)
def test_fake_surface_matches_the_version(version):
    trt = fake_tensorrt.make(version)
    present = [name for name in fake_tensorrt.REMOVED_IN_11 if fake_tensorrt.has_name(trt, name)]
    assert present == ([] if version.startswith("11") else list(fake_tensorrt.REMOVED_IN_11))
    for name in ("NetworkDefinitionCreationFlag.STRONGLY_TYPED", "BuilderFlag.GPU_FALLBACK", "DeviceType.DLA",
                 "MemoryPoolType.WORKSPACE", "IBuilderConfig.create_timing_cache", "IBuilderConfig.set_timing_cache"):
        assert fake_tensorrt.has_name(trt, name), name
    config = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.raises(AttributeError):
        config.no_such_setting = 1  # pybind11 objects take no new attributes: a removed name fails loudly


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision,dla", [("fp32", None), ("fp16", None), ("fp16", 0)])
def test_build_is_strongly_typed_without_removed_api(engine_onnx, version, precision, dla):
    trt = fake_tensorrt.make(version, num_dla_cores=2)
    opts = te.BuildOptions(precision=precision, max_batch=4, workspace_mib=256, dla_core=dla)
    engine = te.ensure_engine(trt, engine_onnx[precision], "images", (2, 2), opts, log=lambda m: None)

    strongly_typed = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert trt.calls.args("builder.create_network") == [(strongly_typed,)]
    assert trt.calls.args("parser.parse_from_file") == [(str(engine_onnx[precision]),)]
    assert trt.calls.args("config.set_memory_pool_limit") == [(trt.MemoryPoolType.WORKSPACE, 256 << 20)]
    assert trt.calls.args("profile.set_shape") == [("images", (1, 2, 2, 3), (4, 2, 2, 3), (4, 2, 2, 3))]
    # The only builder flag ever set is DLA's GPU fallback; no precision flag, calibrator or platform query.
    assert trt.calls.args("config.set_flag") == ([(trt.BuilderFlag.GPU_FALLBACK,)] if dla is not None else [])
    if dla is not None:
        assert trt.calls.args("config.default_device_type") == [(trt.DeviceType.DLA,)]
        assert trt.calls.args("config.DLA_core") == [(0,)]
    touched = {n for n in trt.calls.names() if "calibra" in n or "platform_has" in n or "Int8" in n}
    assert touched == set()
    assert engine.read_bytes().startswith(f"fake-engine:{version}:".encode()) and trt.builds == 1
    side = json.loads(te.sidecar_path(engine).read_text())
    assert side["key"]["precision"] == precision and side["key"]["trt_version"] == version
    assert side["key"]["gpu_name"] == GPU and side["nms"]["max_total"] == 10


@pytest.mark.parametrize("version", VERSIONS)
def test_engine_cache_and_timing_cache(engine_onnx, version):
    trt = fake_tensorrt.make(version)
    opts = te.BuildOptions(precision="fp16")
    first = te.ensure_engine(trt, engine_onnx["fp16"], "images", (2, 2), opts, log=lambda m: None)
    timing = te.timing_cache_path(version, GPU)
    assert trt.calls.args("config.create_timing_cache") == [(b"",)]  # no cache yet
    assert timing.read_bytes().startswith(b"timing-cache/")
    assert te.ensure_engine(trt, engine_onnx["fp16"], "images", (2, 2), opts, log=lambda m: None) == first
    assert trt.builds == 1  # cached: keyed by this engine-ready ONNX
    saved = timing.read_bytes()
    other = te.ensure_engine(trt, engine_onnx["fp32"], "images", (2, 2), te.BuildOptions(precision="fp32"), log=lambda m: None)
    assert other != first and trt.builds == 2
    assert trt.calls.args("config.create_timing_cache")[-1] == (saved,)  # the saved timing cache is reused
    assert trt.calls.args("config.set_timing_cache")[-1][1] is False  # ignore_mismatch=False
    te.ensure_engine(trt, engine_onnx["fp16"], "images", (2, 2), opts, force=True, log=lambda m: None)
    assert trt.builds == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_engine_onnx_of_another_precision_is_rejected(engine_onnx, version):
    with pytest.raises(InputError, match="expected an engine-ready ONNX in fp16, found one in fp32"):
        te.ensure_engine(fake_tensorrt.make(version), engine_onnx["fp32"], "images", (2, 2), te.BuildOptions(precision="fp16"))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("setup,error", [
    (dict(parse_errors=("In node 7 (importNMS): UNSUPPORTED_NODE",)), "TensorRT ONNX parser: expected a parsable network, found errors: In node 7"),
    (dict(build_fails=True), "TensorRT build: expected a serialized engine, found none"),
    (dict(num_dla_cores=1), "DLA core: expected < 1"),
])
def test_build_failures_leave_no_engine(engine_onnx, version, setup, error):
    trt = fake_tensorrt.make(version, **setup)
    opts = te.BuildOptions(precision="fp16", dla_core=1 if "num_dla_cores" in setup else None)
    with pytest.raises(BackendError, match=error.replace("(", r"\(").replace(")", r"\)")):
        te.ensure_engine(trt, engine_onnx["fp16"], "images", (2, 2), opts, log=lambda m: None)
    assert not te.engines_dir().exists() or not list(te.engines_dir().glob("*.engine"))


def test_precision_needs_a_capable_gpu(engine_onnx, monkeypatch):
    monkeypatch.setattr(cuda_rt, "compute_capability", lambda device=None: (5, 2))
    with pytest.raises(BackendError, match=r"precision fp16: expected a GPU of compute capability >= 5.3, found .* \(5.2\)"):
        te.ensure_engine(fake_tensorrt.make("11.1.0.4"), engine_onnx["fp16"], "images", (2, 2), te.BuildOptions(precision="fp16"))


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_builds_int8_from_the_models_own_quantization(quant_artifact, shared_dir, monkeypatch, capsys, version):
    """``trtssd build MODEL --precision int8`` on the quantized model: Q/DQ engine-ready ONNX,
    then the (fake) TensorRT build, without calibration images."""
    from trtssd.cli.main import main
    trt = fake_tensorrt.make(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    rc = main(["build", "ssd_mobilenet_v1_coco_quant", "--model_dir", str(shared_dir / "models"), "--precision", "int8"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    onnx_path = Path(out[0].split(": ", 1)[1])
    assert read_precision(onnx_path) == "int8" and "tflite-qdq" in onnx_path.name
    model = onnx.load(str(onnx_path))
    assert {"QuantizeLinear", "DequantizeLinear", "NonMaxSuppression"} <= {n.op_type for n in model.graph.node}
    assert out[1].startswith("engine: ") and Path(out[1].split(": ", 1)[1]).read_bytes().startswith(b"fake-engine")
    assert trt.calls.args("config.set_flag") == [] and trt.builds == 1


REMOVED_ATTRS = {"FP16", "INT8", "BF16", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "int8_calibrator",
                 "IInt8EntropyCalibrator2", "IInt8Calibrator", "platform_has_fast_fp16", "platform_has_fast_int8",
                 "set_calibration_profile"}


def test_no_code_path_uses_the_api_tensorrt_11_removed():
    """Static complement of the fake-driven tests: no attribute access in the package (the
    backend's run path included) names the weak-typing API that TensorRT 11 removed."""
    import ast

    root = Path(te.__file__).resolve().parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in REMOVED_ATTRS:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} .{node.attr}")
    assert found == []


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_backend_end_to_end_matches_onnxruntime_nms(quant_artifact, shared_dir, monkeypatch, version, precision):
    """The tensorrt backend on the fake TensorRT: builds the engine from the precision's
    engine-ready ONNX, loads it, binds buffers, splits 5 images into batches of <= 2, and returns
    what ONNX Runtime returns for that same graph."""
    import cv2

    from trtssd.backends import tensorrt as trt_backend
    from trtssd.backends.final import final_to_detections
    from trtssd.conversion.engine_onnx import OUTPUT_NAMES
    from trtssd.detector import preprocess

    trt = fake_tensorrt.make(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    fake_tensorrt.FakeCuda.install(monkeypatch, cuda_rt, GPU, (8, 7))
    artifact, info = quant_artifact
    monkeypatch.setenv("TRTSSD_MODEL_DIR", str(shared_dir / "models"))  # where int8 finds the quantized source
    frames = [cv2.imread(str(p)) for p in sorted((shared_dir / "data/coco_val2017_subset158/val2017").glob("*.jpg"))[:5]]
    images, sizes = preprocess(frames, info.input_size), [(f.shape[1], f.shape[0]) for f in frames]
    nms = NmsParams(0.3, 0.6, 100, 100)
    with trt_backend.TensorRTBackend(artifact, info, nms=nms, precision=precision, max_batch=2, log=lambda m: None) as backend:
        got = backend.detect(frames)
        onnx_path = Path(json.loads(te.sidecar_path(backend.engine_path).read_text())["onnx"])
    assert read_precision(onnx_path) == precision
    shapes = trt.calls.args("context.set_input_shape")
    assert [(name, shape[0]) for name, shape in shapes] == [("images", 2), ("images", 2), ("images", 1)]  # <= max_batch
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    want = final_to_detections(sess.run(list(OUTPUT_NAMES), {"images": images}), sizes, info.labels, nms.score_threshold)
    assert sum(len(w.class_id) for w in want) > 0
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.class_id, w.class_id)
        np.testing.assert_array_equal(g.confidence, w.confidence)
        np.testing.assert_array_equal(g.xyxy, w.xyxy)
    assert trt.builds == 1 and trt.calls.args("config.set_flag") == []

