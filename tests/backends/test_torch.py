"""Torch backend: native module parity with ONNX Runtime (CPU, fp32, runs in CI), torch
postprocessing vs the numpy reference, and FP16 CUDA parity (marked gpu, skipped without CUDA)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trtssd.backends.torch import TorchBackend, is_available  # noqa: E402
from trtssd.errors import BackendError  # noqa: E402
from trtssd.models.spec import BoxCoderSpec  # noqa: E402
from trtssd.postprocess import torch_ops  # noqa: E402
from trtssd.postprocess.coder import decode_boxes  # noqa: E402
from trtssd.postprocess.nms import NmsParams, multiclass_nms  # noqa: E402

CUDA = torch.cuda.is_available()


def _video_frames(shared_dir, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(shared_dir / "media" / "car-detection.mp4"))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


@pytest.fixture(scope="module")
def torch_cpu(quant_artifact):
    path, info = quant_artifact
    with TorchBackend(path, info, device="cpu") as tb:
        yield tb


@pytest.mark.slow
@pytest.mark.parametrize("inputs", ["random", "video"])
def test_fp32_cpu_raw_outputs_match_onnxruntime(inputs, torch_cpu, cpu_detector, shared_dir):
    """Stated tolerance (fp32 CPU): |boxes| within 1e-3, |scores| within 1e-4 of ONNX Runtime."""
    from trtssd.detector import preprocess

    if inputs == "random":
        x = np.random.default_rng(3).integers(0, 256, size=(2, 300, 300, 3), dtype=np.uint8)
    else:
        x = preprocess(_video_frames(shared_dir, 2), (300, 300))
    b0, s0 = cpu_detector.backend.infer(x)
    b1, s1 = torch_cpu.infer(x)
    assert b1.shape == b0.shape and s1.shape == s0.shape and b1.dtype == np.float32
    np.testing.assert_allclose(b1, b0, atol=1e-3, rtol=0)
    np.testing.assert_allclose(s1, s0, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_device_path_on_cpu_equals_detector(quant_artifact, cpu_detector, shared_dir):
    """The torch resize/decode/NMS path (run on the CPU here) against the numpy reference.
    300x300 frames need no resize, so the torch path sees the reference's exact input."""
    frames = [cv2.resize(f, (300, 300)) for f in _video_frames(shared_dir, 2)]
    frames.append(cv2.resize(cv2.imread(str(shared_dir / "media" / "tensorrt_demos_huskies.png")), (300, 300)))
    ref = cpu_detector.detect_batch(frames)
    with TorchBackend(*quant_artifact, nms=cpu_detector.nms, device="cpu", device_path=True) as tb:
        got = tb.detect(frames)
        got_a = tb.detect(np.stack(frames))  # one [N, H, W, 3] array
        got_t = tb.detect(torch.from_numpy(np.stack(frames)))  # a tensor on the backend's device
    for a, t, g in zip(got_a, got_t, got):
        np.testing.assert_array_equal(a.xyxy, g.xyxy)
        np.testing.assert_array_equal(t.xyxy, g.xyxy)
    assert sum(len(r) for r in ref) > 0
    for r, g in zip(ref, got):
        assert np.array_equal(r.class_id, g.class_id)
        np.testing.assert_allclose(g.confidence, r.confidence, atol=1e-4)
        np.testing.assert_allclose(g.xyxy, r.xyxy, atol=0.05)


def test_partial_batch_is_padded_to_a_batch_size_already_used(quant_artifact, cpu_detector, shared_dir):
    """A video's last, partial batch runs padded to the batch size in use (a new batch size costs
    seconds of cuDNN autotuning and a new CUDA graph on a GPU); padding rows give no results."""
    frames = _video_frames(shared_dir, 4)
    with TorchBackend(*quant_artifact, nms=cpu_detector.nms, device="cpu", device_path=True) as tb:
        full = tb.detect(frames)
        part = tb.detect(frames[:2])
        assert tb.batch_size_for(2, frames[0].shape) == 4 and tb.batch_size_for(8, frames[0].shape) == 8
    assert len(part) == 2
    for p, f in zip(part, full):
        np.testing.assert_allclose(p.xyxy, f.xyxy, atol=1e-3)
        np.testing.assert_array_equal(p.class_id, f.class_id)


