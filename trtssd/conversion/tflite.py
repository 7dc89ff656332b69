"""TFLite SSD (TF OD API export with ``TFLite_Detection_PostProcess``) -> trtssd ONNX artifact.

The network up to the postprocess op is converted by tf2onnx (``--dequantize``: quantized weights
become float); onnx-graphsurgeon then cuts the graph at the postprocess op's two inputs (raw box
encodings and class scores), makes the batch dimension dynamic and renames the I/O to the artifact
contract. Anchors and box-coder scales are read from the postprocess op itself (its third input
and its flexbuffer options), so they are exactly what the model was exported with.

A uint8 (QAT) model's float artifact also gets an INT8 variant beside it, ``<artifact>.int8.onnx``:
the same cut of tf2onnx's Q/DQ graph with int8 Conv weights (:mod:`trtssd.conversion.qdq`), which
the OpenVINO backend runs.
"""

from __future__ import annotations

import functools
import logging
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import (
    BOXES_NAME,
    INPUT_NAME,
    SCORES_NAME,
    ArtifactInfo,
    int8_variant_path,
    save_artifact,
)
from trtssd.conversion.quiet import quiet_native_stderr
from trtssd.conversion.surgery import dynamic_batch_reshapes
from trtssd.conversion.tf2onnx_cli import run_tf2onnx as run_tf2onnx_cli
from trtssd.errors import ConversionError, ModelFormatError
from trtssd.models.spec import BoxCoderSpec, GridAnchorSpec, PostprocessSpec

CONVERTER = "tflite-2"  # 2: a uint8 model's float artifact gets its INT8 variant beside it
CONVERTER_QDQ = "tflite-qdq-1"  # quantized TFLite kept as QuantizeLinear/DequantizeLinear (int8 engines)
POSTPROCESS_OP = "TFLite_Detection_PostProcess"
OPSET = 17
_TFLITE_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 9: np.int8}


@dataclass(frozen=True)
class TfliteSsdInfo:
    """What the TFLite file says about its SSD head."""

    input_name: str
    input_shape: tuple[int, ...]  # (1, H, W, 3)
    input_dtype: type
    box_tensor: str
    score_tensor: str
    anchors_cyxhw: np.ndarray  # float32 [A, 4]
    options: dict  # TFLite_Detection_PostProcess custom options (y_scale, nms_iou_threshold, ...)


def _import_tflite_schema():
    try:
        with quiet_native_stderr():  # tf2onnx imports TensorFlow
            from tf2onnx.flexbuffers import read_flexbuffer
            from tf2onnx.tflite.Model import Model
    except ImportError as exc:
        raise ConversionError(
            f"converting a TFLite model needs the 'convert' extra (tf2onnx, tensorflow-cpu, onnx-graphsurgeon): "
            f"pip install 'trtssd[convert]' ({exc})"
        ) from None
    return Model, read_flexbuffer


def _reports_corrupt_file(fn):
    """A flatbuffer read past the end of a truncated/corrupt file raises struct.error or
    IndexError deep inside the reader: report it as one ModelFormatError naming the file."""

    @functools.wraps(fn)
    def wrapper(path, *args, **kwargs):
        try:
            return fn(path, *args, **kwargs)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            size = Path(path).stat().st_size
            kind = "a read past the end" if isinstance(exc, struct.error) else type(exc).__name__
            raise ModelFormatError(
                f"{path}: expected a complete TFLite flatbuffer, found {size:,} bytes that do not parse "
                f"({kind}: truncated or corrupt file?)"
            ) from None

    return wrapper


