"""Artifact -> engine-ready ONNX: a graph whose outputs are final detections.

Appended to the artifact network (see :mod:`trtssd.conversion.artifact`), in standard ONNX ops
only (TensorRT maps NonMaxSuppression to INMSLayer; no plugins):

1. decode ``box_encodings`` against the anchors (a constant) with the box coder, clip to [0, 1];
2. apply the model's score activation, drop the background column;
3. keep at most ``candidates`` (class, anchor) scores per image, the highest (TopK + scatter):
   TensorRT's INMSLayer considers only the K best boxes per image (K = 2000 on SM 5.3 / 6.2,
   5000 elsewhere; NvInfer.h, ``INMSLayer``) and ITopKLayer takes K <= 3840, so the graph makes
   that selection itself and every runtime sees the same candidates;
   ``NonMaxSuppression`` (``center_point_box=0``, yxyx boxes) per class, or once over each
   anchor's best class (``class_agnostic``), keeping scores ``> score_threshold`` and
   suppressing IoU ``> iou_threshold`` — the semantics of :mod:`trtssd.postprocess.nms`;
4. scatter the kept scores into a dense ``[N, C-1, A]`` map (-1 elsewhere) and ``TopK`` the best
   ``max_total`` per image. Equal scores resolve as in :func:`trtssd.postprocess.nms.multiclass_nms`
   (and the OD API's final top-k): lower class id first, then lower anchor.

Outputs (dynamic batch ``N``, ``K = max_total``), padded with zeros after ``num_detections``:
    ``num_detections`` int32 ``[N]``;
    ``detection_boxes`` float32 ``[N, K, 4]`` normalised (x1, y1, x2, y2) in [0, 1];
    ``detection_scores`` float32 ``[N, K]`` activated scores, descending;
    ``detection_classes`` int32 ``[N, K]`` class ids (1..C-1; 0 in padding).
The NMS settings are baked in and stored in metadata key ``trtssd_nms``; the network precision
(:mod:`trtssd.conversion.precision`) in ``trtssd_precision``. Decoding, activation and NMS are
float32 in every precision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import BOXES_NAME, INPUT_NAME, SCORES_NAME, ArtifactInfo, read_info, save_onnx, write_info
from trtssd.errors import ConversionError, ModelFormatError
from trtssd.models.resolve import cache_dir
from trtssd.postprocess.nms import NmsParams

ENGINE_ONNX_VERSION = "e3"
NMS_METADATA_KEY = "trtssd_nms"
PRECISION_METADATA_KEY = "trtssd_precision"
TOPK_MAX_K = 3840  # ITopKLayer: "Currently only values of K up to 3840 are supported" (NvInfer.h, 10.3 and 11.x)
NMS_TOPK_LIMIT = 5000  # INMSLayer TopK box limit; 2000 on SM 5.3 and 6.2 (Jetson Nano, TX2)
NMS_TOPK_LIMIT_SM53_62 = 2000
NUM_NAME = "num_detections"
DET_BOXES_NAME = "detection_boxes"
DET_SCORES_NAME = "detection_scores"
DET_CLASSES_NAME = "detection_classes"
OUTPUT_NAMES = (NUM_NAME, DET_BOXES_NAME, DET_SCORES_NAME, DET_CLASSES_NAME)
MIN_OPSET = 13
_FILL = -1.0  # dense-map value of anchors/classes not kept by NMS (kept scores are > threshold >= 0)


def nms_candidates(compute_capability: tuple[int, int] | None = None) -> int:
    """Candidates per image the graph keeps before NMS on a GPU of ``compute_capability``
    (None: any TensorRT >= 10 GPU): within INMSLayer's TopK box limit and ITopKLayer's K limit."""
    limit = NMS_TOPK_LIMIT_SM53_62 if tuple(compute_capability or ()) in ((5, 3), (6, 2)) else NMS_TOPK_LIMIT
    return min(limit, TOPK_MAX_K)


DEFAULT_CANDIDATES = nms_candidates()


def nms_key(nms: NmsParams) -> str:
    """Short stable digest of the baked NMS settings (part of file names and engine cache keys)."""
    return hashlib.sha256(json.dumps(asdict(nms), sort_keys=True).encode()).hexdigest()[:12]


def read_nms(path: Path) -> NmsParams:
    """The NMS settings baked into an engine-ready ONNX file; ModelFormatError for other files."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == NMS_METADATA_KEY:
            return NmsParams(**json.loads(prop.value))
    raise ModelFormatError(f"{path}: expected an engine-ready ONNX (metadata '{NMS_METADATA_KEY}'), found none")