@pytest.mark.parametrize("class_agnostic", [False, True])
@pytest.mark.parametrize("top_k", [4096, 60, 8])  # 60 / 8 force the exact redo of some images
@pytest.mark.parametrize("caps", [(100, 100), (3, 10)])
def test_batched_nms_matches_numpy_reference(class_agnostic, top_k, caps):
    rng = np.random.default_rng(top_k + caps[0])
    n, a, c = 3, 40, 6
    centers = rng.uniform(0.2, 0.8, size=(n, a, 2))
    sizes = rng.uniform(0.05, 0.4, size=(n, a, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=-1).clip(0, 1).astype(np.float32)
    scores = rng.permutation(np.linspace(0.001, 0.999, n * a * c)).reshape(n, a, c).astype(np.float32)  # no ties
    params = NmsParams(score_threshold=0.2, iou_threshold=0.5, max_per_class=caps[0], max_total=caps[1],
                       class_agnostic=class_agnostic)
    kb, ks, kc, ki = torch_ops.batched_multiclass_nms(torch.from_numpy(boxes), torch.from_numpy(scores), params,
                                                      pre_nms_top_k=top_k)
    assert np.all(np.diff(ki.numpy()) >= 0)
    for i in range(n):
        rb, rs, rc = multiclass_nms(boxes[i], scores[i], params)
        m = (ki == i).numpy()
        assert m.sum() == len(rs) > 0
        np.testing.assert_array_equal(kc.numpy()[m], rc)
        np.testing.assert_allclose(ks.numpy()[m], rs, rtol=1e-6)
        np.testing.assert_allclose(kb.numpy()[m], rb, atol=1e-6)


def test_batched_nms_empty():
    params = NmsParams(score_threshold=0.9)
    out = torch_ops.batched_multiclass_nms(torch.rand(2, 10, 4), torch.full((2, 10, 5), 0.1), params)
    assert [t.shape[0] for t in out] == [0, 0, 0, 0]


def test_decode_matches_numpy():
    rng = np.random.default_rng(0)
    anchors = np.concatenate([rng.uniform(0.1, 0.9, (50, 2)), rng.uniform(0.05, 0.5, (50, 2))], 1).astype(np.float32)
    enc = rng.normal(0, 1, (2, 50, 4)).astype(np.float32)
    coder = BoxCoderSpec(10.0, 10.0, 5.0, 5.0)
    ref = np.clip(decode_boxes(enc, anchors, coder)[..., [1, 0, 3, 2]], 0, 1)
    got = torch_ops.decode_boxes(torch.from_numpy(enc), torch.from_numpy(anchors), coder).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("size_hw", [(432, 768), (300, 300), (200, 150)])
def test_resize_frames_close_to_cv2(size_hw):
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (*size_hw, 3), dtype=np.uint8), (5, 5), 2)
    ref = cv2.cvtColor(cv2.resize(frame, (300, 300), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    got = torch_ops.resize_frames(torch.from_numpy(frame[None]), (300, 300)).numpy()[0]
    diff = np.abs(got - ref.astype(np.float32))
    assert got.shape == (300, 300, 3)
    assert diff.max() <= 2 and diff.mean() < 0.5  # cv2 uses 11-bit fixed-point weights


def test_options_are_validated(quant_artifact):
    path, info = quant_artifact
    with pytest.raises(BackendError, match="precision"):
        TorchBackend(path, info, device="cpu", precision="int8")
    with TorchBackend(path, info, device="cpu") as tb:
        with pytest.raises(ValueError, match=r"uint8 \[N, 300, 300, 3\]"):
            tb.infer(np.zeros((1, 299, 300, 3), np.uint8))
        assert tb.device_path is False  # on the CPU detect() keeps the numpy path


def test_unsupported_op_is_reported(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from trtssd.backends.torch_net import build_net

    node = helper.make_node("Softplus", ["images"], ["box_encodings"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, [1, 4])])
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), p)
    with pytest.raises(BackendError, match="found ONNX op Softplus"):
        build_net(p)


def test_is_available_matches_cuda():
    assert is_available() is CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision,box_atol,score_atol", [("fp32", 0.1, 5e-3), ("fp16", 0.3, 1e-2)])
def test_cuda_raw_outputs_match_onnxruntime(precision, box_atol, score_atol, quant_artifact, cpu_detector, shared_dir):
    """Stated tolerances on CUDA (TF32/FP16 convolutions): seen on an H200, boxes max 0.04 / 0.18,
    scores max 0.0016 / 0.0035 (fp32 / fp16)."""
    from trtssd.detector import preprocess

    path, info = quant_artifact
    x = preprocess(_video_frames(shared_dir, 4), (300, 300))
    b0, s0 = cpu_detector.backend.infer(x)
    with TorchBackend(path, info, device="cuda", precision=precision) as tb:
        for _ in range(2):  # eager, then CUDA-graph replay
            b1, s1 = tb.infer(x)
            np.testing.assert_allclose(b1, b0, atol=box_atol, rtol=0)
            np.testing.assert_allclose(s1, s0, atol=score_atol, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_detect_agrees_with_cpu(quant_artifact, cpu_detector, shared_dir):
    path, info = quant_artifact
    frames = _video_frames(shared_dir, 8)
    ref = cpu_detector.detect_batch(frames)
    with TorchBackend(path, info, nms=dataclasses.replace(cpu_detector.nms), device="cuda", precision="fp16") as tb:
        for _ in range(2):
            got = tb.detect(frames)
            assert abs(sum(map(len, got)) - sum(map(len, ref))) <= 2
