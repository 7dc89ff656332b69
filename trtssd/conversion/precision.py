"""Precision variants of the artifact network, for strongly typed TensorRT engines.

TensorRT 11 removed the weak-typing API (``BuilderFlag.FP16``/``INT8``, INT8 calibrators) and
TensorRT 10 networks built with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` take every tensor
type from the ONNX graph. So reduced precision is written into the graph here, on the artifact
network (``images`` uint8 -> ``box_encodings``, ``class_scores`` float32), before
:mod:`trtssd.conversion.engine_onnx` appends box decoding, score activation and NMS in float32:

``fp32``
    the artifact as converted.
``fp16``
    onnxconverter-common's ``convert_float_to_float16`` (weights and activations float16, its
    default op block list keeps ops without fp16 support in float32). The uint8 input and the
    pixel normalisation right after it stay float32, and ``keep_io_types`` casts the two outputs
    back to float32, so the graph's I/O types are unchanged.
``int8`` from a quantization-aware source (:func:`qdq_to_int8_symmetric`)
    tf2onnx without ``--dequantize`` keeps a quantized TFLite model's own quantization as
    QuantizeLinear/DequantizeLinear pairs (uint8, asymmetric: zero points != 0). TensorRT's
    explicit quantization takes signed int8 with zero point 0 only, so each pair is rewritten
    to cover the same trained range: activations get a symmetric int8 scale over the trained
    ``[min, max]`` plus a Clip to that range (uint8 saturation is how TFLite fuses ReLU6), the
    uint8 input gets an exact int8 Q/DQ (zero point 128 -> 0), weights are re-quantized per output
    channel from their trained values, int32 biases become float32. No calibration.
``int8`` from a float source (:func:`ptq_int8`)
    post-training quantization with calibration images by ONNX Runtime's ``quantize_static``:
    QDQ format, int8 symmetric activations (per tensor) and weights (per channel), float32
    biases, convolutions only.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import INPUT_NAME, ArtifactInfo, read_info, save_onnx, write_info
from trtssd.conversion.calibration import CalibrationData, OrtCalibrationReader
from trtssd.errors import ConversionError, InputError


PRECISIONS = ("fp32", "fp16", "int8")
_ELEMENTWISE = {"Cast", "Sub", "Mul", "Add", "Div"}
_MOVES = {"Reshape", "Transpose", "Concat", "Squeeze", "Unsqueeze", "Flatten", "Identity"}  # value-preserving
_P = "trtssd_q/"  # name prefix of tensors and nodes added by the int8 rewrite


def _require_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, found {precision!r}")


def input_normalization_nodes(model) -> list[str]:
    """Names of the nodes from the uint8 ``images`` input through its elementwise normalisation
    (Cast, Sub, Mul, Add, Div chain): kept in float32 by :func:`to_fp16`."""
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    names, frontier = [], [INPUT_NAME]
    while frontier:
        nxt = []
        for t in frontier:
            for n in consumers.get(t, []):
                if n.op_type in _ELEMENTWISE and n.name not in names:
                    names.append(n.name)
                    nxt.extend(n.output)
        frontier = nxt
    return names


def to_fp16(model):
    """float16 copy of an artifact network (see module docstring); I/O types unchanged."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise ConversionError("precision fp16: expected the 'onnxconverter-common' package, found none; "
                              "pip install 'trtssd[convert]'") from None
    for i, n in enumerate(model.graph.node):  # the block list names nodes: name them all (deterministically)
        if not n.name:
            n.name = f"trtssd_node_{i}"
    return float16.convert_float_to_float16(model, keep_io_types=True,
                                            node_block_list=input_normalization_nodes(model))


# ---- int8: the model's own Q/DQ -> TensorRT's symmetric int8 ----------------------------------

def symmetric_scale(lo: float, hi: float) -> float:
    """Smallest int8 scale (zero point 0, codes -128..127) whose range covers ``[lo, hi]``."""
    s = max(-lo / 128.0, hi / 127.0)
    return s if s > 0 else 1.0