def _const(name: str, value) -> "onnx.TensorProto":
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value), name)


def build_engine_graph(model, info: ArtifactInfo, nms: NmsParams, candidates: int = DEFAULT_CANDIDATES):
    """Append decoding + activation + candidate selection + NMS + top-K to an artifact
    ``onnx.ModelProto`` (in place) and return it with outputs :data:`OUTPUT_NAMES`."""
    from onnx import TensorProto, helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise ConversionError(f"engine ONNX: expected an artifact of opset >= {MIN_OPSET}, found opset {opset}")
    outputs = {o.name for o in model.graph.output}
    if not {BOXES_NAME, SCORES_NAME} <= outputs:
        raise ModelFormatError(f"engine ONNX: expected outputs {BOXES_NAME}, {SCORES_NAME}; found {sorted(outputs)}")

    g = model.graph
    a = info.anchors_cyxhw.astype(np.float32)
    num_anchors, num_fg = info.num_anchors, info.num_classes - 1
    coder = info.box_coder
    num_scores = num_anchors * (1 if nms.class_agnostic else num_fg)
    top_k = min(nms.max_total, num_scores)
    if not 1 <= candidates <= TOPK_MAX_K:
        raise ConversionError(f"engine ONNX: expected 1 <= NMS candidates <= {TOPK_MAX_K}, found {candidates}")
    if top_k > TOPK_MAX_K:
        raise ConversionError(f"engine ONNX: expected max detections <= {TOPK_MAX_K} (TensorRT TopK limit), found {top_k}")
    p = "trtssd_pp/"  # name prefix of everything appended
    inits = {
        "ya": a[:, 0:1], "xa": a[:, 1:2], "ha": a[:, 2:3], "wa": a[:, 3:4],
        "ys": np.float32(coder.y_scale), "xs": np.float32(coder.x_scale),
        "hs": np.float32(coder.h_scale), "ws": np.float32(coder.w_scale),
        "two": np.float32(2.0), "zero_f": np.float32(0.0), "one_f": np.float32(1.0),
        "half_fill": np.float32(_FILL / 2),
        "max_per_class": np.array([nms.max_total if nms.class_agnostic else nms.max_per_class], np.int64),
        "iou": np.array([nms.iou_threshold], np.float32), "score_th": np.array([nms.score_threshold], np.float32),
        "k": np.array([top_k], np.int64), "k_cand": np.array([min(candidates, num_scores)], np.int64), "ax1": np.array([1], np.int64), "ax_last": np.array([-1], np.int64),
        "na": np.int64(num_anchors), "one_i": np.int64(1), "zero_i": np.int64(0),
        "flat": np.array([0, -1], np.int64), "sl_start": np.array([1], np.int64),
        "sl_end": np.array([info.num_classes], np.int64), "sl_axis": np.array([2], np.int64),
        **{f"c{i}": np.array([i], np.int64) for i in range(5)},
    }
    nodes = []

    def node(op: str, ins: list[str], outs: list[str] | None = None, **attrs) -> list[str]:
        outs = outs or [f"{p}{op.lower()}_{len(nodes)}"]
        nodes.append(helper.make_node(op, [i if i.startswith(p) or i in outputs else p + i for i in ins],
                                      outs, name=f"{p}{op}_{len(nodes)}", **attrs))
        return outs

    def sl(x: str, i: int) -> str:  # x[..., i:i+1]
        return node("Slice", [x, f"c{i}", f"c{i + 1}", "ax_last"])[0]

    # 1. decode (same operation order as trtssd.postprocess.coder.decode_boxes) and clip.
    enc = BOXES_NAME
    yc = node("Add", [node("Mul", [node("Div", [sl(enc, 0), "ys"])[0], "ha"])[0], "ya"])[0]
    xc = node("Add", [node("Mul", [node("Div", [sl(enc, 1), "xs"])[0], "wa"])[0], "xa"])[0]
    h = node("Mul", [node("Exp", [node("Div", [sl(enc, 2), "hs"])[0]])[0], "ha"])[0]
    w = node("Mul", [node("Exp", [node("Div", [sl(enc, 3), "ws"])[0]])[0], "wa"])[0]
    h2, w2 = node("Div", [h, "two"])[0], node("Div", [w, "two"])[0]
    corners = [node("Sub", [yc, h2])[0], node("Sub", [xc, w2])[0], node("Add", [yc, h2])[0], node("Add", [xc, w2])[0]]
    corners = [node("Clip", [c, "zero_f", "one_f"])[0] for c in corners]
    boxes_yxyx = node("Concat", corners, axis=-1)[0]  # [N, A, 4]
    boxes_xyxy = node("Concat", [corners[1], corners[0], corners[3], corners[2]], axis=-1)[0]

    # 2. activation, drop background -> [N, A, C-1].
    raw = SCORES_NAME
    if info.score_activation == "sigmoid":
        raw = node("Sigmoid", [raw])[0]
    elif info.score_activation == "softmax":
        raw = node("Softmax", [raw], axis=-1)[0]
    elif info.score_activation != "none":
        raise ConversionError(f"engine ONNX: expected score activation none|sigmoid|softmax, found {info.score_activation!r}")
    fg = node("Slice", [raw, "sl_start", "sl_end", "sl_axis"])[0]

    # 3. NMS on [N, C', A] scores (C' = C-1 per class, or 1 = best class per anchor).
    if nms.class_agnostic:
        best_score, best_class = node("TopK", [fg, "c1"], [p + "best_s", p + "best_c"], axis=-1)
        per_class = node("Transpose", [best_score], perm=[0, 2, 1])[0]  # [N, 1, A]
    else:
        per_class = node("Transpose", [fg], perm=[0, 2, 1])[0]  # [N, C', A]
    if num_scores > candidates:  # keep the best `candidates` scores per image, -1 elsewhere
        flat_all = node("Reshape", [per_class, "flat"])[0]
        cand_s, cand_i = node("TopK", [flat_all, "k_cand"], [p + "cand_s", p + "cand_i"], axis=1, largest=1, sorted=1)
        empty = node("ConstantOfShape", [node("Shape", [flat_all])[0]],
                     value=helper.make_tensor("v", TensorProto.FLOAT, [1], [_FILL]))[0]
        kept_flat = node("ScatterElements", [empty, cand_i, cand_s], axis=1)[0]
        per_class = node("Reshape", [kept_flat, node("Shape", [per_class])[0]])[0]
    sel = node("NonMaxSuppression", [boxes_yxyx, per_class, "max_per_class", "iou", "score_th"], center_point_box=0)[0]

    # 4. dense map of kept scores -> top-K. TopK breaks ties by lower flat index, i.e. by class id
    #    and then anchor, as the numpy path's final sort does.
    kept = node("GatherND", [per_class, sel])[0]
    dense = node("ScatterND", [node("ConstantOfShape", [node("Shape", [per_class])[0]],
                                    value=helper.make_tensor("v", TensorProto.FLOAT, [1], [_FILL]))[0], sel, kept])[0]
    flat = node("Reshape", [dense, "flat"])[0]  # [N, C'*A] (or [N, A])
    top_s, top_i = node("TopK", [flat, "k"], [p + "top_s", p + "top_i"], axis=1, largest=1, sorted=1)
    valid = node("Greater", [top_s, "half_fill"])[0]  # [N, K] bool
    if nms.class_agnostic:
        anchor = top_i
        cls = node("Add", [node("GatherElements", [node("Squeeze", [best_class, "ax_last"])[0], anchor], axis=1)[0], "one_i"])[0]
    else:
        anchor = node("Mod", [top_i, "na"])[0]
        cls = node("Add", [node("Div", [top_i, "na"])[0], "one_i"])[0]
    det_boxes = node("GatherND", [boxes_xyxy, node("Unsqueeze", [anchor, "ax_last"])[0]], batch_dims=1)[0]  # [N, K, 4]
    valid3 = node("Unsqueeze", [valid, "ax_last"])[0]
    node("Where", [valid3, det_boxes, "zero_f"], [DET_BOXES_NAME])
    node("Where", [valid, top_s, "zero_f"], [DET_SCORES_NAME])
    node("Cast", [node("Where", [valid, cls, "zero_i"])[0]], [DET_CLASSES_NAME], to=TensorProto.INT32)
    node("ReduceSum", [node("Cast", [valid], to=TensorProto.INT32)[0], "ax1"], [NUM_NAME], keepdims=0)

    used = {i for n in nodes for i in n.input}
    g.initializer.extend(_const(p + k, v) for k, v in inits.items() if p + k in used)
    g.node.extend(nodes)
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info(NUM_NAME, TensorProto.INT32, ["batch"]),
        helper.make_tensor_value_info(DET_BOXES_NAME, TensorProto.FLOAT, ["batch", top_k, 4]),
        helper.make_tensor_value_info(DET_SCORES_NAME, TensorProto.FLOAT, ["batch", top_k]),
        helper.make_tensor_value_info(DET_CLASSES_NAME, TensorProto.INT32, ["batch", top_k]),
    ])
    write_info(model, info)
    for prop in list(model.metadata_props):
        if prop.key == NMS_METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = NMS_METADATA_KEY, json.dumps(asdict(nms))
    return model