@_reports_corrupt_file
def inspect_tflite(path: Path, anchors: GridAnchorSpec | None = None) -> TfliteSsdInfo:
    """Parse the TFLite flatbuffer and locate the SSD postprocess op, its inputs and options; for
    a raw-output SSD (no postprocess op), its two outputs and the anchors ``anchors`` generates
    (see :mod:`trtssd.conversion.tflite_raw`)."""
    data = bytearray(Path(path).read_bytes())
    if data[4:8] != b"TFL3":
        raise ModelFormatError(f"{path}: expected a TFLite flatbuffer (identifier TFL3), found {bytes(data[4:8])!r}")
    Model, read_flexbuffer = _import_tflite_schema()
    model = Model.GetRootAsModel(data, 0)
    sub = model.Subgraphs(0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(oc.CustomCode().decode() if oc.CustomCode() else max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()))
    op = None
    for i in range(sub.OperatorsLength()):
        cand = sub.Operators(i)
        if codes[cand.OpcodeIndex()] == POSTPROCESS_OP:
            op = cand
            break
    if op is None:
        from trtssd.conversion.tflite_raw import raw_output_info

        raw = raw_output_info(sub, path, anchors, _TFLITE_DTYPES)
        if raw is not None:
            return raw
        customs = sorted({c for c in codes if isinstance(c, str)})
        raise ModelFormatError(
            f"{path}: expected a TF OD API SSD export with a {POSTPROCESS_OP} op or raw outputs [1, A, 4] and "
            f"[1, A, C], found neither (custom ops: {customs or 'none'})"
        )
    box_t, score_t, anchor_t = (sub.Tensors(int(i)) for i in op.InputsAsNumpy()[:3])
    anchors = _constant(model, anchor_t).reshape(-1, 4)
    options = read_flexbuffer(op.CustomOptionsAsNumpy().tobytes())
    if not isinstance(options, dict):
        raise ModelFormatError(f"{path}: {POSTPROCESS_OP} options: expected a flexbuffer map, found {type(options).__name__}")
    options = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in options.items()}
    inp = sub.Tensors(int(sub.InputsAsNumpy()[0]))
    return TfliteSsdInfo(
        input_name=inp.Name().decode(),
        input_shape=tuple(int(d) for d in inp.ShapeAsNumpy()),
        input_dtype=_TFLITE_DTYPES.get(inp.Type(), np.float32),
        box_tensor=box_t.Name().decode(),
        score_tensor=score_t.Name().decode(),
        anchors_cyxhw=anchors,
        options=options,
    )


def _constant(model, tensor) -> np.ndarray:
    """A constant tensor's values as float32, dequantized if it is quantized."""
    raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if not isinstance(raw, np.ndarray) or raw.size == 0:
        raise ModelFormatError(f"tensor {tensor.Name().decode()}: expected constant data, found none")
    values = np.frombuffer(raw.tobytes(), dtype=_TFLITE_DTYPES.get(tensor.Type(), np.float32)).astype(np.float32)
    q = tensor.Quantization()
    if q is not None and q.ScaleLength() > 0:
        values = (values - float(q.ZeroPoint(0))) * float(q.Scale(0))
    return values.astype(np.float32)


def run_tf2onnx(src: Path, dst: Path, keep_qdq: bool = False) -> None:
    """Convert the whole TFLite model with the tf2onnx command line: dequantized (float weights),
    or with ``keep_qdq`` the model's own quantization as QuantizeLinear/DequantizeLinear pairs."""
    run_tf2onnx_cli(["--tflite", str(src)] + ([] if keep_qdq else ["--dequantize"]), dst, src.name, OPSET)


def cut_to_artifact_graph(raw_onnx: Path, info: TfliteSsdInfo, keep_qdq: bool = False, int8_weights: bool = False):
    """Cut tf2onnx's graph at the postprocess inputs; returns ``(onnx.ModelProto, score_activation)``.
    The cut outputs are float tensors: before the model's last quantization (``*_prequant``), or
    with ``keep_qdq`` after its dequantization where that exists (``*_dequant``). ``int8_weights``
    (with ``keep_qdq``): Conv weights as int8 per channel, :func:`trtssd.conversion.qdq.int8_conv_weights`."""
    import onnx
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(onnx.load(str(raw_onnx)))
    tensors = graph.tensors()

    def find(name: str):
        # With Q/DQ kept, a '_prequant' tensor may itself be quantized (uint8): prefer its '_dequant'.
        for cand in ((f"{name}_dequant",) if keep_qdq else ()) + (f"{name}_prequant", name):
            if cand in tensors:
                return tensors[cand]
        near = [t for t in tensors if t.startswith(name)]
        raise ConversionError(f"converted graph: expected tensor '{name}' (postprocess input), found none; similar: {near[:5]}")

    boxes, scores = find(info.box_tensor), find(info.score_tensor)
    activation = "none" if scores.inputs and scores.inputs[0].op == "Sigmoid" else "sigmoid"
    graph.outputs = [boxes, scores]
    graph.cleanup().toposort()
    if keep_qdq and int8_weights:
        from trtssd.conversion.qdq import int8_conv_weights

        int8_conv_weights(graph)
    if not keep_qdq and any(n.op == "QuantizeLinear" for n in graph.nodes):
        raise ConversionError("converted graph: expected a dequantized float network, found QuantizeLinear nodes")

    image = graph.inputs[0]
    h, w = info.input_shape[1:3]
    if np.dtype(image.dtype) != np.uint8:
        # Float TFLite SSD exports take (2/255) * pixel - 1 (TF OD API MobileNet preprocessing).
        u8 = gs.Variable(INPUT_NAME, dtype=np.uint8, shape=["batch", h, w, 3])
        as_float = gs.Variable("images_float", dtype=np.float32)
        scaled = gs.Variable("images_scaled", dtype=np.float32)
        graph.nodes += [
            gs.Node("Cast", inputs=[u8], outputs=[as_float], attrs={"to": onnx.TensorProto.FLOAT}),
            gs.Node("Mul", inputs=[as_float, gs.Constant("pix_scale", np.array(2.0 / 255.0, np.float32))], outputs=[scaled]),
            gs.Node("Sub", inputs=[scaled, gs.Constant("pix_one", np.array(1.0, np.float32))], outputs=[image]),
        ]
        graph.inputs = [u8]
    else:
        image.name, image.shape = INPUT_NAME, ["batch", h, w, 3]

    dynamic_batch_reshapes(graph)
    num_anchors = info.anchors_cyxhw.shape[0]
    boxes.name, boxes.dtype, boxes.shape = BOXES_NAME, np.float32, ["batch", num_anchors, 4]
    scores.name, scores.dtype, scores.shape = SCORES_NAME, np.float32, ["batch", num_anchors, None]
    for t in graph.tensors().values():  # drop stale batch-1 shapes of intermediates
        if isinstance(t, gs.Variable) and t not in graph.inputs and t not in graph.outputs:
            t.shape = None
    graph.cleanup().toposort()
    model = gs.export_onnx(graph)
    model.opset_import[0].version = max(model.opset_import[0].version, OPSET)
    model = onnx.shape_inference.infer_shapes(model)
    return model, activation