def _quant_range(zero_point: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    """Float range ``[lo, hi]`` of a per-tensor (u)int8 quantization."""
    z, s = float(zero_point.reshape(-1)[0]), float(scale.reshape(-1)[0])
    qmin, qmax = (0, 255) if zero_point.dtype == np.uint8 else (-128, 127)
    return (qmin - z) * s, (qmax - z) * s


def per_channel_int8(w: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights: ``(q int8, scale float32 [w.shape[axis]])`` with codes in -127..127
    and ``q * scale ~= w`` per channel along ``axis``."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    m = np.abs(moved).max(axis=1)
    scale = np.where(m > 0, m / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def has_qdq(model) -> bool:
    return any(n.op_type == "QuantizeLinear" for n in model.graph.node)


def qdq_to_int8_symmetric(model):
    """Rewrite tf2onnx's uint8 asymmetric Q/DQ network into TensorRT-compatible int8 (in place).

    Returns the model. Raises ConversionError for quantization it does not handle
    (per-axis activation scales, non-constant scales).
    """
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    arr = {name: numpy_helper.to_array(t) for name, t in inits.items()}
    consumers: dict[str, list] = {}
    for n in g.node:
        for k, i in enumerate(n.input):
            consumers.setdefault(i, []).append((n, k))
    new_inits: list = []
    counter = [0]

    def const(value, hint: str) -> str:
        counter[0] += 1
        name = f"{_P}{hint}_{counter[0]}"
        new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def qparams(node) -> tuple[np.ndarray, np.ndarray]:
        if node.input[1] not in arr or (len(node.input) > 2 and node.input[2] not in arr):
            raise ConversionError(f"int8: expected constant scale/zero point on {node.name or node.op_type}, found computed ones")
        s = arr[node.input[1]]
        z = arr[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(s, dtype=np.uint8)
        return s, z

    zero_i8 = const(np.int8(0), "zp")
    # Activation Q nodes: new scale per Q output (its DQ consumers follow).
    act: dict[str, str] = {}  # quantized tensor -> its new int8 scale initializer
    act_s8: dict[str, float] = {}  # ... and that scale's value
    nodes_out = []
    # The uint8 input: cast to float first (TensorRT handles uint8 only at the I/O boundary).
    input_cast = f"{_P}images_float"
    input_consumers = consumers.get(INPUT_NAME, [])
    cast_input = any(n.op_type != "Cast" for n, _ in input_consumers)
    if cast_input:
        nodes_out.append(helper.make_node("Cast", [INPUT_NAME], [input_cast], name=f"{_P}Cast_images", to=TensorProto.FLOAT))
        for n, k in input_consumers:
            n.input[k] = input_cast
    from_input = {input_cast} if cast_input else set()

    for n in g.node:
        if any(i in from_input for i in n.input) and n.op_type in _MOVES:
            from_input.update(n.output)
        data_in = [i for i in n.input[:1 if n.op_type != "Concat" else None] if i]
        if n.op_type in _MOVES and data_in and all(i in act for i in data_in):
            # Quantized values moved around (Reshape, Concat, ...): same quantization downstream.
            scales = {act_s8[i] for i in data_in}
            if max(scales) > min(scales) * (1 + 1e-6):
                raise ConversionError(f"int8: expected equal quantization of the inputs of {n.name}, found scales {sorted(scales)}")
            for o in n.output:
                act[o], act_s8[o] = act[data_in[0]], act_s8[data_in[0]]
            nodes_out.append(n)
            continue
        if n.op_type == "QuantizeLinear":
            s, z = qparams(n)
            if s.size != 1:
                raise ConversionError(f"int8: expected per-tensor activation quantization, found {s.size} scales on {n.name}")
            lo, hi = _quant_range(z, s)
            s8 = symmetric_scale(lo, hi)
            x = n.input[0]
            if lo > -128 * s8 * (1 + 1e-6) or hi < 127 * s8 * (1 - 1e-6):  # the (u)int8 range saturates: keep it
                clipped = f"{_P}{x}_clip"
                nodes_out.append(helper.make_node("Clip", [x, const(np.float32(lo), "lo"), const(np.float32(hi), "hi")],
                                                  [clipped], name=f"{_P}Clip_{len(nodes_out)}"))
                x = clipped
            scale = const(np.float32(s8), "scale")
            act[n.output[0]], act_s8[n.output[0]] = scale, s8
            nodes_out.append(helper.make_node("QuantizeLinear", [x, scale, zero_i8], list(n.output), name=n.name))
        elif n.op_type == "DequantizeLinear":
            src = n.input[0]
            if src in act:  # activation
                nodes_out.append(helper.make_node("DequantizeLinear", [src, act[src], zero_i8], list(n.output), name=n.name))
            elif src in arr:  # constant: weights or bias
                s, z = qparams(n)
                axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
                q = arr[src]
                shape = [1] * q.ndim
                if s.size > 1:
                    shape[axis] = -1
                w = ((q.astype(np.float64) - z.astype(np.float64).reshape(shape)) * s.astype(np.float64).reshape(shape)).astype(np.float32)
                is_weight = q.dtype != np.int32 and any(c.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and k == 1
                                                       for c, k in consumers.get(n.output[0], []))
                if is_weight and q.ndim >= 2:
                    qi, sc = per_channel_int8(w, 0)
                    nodes_out.append(helper.make_node("DequantizeLinear", [const(qi, "w"), const(sc, "w_scale"),
                                                      const(np.zeros(sc.shape, np.int8), "w_zp")],
                                                      list(n.output), name=n.name, axis=0))
                else:  # biases (int32) and other constants: plain float32
                    new_inits.append(numpy_helper.from_array(w, n.output[0]))
            else:  # a uint8 activation from the input: (x - z) * s as float, then exact-range int8 Q/DQ
                s, z = qparams(n)
                lo, hi = _quant_range(z, s)
                x = src
                if src not in from_input:
                    raise ConversionError(f"int8: expected DequantizeLinear of a constant or a QuantizeLinear, found one of {src}")
                sub, mul = f"{_P}{src}_centred", f"{_P}{src}_scaled"
                nodes_out.append(helper.make_node("Sub", [x, const(z.astype(np.float32).reshape(()), "z")], [sub], name=f"{_P}Sub_{len(nodes_out)}"))
                nodes_out.append(helper.make_node("Mul", [sub, const(s.astype(np.float32).reshape(()), "s")], [mul], name=f"{_P}Mul_{len(nodes_out)}"))
                scale = const(np.float32(symmetric_scale(lo, hi)), "scale")
                q8 = f"{_P}{src}_q"
                nodes_out.append(helper.make_node("QuantizeLinear", [mul, scale, zero_i8], [q8], name=f"{_P}Q_{len(nodes_out)}"))
                nodes_out.append(helper.make_node("DequantizeLinear", [q8, scale, zero_i8], list(n.output), name=n.name))
        else:
            nodes_out.append(n)
    del g.node[:]
    g.node.extend(nodes_out)
    g.initializer.extend(new_inits)
    _drop_unused_initializers(g)
    del g.value_info[:]  # intermediate types changed (uint8 -> int8): let shape inference redo them
    return model


def _drop_unused_initializers(g) -> None:
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)


# ---- int8: post-training quantization of a float network --------------------------------------

def ptq_int8(float_network: Path, dst: Path, data: CalibrationData) -> Path:
    """ONNX Runtime static quantization of ``float_network`` into ``dst`` (QDQ, int8 symmetric,
    per-channel weights, float biases, Conv only), calibrated on ``data``."""
    try:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise ConversionError("precision int8: expected onnxruntime.quantization, found none") from None
    import onnx

    class _NoPreprocessHint(logging.Filter):  # quantize_static suggests its optional model pre-processing on every call
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing" not in record.getMessage()

    hint = _NoPreprocessHint()
    logging.getLogger().addFilter(hint)
    try:
        with tempfile.TemporaryDirectory(prefix="trtssd-ptq-") as tmp:
            out = Path(tmp) / "q.onnx"
            quantize_static(
                str(float_network), str(out), OrtCalibrationReader(data, INPUT_NAME),
                quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"], per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
            )
            model = onnx.load(str(out))
    finally:
        logging.getLogger().removeFilter(hint)
    write_info(model, read_info(float_network))
    return save_onnx(model, dst, "int8 ONNX")


def quantized_source_hint(info: ArtifactInfo) -> str:
    return (f"precision int8: model '{info.model_name}' has no quantization of its own; expected --calib_dir with "
            "calibration images (post-training quantization), found none")


def require_calibration(calib: CalibrationData | None, info: ArtifactInfo) -> CalibrationData:
    if calib is None:
        raise InputError(quantized_source_hint(info))
    return calib


# ---- which network each precision starts from (cached) ----------------------------------------

def qdq_artifact_path(info: ArtifactInfo) -> Path:
    """Cache path of the Q/DQ artifact of the model ``info`` describes (same naming as
    :func:`trtssd.conversion.api.artifact_cache_path`)."""
    from trtssd.conversion.tflite import CONVERTER_QDQ
    from trtssd.models.resolve import cache_dir

    return cache_dir() / "artifacts" / f"{info.model_name}-{info.source_sha256[:16]}-{CONVERTER_QDQ}.onnx"


def ensure_qdq_artifact(info: ArtifactInfo, model: str | Path | None = None, model_dir: Path | str | None = None,
                        log=None) -> Path | None:
    """The Q/DQ artifact (tf2onnx without ``--dequantize``) of the quantized TFLite model behind
    ``info``, converting it on first use; None when the source is not a quantized TFLite model.
    The source is looked up as ``model``, else by the model name, without downloading;
    InputError when a TFLite source cannot be found here."""
    from trtssd.conversion import tflite
    from trtssd.errors import TrtSsdError
    from trtssd.models.resolve import resolve_model, sha256_file

    dst = qdq_artifact_path(info)
    if dst.exists():
        return dst
    if info.converter != tflite.CONVERTER:
        return None
    missing = InputError(
        f"precision int8: expected the TFLite source of model '{info.model_name}' (sha256 {info.source_sha256[:16]}...) "
        "to take its own quantization from, found none; give its folder with --model_dir, or calibration images "
        "with --calib_dir for post-training quantization")
    try:
        resolved = resolve_model(str(model or info.model_name), model_dir, allow_download=False)
    except TrtSsdError:
        raise missing from None
    if resolved.kind != "tflite" or sha256_file(resolved.path) != info.source_sha256:
        raise missing
    if np.dtype(tflite.inspect_tflite(resolved.path).input_dtype) != np.uint8:
        return None  # a float TFLite model: nothing quantized to keep
    if log:
        log(f"trtssd: converting {resolved.path.name} with its quantization (Q/DQ) -> {dst}")
    tflite.convert_tflite(resolved.path, dst, model_name=info.model_name, source_sha256=info.source_sha256,
                          labels=info.labels, postprocess=info.postprocess, keep_qdq=True)
    return dst


def ptq_path(artifact_path: Path, calib: CalibrationData) -> Path:
    from trtssd.models.resolve import cache_dir

    return cache_dir() / "precision" / f"{Path(artifact_path).stem}-ptq{calib.digest()}.onnx"


def precision_source(artifact_path: Path, info: ArtifactInfo, precision: str, calib: CalibrationData | None = None,
                     *, model: str | Path | None = None, model_dir: Path | str | None = None,
                     log=None) -> tuple[Path, str]:
    """``(network file, variant tag)`` the ``precision`` network is made from: the artifact for
    fp32/fp16; for int8 the post-training quantized artifact when ``calib`` is given (cached by
    artifact and image set), else the model's own Q/DQ artifact. InputError when int8 has neither."""
    _require_precision(precision)
    artifact_path = Path(artifact_path)
    if precision != "int8":
        return artifact_path, ""
    if calib is not None:
        dst = ptq_path(artifact_path, calib)
        if not dst.exists():
            if log:
                log(f"trtssd: post-training int8 quantization on {len(calib.files)} images -> {dst}")
            ptq_int8(artifact_path, dst, calib)
        return dst, ""
    from trtssd.conversion.tflite import CONVERTER_QDQ

    if info.converter == CONVERTER_QDQ:  # already the Q/DQ artifact
        return artifact_path, ""
    qdq = ensure_qdq_artifact(info, model, model_dir, log)
    if qdq is None:
        raise InputError(quantized_source_hint(info))
    return qdq, ""


def precision_network(source: Path, precision: str):
    """The ``onnx.ModelProto`` of ``source`` (from :func:`precision_source`) in ``precision``."""
    import onnx

    _require_precision(precision)
    model = onnx.load(str(source))
    if precision == "fp16":
        return to_fp16(model)
    if precision == "int8":
        if not has_qdq(model):
            raise ConversionError(f"{source.name}: expected a network with QuantizeLinear/DequantizeLinear nodes, found none")
        if _has_uint8_quantization(model):
            model = qdq_to_int8_symmetric(model)
    return model


def _has_uint8_quantization(model) -> bool:
    from onnx import TensorProto

    inits = {t.name: t.data_type for t in model.graph.initializer}
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2
               and inits.get(n.input[2]) == TensorProto.UINT8 for n in model.graph.node)