def _dynamic_batch(model) -> None:
    """Make dim 0 of the ``images`` input symbolic (``batch``)."""
    for inp in model.graph.input:
        if inp.name == INPUT_NAME:
            dim = inp.type.tensor_type.shape.dim[0]
            if not dim.dim_param:
                dim.Clear()
                dim.dim_param = "batch"
            return
    raise ModelFormatError(f"engine ONNX: expected an input named '{INPUT_NAME}', found none")


def write_engine_onnx(artifact_path: Path, dst: Path, nms: NmsParams, info: ArtifactInfo | None = None, *,
                      network=None, precision: str = "fp32", candidates: int = DEFAULT_CANDIDATES) -> Path:
    """Build the engine-ready ONNX of ``artifact_path`` at ``dst`` (checked with the full ONNX checker).

    ``network``: the artifact network in the wanted precision (an ``onnx.ModelProto``, see
    :mod:`trtssd.conversion.precision`); default: ``artifact_path`` itself (fp32)."""
    import onnx

    info = info or read_info(artifact_path)
    model = network if network is not None else onnx.load(str(artifact_path))
    _dynamic_batch(model)
    build_engine_graph(model, info, nms, candidates)
    for prop in list(model.metadata_props):
        if prop.key == PRECISION_METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = PRECISION_METADATA_KEY, precision
    return save_onnx(model, dst, f"engine ONNX ({precision})")


