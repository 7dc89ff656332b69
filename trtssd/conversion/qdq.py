"""The INT8 variant of a quantization-aware-trained (QAT) TFLite SSD: the model's own Q/DQ graph.

tf2onnx converts a uint8 TFLite model (without ``--dequantize``) into an ONNX graph with explicit
QuantizeLinear/DequantizeLinear pairs at the scales and zero points the model was trained with
(TFLite's uint8 scheme: asymmetric, per tensor, weights included). INT8 CPU kernels (OpenVINO's
low-precision transformations, oneDNN) want *signed symmetric* weights, so :func:`int8_conv_weights`
re-expresses each Conv weight as int8 per output channel: a channel whose ``uint8 - zero_point``
values fit in [-127, 127] keeps exactly the model's values at the model's scale; only a channel
that does not is requantized (scale ``max|w| / 127``). Activations keep the model's own
quantization. The result satisfies the artifact contract of :mod:`trtssd.conversion.artifact`
(uint8 images in, float raw outputs out) and is saved beside the float artifact as
``<stem>.int8.onnx`` (:func:`trtssd.conversion.artifact.int8_variant_path`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WeightStats:
    """Output channels of all Conv weights: kept exactly vs requantized."""

    exact_channels: int
    requantized_channels: int


def int8_conv_weights(graph) -> WeightStats:
    """Rewrite every Conv's ``DequantizeLinear(uint8 weight, scale, zero_point)`` (per tensor) as
    ``DequantizeLinear(int8 weight, scale [O], 0 [O], axis=0)``. ``graph``: an onnx_graphsurgeon
    Graph, edited in place."""
    import onnx_graphsurgeon as gs

    exact = requant = 0
    for node in graph.nodes:
        if node.op != "Conv" or not node.inputs[1].inputs:
            continue
        dq = node.inputs[1].inputs[0]
        if dq.op != "DequantizeLinear" or not all(isinstance(t, gs.Constant) for t in dq.inputs[:3]):
            continue
        w, scale, zero = (np.asarray(t.values) for t in dq.inputs[:3])
        if w.dtype != np.uint8 or scale.size != 1:
            continue
        k = w.astype(np.int32) - int(zero.reshape(-1)[0])
        out = k.shape[0]
        kmax = np.abs(k).reshape(out, -1).max(axis=1)
        scales = np.full(out, float(scale.reshape(-1)[0]), np.float32)
        q = np.empty(k.shape, np.int8)
        fits = kmax <= 127
        q[fits] = k[fits]
        for c in np.flatnonzero(~fits):
            f = k[c].astype(np.float64) * float(scales[c])
            scales[c] = np.float32(np.abs(f).max() / 127.0)
            q[c] = np.clip(np.round(f / float(scales[c])), -127, 127)
        exact += int(fits.sum())
        requant += int((~fits).sum())
        name = node.name or dq.name
        dq.inputs = [gs.Constant(f"{name}_w_int8", q), gs.Constant(f"{name}_w_scale", scales),
                     gs.Constant(f"{name}_w_zero", np.zeros(out, np.int8))]
        dq.attrs["axis"] = 0
    return WeightStats(exact, requant)
