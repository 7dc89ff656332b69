"""INT8 Conv weights from a QAT model's uint8 weights (trtssd.conversion.qdq)."""

from __future__ import annotations

import numpy as np
import pytest

gs = pytest.importorskip("onnx_graphsurgeon")

from trtssd.conversion.qdq import int8_conv_weights  # noqa: E402


def _conv_graph(w_u8: np.ndarray, scale: float, zero: int):
    x = gs.Variable("x", np.float32, [1, w_u8.shape[1], 4, 4])
    wq = gs.Variable("w", np.float32)
    y = gs.Variable("y", np.float32)
    dq = gs.Node("DequantizeLinear", inputs=[gs.Constant("w_u8", w_u8), gs.Constant("s", np.array(scale, np.float32)),
                                             gs.Constant("z", np.array(zero, np.uint8))], outputs=[wq])
    conv = gs.Node("Conv", name="conv", inputs=[x, wq], outputs=[y])
    return gs.Graph(nodes=[dq, conv], inputs=[x], outputs=[y]), dq


def test_channels_that_fit_stay_exact_others_are_requantized():
    scale, zero = 0.02, 100
    w = np.full((3, 2, 1, 1), zero, np.uint8)
    w[0, :, 0, 0] = [zero - 50, zero + 27]  # fits in [-127, 127]: kept exactly
    w[1, :, 0, 0] = [zero + 155, zero - 100]  # 155 does not fit: requantized to max|w| / 127
    w[2, :, 0, 0] = [0, 255]  # -100 and 155
    graph, dq = _conv_graph(w, scale, zero)
    stats = int8_conv_weights(graph)
    assert (stats.exact_channels, stats.requantized_channels) == (1, 2)
    q, s, z = (np.asarray(t.values) for t in dq.inputs)
    assert q.dtype == np.int8 and s.shape == (3,) and z.dtype == np.int8 and not z.any() and dq.attrs["axis"] == 0
    original = (w.astype(np.float64) - zero) * scale
    new = q.astype(np.float64) * s[:, None, None, None]
    np.testing.assert_array_equal(q[0, :, 0, 0], [-50, 27])
    assert s[0] == np.float32(scale)
    assert s[1] == pytest.approx(155 * scale / 127) and q[1, 0, 0, 0] == 127
    np.testing.assert_allclose(new, original, atol=float(s.max()) / 2 + 1e-9)  # within half a new step


def test_other_weights_untouched():
    graph, dq = _conv_graph(np.zeros((2, 2, 1, 1), np.uint8), 0.1, 0)
    dq.inputs[1] = gs.Constant("s2", np.array([0.1, 0.2], np.float32))  # already per channel
    assert int8_conv_weights(graph).exact_channels == 0
    assert np.asarray(dq.inputs[0].values).dtype == np.uint8


@pytest.mark.slow
def test_conversion_without_the_int8_variant_when_its_graph_fails(shared_dir, tmp_path, monkeypatch):
    """The INT8 variant is best effort: a failure there still leaves the float artifact."""
    from trtssd.conversion import tflite
    from trtssd.conversion.artifact import int8_variant_path
    from trtssd.errors import ConversionError

    real = tflite.run_tf2onnx

    def failing_qdq(src, dst, keep_qdq=False):
        if keep_qdq:
            raise ConversionError("tf2onnx failed on the Q/DQ graph (test)")
        real(src, dst, keep_qdq)

    monkeypatch.setattr(tflite, "run_tf2onnx", failing_qdq)
    src = shared_dir / "models" / "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite"
    dst = tmp_path / "m.onnx"
    labels = ("background",) + tuple(f"c{i}" for i in range(1, 91))
    tflite.convert_tflite(src, dst, model_name="m", source_sha256="0" * 64, labels=labels)
    assert dst.is_file() and not int8_variant_path(dst).exists()