def convert_tflite(src: Path, dst: Path, *, model_name: str, source_sha256: str, labels: tuple[str, ...],
                   postprocess: PostprocessSpec | None = None, keep_qdq: bool = False,
                   anchors: GridAnchorSpec | None = None) -> ArtifactInfo:
    """Convert ``src`` into the artifact ``dst`` (written atomically). Returns its info.
    ``keep_qdq``: keep a quantized model's Q/DQ nodes (see :mod:`trtssd.conversion.precision`);
    ``anchors``: the anchor spec of a raw-output export (ignored when the file has anchors)."""
    info = inspect_tflite(src, anchors)
    opts = info.options
    num_classes = int(opts.get("num_classes", len(labels) - 1)) + 1
    if len(labels) != num_classes:
        raise ConversionError(f"{src.name}: expected {num_classes} labels (incl. background), found {len(labels)}")
    # A quantized (QAT, uint8) model's float artifact gets its INT8 variant beside it, for the
    # OpenVINO backend (see trtssd.conversion.qdq); the two tf2onnx runs go side by side.
    variant = not keep_qdq and np.dtype(info.input_dtype) == np.uint8
    with tempfile.TemporaryDirectory(prefix="trtssd-convert-") as tmp:
        raw, raw_q = Path(tmp) / "raw.onnx", Path(tmp) / "raw-qdq.onnx"
        with ThreadPoolExecutor(2) as pool:
            job = pool.submit(run_tf2onnx, src, raw, keep_qdq)
            job_q = pool.submit(run_tf2onnx, src, raw_q, True) if variant else None
            job.result()
            model, activation = cut_to_artifact_graph(raw, info, keep_qdq)
            model_q = None
            if job_q is not None:
                try:  # best effort: without it the OpenVINO backend runs the float artifact
                    job_q.result()
                    model_q = cut_to_artifact_graph(raw_q, info, keep_qdq=True, int8_weights=True)[0]
                except ConversionError as exc:
                    logging.getLogger(__name__).warning("%s: no INT8 variant (%s)", src.name, exc)
    pp = postprocess or PostprocessSpec()
    artifact = ArtifactInfo(
        model_name=model_name,
        source_sha256=source_sha256,
        converter=CONVERTER_QDQ if keep_qdq else CONVERTER,
        input_size=(info.input_shape[1], info.input_shape[2]),
        anchors_cyxhw=info.anchors_cyxhw,
        box_coder=BoxCoderSpec(
            y_scale=float(opts.get("y_scale", 10.0)), x_scale=float(opts.get("x_scale", 10.0)),
            h_scale=float(opts.get("h_scale", 5.0)), w_scale=float(opts.get("w_scale", 5.0)),
        ),
        score_activation=activation,
        labels=labels,
        postprocess=PostprocessSpec(
            score_activation=activation,
            score_threshold=pp.score_threshold,
            iou_threshold=round(float(opts.get("nms_iou_threshold", pp.iou_threshold)), 6),
            max_detections_per_class=pp.max_detections_per_class,
            max_total_detections=pp.max_total_detections,
        ),
    )
    if model_q is not None:  # first: the float artifact's presence means the conversion is complete
        save_artifact(model_q, artifact, int8_variant_path(dst))
    return save_artifact(model, artifact, dst)
