"""Finding the SSD parts of a TF Object Detection API graph (TF1 frozen graph, or a frozen TF2
SavedModel signature) and cutting it down to the trtssd artifact's network.

The OD API export is ``image_tensor`` -> ``Preprocessor`` (per-image resize in a ``map`` loop, or
unstack/resize/``stack`` when the batch is static, and ``(2/255) x - 1`` after the resize in 2018
zoo graphs, before it in newer exports) -> ``FeatureExtractor`` -> ``BoxPredictor_N/{BoxEncodingPredictor,ClassPredictor}``
-> ``concat`` (raw box encodings ``[N, A, 1, 4]``) and ``concat_1`` (class logits ``[N, A, C]``) ->
``Postprocessor`` (decode with the anchors of ``MultipleGridAnchorGenerator``, sigmoid,
``BatchMultiClassNonMaxSuppression``). The artifact keeps the part between the resized image and
the two raw outputs; anchors, box-coder scales, score activation and the NMS IoU threshold are
read from the graph when present.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trtssd.conversion.quiet import quiet_native_stderr
from trtssd.conversion.tfstructure import (
    cut_point_report,
    decoded_boxes,
    decoder_anchor_input,
    fit_box_coder,
    input_size_from_resize,
    static_image_size,
)
from trtssd.errors import ConversionError, ModelFormatError
from trtssd.postprocess.priors import multiscale_anchors, od_api_anchors, spec_anchors  # noqa: F401 (generated there)

TF_IMAGE_NAME = "images"  # the placeholder that replaces the resized image inside the TF graph
_OVERRIDE_FLAG = {"input": "--input_node", "box": "--box_node", "class": "--class_node"}
_IMAGE_CANDIDATES = (
    "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3",
    "Preprocessor/map/TensorArrayV2Stack/TensorListStack",
)


@dataclass(frozen=True)
class NodeOverrides:
    """Tensor names given by the user for custom graphs (``name`` or ``name:port``).

    input_node: the resized image ``[N, H, W, 3]`` (everything before it is dropped; a
        normalisation applied before it is copied onto the new input); box_node: raw box
        encodings; class_node: raw class outputs (column 0 = background, before the sigmoid);
    input_size: ``(h, w)`` where the graph has no constant resize size; anchors: the SSD anchor
        spec of an export that carries no anchors (raw-output TFLite).
    """

    input_node: str | None = None
    box_node: str | None = None
    class_node: str | None = None
    input_size: tuple[int, int] | None = None  # (h, w), for graphs that do not state it
    anchors: GridAnchorSpec | None = None  # for exports without anchors (raw-output TFLite)

    def key(self) -> str:
        """Short stable string for cache keys ('' when no override is set)."""
        parts = [p or "" for p in (self.input_node, self.box_node, self.class_node)]
        parts += [f"{self.input_size[0]}x{self.input_size[1]}" if self.input_size else "", repr(self.anchors) if self.anchors else ""]
        return "" if not any(parts) else "|".join(parts)


@dataclass(frozen=True)
class SsdGraph:
    """Tensor names (``node:port``) of the SSD parts found in a graph."""

    image: str
    boxes: str
    classes: str
    anchors: str | None  # anchor corners (ymin, xmin, ymax, xmax) [A, 4], normalised
    placeholders: tuple[str, ...]  # the graph's own inputs (fed when evaluating the anchors)
    score_activation: str
    coder_scales: tuple[float, float, float, float] | None
    iou_threshold: float | None
    input_size: tuple[int, int] | None  # (h, w) from the Preprocessor resize constant
    batch_one: bool = False  # the graph's image input has a static batch of 1 (TF2 signatures)
    decoded: str | None = None  # the decoder's corner boxes [4, N*A] (to fit folded coder scales)


def tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def node_name(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def load_frozen_graph(path: Path, member: str = "frozen_inference_graph.pb"):
    """A ``tf.compat.v1.GraphDef`` from a frozen ``.pb`` or a zoo ``.tar.gz`` holding one."""
    import tarfile

    tf = import_tf()
    path = Path(path)
    if path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tar:
            names = [m for m in tar.getnames() if m.endswith(member)]
            if not names:
                raise ModelFormatError(f"{path.name}: expected a member */{member}, found {tar.getnames()[:8]}")
            data = tar.extractfile(names[0]).read()
    else:
        data = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # google.protobuf DecodeError
        raise ModelFormatError(f"{path.name}: expected a frozen TensorFlow GraphDef, found unparsable data ({exc})") from None
    if not graph_def.node:
        raise ModelFormatError(f"{path.name}: expected a frozen TensorFlow GraphDef, found no nodes")
    return graph_def


def import_tf():
    try:
        with quiet_native_stderr():
            import tensorflow as tf
    except ImportError as exc:
        raise ConversionError(f"converting a TensorFlow model needs the 'convert' extra: pip install 'trtssd[convert]' ({exc})") from None
    return tf


def _not_found(what: str, flag_kind: str, tried: list[str], names: list[str]) -> ConversionError:
    near: list[str] = []
    for t in tried:
        near += [n for n in difflib.get_close_matches(t, names, n=3, cutoff=0.5) if n not in near]
    return ConversionError(
        f"expected the {what} node ({' or '.join(tried[:3])}), found none; nearest names: "
        f"{', '.join(near[:5]) or 'none'}; pass it explicitly with {_OVERRIDE_FLAG[flag_kind]} NAME"
    )


def _all_nodes(graph_def):
    """Graph nodes plus nodes of library functions (for constants inside loop bodies)."""
    yield from graph_def.node
    for fn in graph_def.library.function:
        yield from fn.node_def


def _const_value(node) -> np.ndarray | None:
    if node.op != "Const":
        return None
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def _by_suffix(nodes: dict, suffix: str, ops: tuple[str, ...] | None = None) -> str | None:
    """Node named ``suffix`` or ending in ``/suffix`` (TF2 inlining prefixes names); shortest wins."""
    hits = [n for n, nd in nodes.items() if (n == suffix or n.endswith("/" + suffix)) and (ops is None or nd.op in ops)]
    return min(hits, key=len) if hits else None


def _ancestors_match(nodes: dict, start: str, words: tuple[str, ...], depth: int = 4) -> bool:
    """Whether any input within ``depth`` hops of ``start`` has one of ``words`` in its name."""
    frontier = [start]
    for _ in range(depth):
        nxt = []
        for name in frontier:
            for inp in nodes[name].input if name in nodes else []:
                src = node_name(inp)
                if any(w in src for w in words):
                    return True
                nxt.append(src)
        frontier = nxt
    return False


def _find_output(nodes: dict, names: list[str], override: str | None, kind: str) -> str:
    if override:
        if node_name(override) not in nodes:
            raise _not_found(f"{kind} override", kind, [node_name(override)], names)
        return tensor_name(override)
    words = ("BoxEncodingPredictor", "/BoxPredictor/") if kind == "box" else ("ClassPredictor",)
    default = "concat" if kind == "box" else "concat_1"
    hit = _by_suffix(nodes, default, ("ConcatV2", "Concat"))
    if hit and _ancestors_match(nodes, hit, words):
        return tensor_name(hit)
    concats = [n for n, nd in nodes.items() if nd.op in ("ConcatV2", "Concat") and _ancestors_match(nodes, n, words, 3)]
    if concats:
        return tensor_name(min(concats, key=len))
    raise _not_found("raw box-encoding" if kind == "box" else "raw class-score", kind, [default, f"BoxPredictor_0/{words[0]}"], names)


def _find_image(nodes: dict, names: list[str], override: str | None) -> str:
    if override:
        if node_name(override) not in nodes:
            raise _not_found("input override", "input", [node_name(override)], names)
        return tensor_name(override)
    for cand in _IMAGE_CANDIDATES:
        hit = _by_suffix(nodes, cand)
        if hit:
            return tensor_name(hit)
    hit = _by_suffix(nodes, "Preprocessor/stack", ("Pack",))  # static batch: unstack, resize, stack
    if hit:
        return tensor_name(hit)
    mul = _by_suffix(nodes, "Preprocessor/mul", ("Mul",))
    if mul:  # (2/255) * image - 1: the non-constant operand is the resized image
        for inp in nodes[mul].input:
            if nodes.get(node_name(inp)) is not None and nodes[node_name(inp)].op != "Const":
                return tensor_name(inp)
    raise _not_found("resized-image (Preprocessor output before normalisation)", "input", list(_IMAGE_CANDIDATES[:1]) + ["Preprocessor/mul"], names)


def _find_input_size(graph_def, nodes: dict, image: str) -> tuple[int, int] | None:
    """(h, w): the constant size operand of the (Preprocessor's) resize op, else a
    ``ResizeImage/size`` constant (also inside loop-body functions), else the resized image's
    static shape."""
    size = input_size_from_resize(graph_def)
    if size:
        return size
    scoped = [n for n in graph_def.node if "Preprocessor" in n.name]
    for fn in graph_def.library.function:
        if "Preprocessor" in fn.signature.name:
            scoped += list(fn.node_def)
    for node in scoped:
        if node.op == "Const" and node.name.endswith(("ResizeImage/size", "resize/size")):
            v = _const_value(node)
            if v is not None and v.shape == (2,):
                return int(v[0]), int(v[1])
    return static_image_size(nodes, image)


def _find_coder_scales(nodes: dict) -> tuple[float, float, float, float] | None:
    for stem in ("truediv", "div"):
        vals = []
        for k in ("", "_1", "_2", "_3"):
            name = _by_suffix(nodes, f"Postprocessor/Decode/{stem}{k}/y", ("Const",))
            v = _const_value(nodes[name]) if name else None
            if v is None or v.size != 1 or float(v) <= 0:
                break
            vals.append(float(v))
        if len(vals) == 4 and vals != [2.0] * 4:  # all 2.0: the box-size halvings of a coder without scales
            return tuple(vals)
    return None


def _find_iou_threshold(graph_def) -> float | None:
    for node in _all_nodes(graph_def):
        if node.op == "Const" and "NonMaxSuppression" in node.name and node.name.endswith("iou_threshold"):
            v = _const_value(node)
            if v is not None and v.size == 1:
                return round(float(v), 6)
    return None


def _find_activation(graph_def) -> str:
    ops = {n.op for n in _all_nodes(graph_def) if "Postprocessor" in n.name}
    if "Sigmoid" in ops:
        return "sigmoid"
    if "Softmax" in ops:
        return "softmax"
    return "sigmoid"  # the OD API SSD default (sigmoid score converter)


def find_ssd_graph(graph_def, overrides: NodeOverrides = NodeOverrides()) -> SsdGraph:
    """Locate image, raw outputs, anchors and postprocess settings; raises ConversionError with the
    nearest node names and the override flag when an expected node is missing."""
    nodes = {n.name: n for n in graph_def.node}
    names = list(nodes)
    anchors = _by_suffix(nodes, "Concatenate/concat", ("ConcatV2", "Concat", "Const")) or min(
        (n for n, nd in nodes.items() if nd.op in ("ConcatV2", "Concat")
         and _ancestors_match(nodes, n, ("AnchorGenerator",), 3)), key=len, default=None)
    anchors = tensor_name(anchors) if anchors else decoder_anchor_input(nodes)
    try:
        image = _find_image(nodes, names, overrides.input_node)
        boxes = _find_output(nodes, names, overrides.box_node, "box")
        classes = _find_output(nodes, names, overrides.class_node, "class")
    except ConversionError as exc:
        raise ConversionError(f"{exc}. Found near the cut points: {cut_point_report(graph_def)}") from None
    return SsdGraph(
        image=image,
        boxes=boxes,
        classes=classes,
        anchors=anchors,
        placeholders=tuple(tensor_name(n.name) for n in graph_def.node if n.op == "Placeholder"),
        score_activation=_find_activation(graph_def),
        coder_scales=_find_coder_scales(nodes),
        iou_threshold=_find_iou_threshold(graph_def),
        input_size=_find_input_size(graph_def, nodes, image),
        batch_one=any(_static_batch(n) == 1 for n in graph_def.node if n.op == "Placeholder"),
        decoded=decoded_boxes(nodes),
    )


def _static_batch(node) -> int | None:
    shape = node.attr["shape"].shape if "shape" in node.attr else None
    if shape is None or shape.unknown_rank or len(shape.dim) != 4:
        return None
    return int(shape.dim[0].size)


def evaluate_anchors(graph_def, ssd: SsdGraph, input_size: tuple[int, int]) -> np.ndarray | None:
    """The graph's anchors as float32 ``[A, 4]`` (ycenter, xcenter, h, w), or None when it has no
    anchor tensor. Placeholders are fed a zero image of ``input_size`` (h, w)."""
    return evaluate_anchors_and_coder(graph_def, ssd, input_size, fit_coder=False)[0]


def evaluate_anchors_and_coder(graph_def, ssd: SsdGraph, input_size: tuple[int, int], fit_coder: bool = True
                               ) -> tuple[np.ndarray | None, tuple[float, float, float, float] | None]:
    """``(anchors [A, 4] (ycenter, xcenter, h, w) float32 or None, coder scales or None)``.

    With ``fit_coder`` and a decoder in the graph (:func:`~trtssd.conversion.tfstructure.decoded_boxes`),
    the box-coder scales are fitted from one decode the graph does on a mid-grey image (for exports
    whose scale constants were folded away); anchors given as the decoder's ``[N*A, 4]`` operand
    are evaluated for batch 1."""
    if ssd.anchors is None:
        return None, None
    tf = import_tf()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    feed = {}
    fill = 128 if fit_coder and ssd.decoded else 0
    for ph in ssd.placeholders:  # image inputs only (TF2 freezing adds variant/resource placeholders)
        t = graph.get_tensor_by_name(ph)
        if (t.dtype.is_integer or t.dtype.is_floating) and t.shape.rank in (None, 4):
            feed[t] = np.full([1, *input_size, 3], fill, dtype=t.dtype.as_numpy_dtype)
    fetch = [ssd.anchors] + ([ssd.decoded, ssd.boxes] if fit_coder and ssd.decoded else [])
    try:
        with tf.compat.v1.Session(graph=graph) as sess:
            values = sess.run([graph.get_tensor_by_name(t) for t in fetch], feed)
            corners = np.asarray(values[0], dtype=np.float64)
    except Exception as exc:  # tf.errors.*: report, do not guess
        raise ConversionError(f"anchor tensor {ssd.anchors}: expected to evaluate it, found {exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0]}") from None
    if corners.ndim != 2 or corners.shape[1] != 4:
        raise ConversionError(f"anchor tensor {ssd.anchors}: expected shape [A, 4], found {list(corners.shape)}")
    h, w = corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]
    anchors = np.stack([corners[:, 0] + h / 2, corners[:, 1] + w / 2, h, w], axis=1)
    coder = None
    if len(values) == 3:
        decoded, raw = np.asarray(values[1], np.float64), np.asarray(values[2], np.float64)
        if decoded.shape == (4, anchors.shape[0]) and raw.size == anchors.size:
            coder = fit_box_coder(raw.reshape(-1, 4), anchors, decoded.T)
    return anchors.astype(np.float32), coder


_ELEMENTWISE = {"Cast", "Identity", "Mul", "Sub", "Add", "AddV2", "RealDiv", "Div", "Neg", "Maximum", "Minimum"}
_ARITHMETIC = _ELEMENTWISE - {"Cast", "Identity"}


def normalisation_before_image(graph_def, ssd: SsdGraph) -> list:
    """Arithmetic nodes applied to the graph's image input *before* ``ssd.image`` (newer OD API
    SSDs normalise, then resize), in order; empty when the normalisation comes after it (2018 zoo
    graphs resize first). Follows single elementwise consumers with constant operands."""
    nodes = {n.name: n for n in graph_def.node}
    consumers: dict[str, list] = {}
    for n in graph_def.node:
        for inp in n.input:
            if not inp.startswith("^"):
                consumers.setdefault(inp[:-2] if inp.endswith(":0") else inp, []).append(n)
    image_node = node_name(ssd.image)

    def is_const(ref: str) -> bool:
        return _is_const_ref(nodes, ref)

    chain = []
    for ph in ssd.placeholders:
        if node_name(ph) == image_node:
            return []
        cur = node_name(ph)
        while True:
            nxt = [c for c in consumers.get(cur, []) if c.op in _ELEMENTWISE
                   and all(is_const(i) for i in c.input if not i.startswith("^") and node_name(i) != cur)]
            if len(nxt) != 1:
                break
            if nxt[0].name == image_node:
                return []  # the image tensor itself is on the chain: normalisation comes after it
            chain.append(nxt[0])
            cur = nxt[0].name
        if any(n.op in _ARITHMETIC for n in chain):
            return [n for n in chain if n.op in _ARITHMETIC]
        chain = []
    return []


def cut_graph_def(graph_def, ssd: SsdGraph, input_size: tuple[int, int]):
    """A new GraphDef: placeholder ``images`` uint8 ``[?, H, W, 3]`` cast to float (and, where the
    graph normalises before resizing, put through copies of that normalisation) replaces the
    resized image; only the ancestors of the two raw outputs are kept (control edges dropped)."""
    tf = import_tf()
    from tensorflow.python.framework import graph_util

    h, w = input_size
    src_node, _, port = ssd.image.partition(":")
    image_refs = {ssd.image, src_node} if port in ("", "0") else {ssd.image}
    out = tf.compat.v1.GraphDef()
    out.library.CopyFrom(graph_def.library)
    out.versions.CopyFrom(graph_def.versions)
    with tf.Graph().as_default() as g:
        ph = tf.compat.v1.placeholder(tf.uint8, [None, h, w, 3], name=TF_IMAGE_NAME)
        tf.cast(ph, tf.float32, name=f"{TF_IMAGE_NAME}_float")
    out.node.extend(g.as_graph_def().node)
    replacement = f"{TF_IMAGE_NAME}_float"
    for i, norm in enumerate(normalisation_before_image(graph_def, ssd)):
        copy = out.node.add()
        copy.CopyFrom(norm)
        copy.name = f"{TF_IMAGE_NAME}_norm_{i}"
        nodes = {n.name: n for n in graph_def.node}
        prev = {node_name(x) for x in norm.input if not _is_const_ref(nodes, x)}
        del copy.input[:]
        for inp in norm.input:
            if inp.startswith("^"):
                continue
            copy.input.append(replacement if node_name(inp) in prev else inp)
        replacement = copy.name
    for node in graph_def.node:
        new = out.node.add()
        new.CopyFrom(node)
        del new.input[:]
        for inp in node.input:
            if inp.startswith("^"):
                continue
            new.input.append(replacement if inp in image_refs else inp)
    keep = [node_name(ssd.boxes), node_name(ssd.classes)]
    cut = graph_util.extract_sub_graph(out, keep)
    left = sorted(n.name for n in cut.node if n.op == "Placeholder" and n.name != TF_IMAGE_NAME)
    if left:
        raise ConversionError(
            f"raw outputs still depend on graph inputs {left} besides the resized image {ssd.image}; "
            "expected the box/class outputs to depend only on it (pass the right tensor with --input_node)"
        )
    return cut


def _is_const_ref(nodes: dict, ref: str) -> bool:
    """Whether tensor ``ref`` is a Const (possibly behind Identity nodes)."""
    nd = nodes.get(node_name(ref))
    while nd is not None and nd.op == "Identity":
        nd = nodes.get(node_name(nd.input[0]))
    return nd is not None and nd.op == "Const"


def run_tf2onnx_graphdef(pb: Path, dst: Path, inputs: list[str], outputs: list[str], opset: int) -> None:
    """Convert a frozen GraphDef file with the tf2onnx command line (in a subprocess)."""
    from trtssd.conversion.tf2onnx_cli import run_tf2onnx

    run_tf2onnx(["--graphdef", str(pb), "--inputs", ",".join(inputs), "--outputs", ",".join(outputs)], dst, pb.name, opset)


def parse_label_map_pbtxt(text: str, num_classes: int) -> tuple[str, ...]:
    """OD API ``label_map.pbtxt`` (``item { id: N  name/display_name: '...' }``) -> labels indexed by id,
    ``num_classes`` long (id 0 = background, missing ids = '')."""
    import re

    labels = ["background"] + [""] * (num_classes - 1)
    for item in re.findall(r"item\s*\{(.*?)\}", text, flags=re.DOTALL):
        m_id = re.search(r"\bid\s*:\s*(\d+)", item)
        m_name = re.search(r"display_name\s*:\s*[\"'](.*?)[\"']", item) or re.search(r"\bname\s*:\s*[\"'](.*?)[\"']", item)
        if m_id and m_name:
            i = int(m_id.group(1))
            if not 0 < i < num_classes:
                raise ModelFormatError(f"label map: expected ids 1..{num_classes - 1} for {num_classes} score columns, found id {i}")
            labels[i] = m_name.group(1)
    return tuple(labels)


def labels_beside(model_path: Path, num_classes: int) -> tuple[str, ...] | None:
    """Labels from ``labelmap.txt`` / ``label_map.pbtxt`` inside a SavedModel directory or beside
    the model file (``<model>.txt`` / ``<model>.pbtxt`` too); None when there is none."""
    from trtssd.models.labels import load_label_file

    base = Path(model_path)
    dirs = [base, base.parent] if base.is_dir() else [base.parent]
    stem = base.name.split(".")[0]
    for d in dirs:
        for name in ("labelmap.txt", f"{stem}.txt"):
            if (d / name).is_file():
                return load_label_file(d / name)
        for name in ("label_map.pbtxt", f"{stem}.pbtxt"):
            if (d / name).is_file():
                return parse_label_map_pbtxt((d / name).read_text(encoding="utf-8"), num_classes)
    return None