def read_precision(path: Path) -> str:
    """The network precision recorded in an engine-ready ONNX (``fp32`` for files without it)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in model.metadata_props if p.key == PRECISION_METADATA_KEY), "fp32")


def engine_onnx_path(artifact_path: Path, nms: NmsParams, precision: str = "fp32", variant: str = "",
                     candidates: int = DEFAULT_CANDIDATES) -> Path:
    """Cache location of the engine-ready ONNX for an artifact (or precision network), NMS
    settings, precision and variant (e.g. the calibration set of a post-training quantization)."""
    extra = f"-{variant}" if variant else ""
    cand = "" if candidates == DEFAULT_CANDIDATES else f"-k{candidates}"
    return (cache_dir() / "engine_onnx" /
            f"{Path(artifact_path).stem}-{ENGINE_ONNX_VERSION}-{precision}{extra}{cand}-nms{nms_key(nms)}.onnx")


def ensure_engine_onnx(artifact_path: Path, nms: NmsParams, info: ArtifactInfo | None = None, *,
                       precision: str = "fp32", calib=None, force: bool = False,
                       candidates: int = DEFAULT_CANDIDATES, model=None, model_dir=None, log=None) -> Path:
    """Return the cached engine-ready ONNX for ``artifact_path`` + ``nms`` in ``precision``,
    writing it on first use.

    ``precision``: ``fp32`` | ``fp16`` | ``int8`` (see :mod:`trtssd.conversion.precision`; int8
    uses the model's own Q/DQ when its source is quantized, else post-training quantization on
    ``calib``, a :class:`~trtssd.conversion.calibration.CalibrationData`; ``calib`` given always
    means post-training quantization).

    The cache name carries the source network's file stem (which embeds the source sha256 for
    converted artifacts), precision, variant and the NMS digest; a user-supplied artifact path is
    additionally keyed by its mtime and size so an edited file is not served stale.
    """
    from trtssd.conversion import precision as prec

    artifact_path = Path(artifact_path)
    info = info or read_info(artifact_path)
    source, variant = prec.precision_source(artifact_path, info, precision, calib, model=model, model_dir=model_dir, log=log)
    dst = engine_onnx_path(source, nms, precision, variant, candidates)
    st = source.stat()
    stamp = f"{st.st_size}-{st.st_mtime_ns}"
    stamp_file = dst.with_suffix(".src")
    if dst.exists() and not force and stamp_file.exists() and stamp_file.read_text() == stamp:
        return dst
    network = prec.precision_network(source, precision)
    write_engine_onnx(artifact_path, dst, nms, info, network=network, precision=precision, candidates=candidates)
    stamp_file.write_text(stamp)
    return dst
