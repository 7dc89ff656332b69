"""TF1 Object Detection API frozen graph (``frozen_inference_graph.pb`` or the zoo ``.tar.gz``) ->
trtssd ONNX artifact.

The graph is cut with :mod:`trtssd.conversion.tfgraph` (new uint8 input ``images`` replacing the
resized image, outputs = raw ``concat`` / ``concat_1``), converted by the tf2onnx command line, and
finished with onnx-graphsurgeon (``[batch, A, 4]`` box encodings, dynamic batch, artifact names).
Anchors come from the graph's ``MultipleGridAnchorGenerator`` and, when the model is registered,
are checked against the anchors its :class:`~trtssd.models.spec.GridAnchorSpec` generates.
:func:`convert_graph_def` is shared with the TF2 SavedModel converter.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trtssd.conversion.artifact import (
    BOXES_NAME,
    INPUT_NAME,
    SCORES_NAME,
    ArtifactInfo,
    save_artifact,
)
from trtssd.conversion.surgery import dynamic_batch_reshapes, simplify_for_backends
from trtssd.conversion.tfgraph import (
    TF_IMAGE_NAME,
    NodeOverrides,
    cut_graph_def,
    evaluate_anchors_and_coder,
    find_ssd_graph,
    load_frozen_graph,
    run_tf2onnx_graphdef,
    spec_anchors,
)
from trtssd.conversion.tfstructure import cut_point_report
from trtssd.errors import ConversionError
from trtssd.models.spec import BoxCoderSpec, ModelSpec, PostprocessSpec

CONVERTER = "tf1-2"  # 2: Sum / BatchNormalization / Shape-computed reshapes simplified
OPSET = 17
ANCHOR_ATOL = 1e-5  # graph anchors (float32 corners) vs generated anchors (float64 -> float32)

LabelsFor = Callable[[int], tuple[str, ...]]


def convert_tf1(src: Path, dst: Path, *, model_name: str, source_sha256: str, labels_for: LabelsFor,
                spec: ModelSpec | None = None, overrides: NodeOverrides = NodeOverrides(),
                log: Callable[[str], None] = lambda msg: None) -> ArtifactInfo:
    """Convert the frozen graph ``src`` (.pb or zoo .tar.gz) into the artifact ``dst``."""
    graph_def = load_frozen_graph(src)
    return convert_graph_def(graph_def, dst, model_name=model_name, source_sha256=source_sha256,
                             labels_for=labels_for, spec=spec, overrides=overrides, converter=CONVERTER, log=log)


def _resolve_anchors(graph_anchors: np.ndarray | None, spec: ModelSpec | None, input_size: tuple[int, int],
                     where: str) -> np.ndarray:
    expected = spec_anchors(spec, input_size) if spec else None
    if graph_anchors is None and expected is None:
        raise ConversionError(
            f"{where}: expected an anchor tensor (Concatenate/concat of a MultipleGridAnchorGenerator, or the box "
            "decoder's anchor operand) or a registered model spec to generate anchors from, found neither"
        )
    if graph_anchors is not None and expected is not None:
        if graph_anchors.shape != expected.shape:
            raise ConversionError(f"{where}: expected {expected.shape[0]} anchors from the model spec, "
                                  f"found {graph_anchors.shape[0]} in the graph")
        err = float(np.abs(graph_anchors - expected).max())
        if err > ANCHOR_ATOL:
            raise ConversionError(f"{where}: graph anchors differ from the spec's GridAnchorSpec by up to {err:.2e} "
                                  f"(expected <= {ANCHOR_ATOL:g}); check min_scale / aspect ratios / feature maps")
    return graph_anchors if graph_anchors is not None else expected


def convert_graph_def(graph_def, dst: Path, *, model_name: str, source_sha256: str, labels_for: LabelsFor,
                      spec: ModelSpec | None, overrides: NodeOverrides, converter: str,
                      log: Callable[[str], None] = lambda msg: None) -> ArtifactInfo:
    """Cut, convert and describe an OD API SSD GraphDef; writes ``dst`` atomically, returns its info."""

    ssd = find_ssd_graph(graph_def, overrides)
    if spec and ssd.input_size and tuple(spec.input_size) != ssd.input_size:
        raise ConversionError(f"{model_name}: expected input size {spec.input_size} (model spec), "
                              f"found {ssd.input_size} in the graph's Preprocessor resize")
    input_size = overrides.input_size or (tuple(spec.input_size) if spec else ssd.input_size)
    if input_size is None:
        raise ConversionError(f"{model_name}: expected an image resize op with a constant size giving the input size, "
                              f"found none; pass it with --input_size HxW. Found near the cut points: "
                              f"{cut_point_report(graph_def)}")
    graph_anchors, fitted_coder = evaluate_anchors_and_coder(graph_def, ssd, input_size,
                                                             fit_coder=ssd.coder_scales is None)
    try:
        anchors = _resolve_anchors(graph_anchors, spec, input_size, model_name)
    except ConversionError as exc:
        raise ConversionError(f"{exc}. Found near the cut points: {cut_point_report(graph_def)}") from None
    log(f"trtssd: {model_name}: image {ssd.image}, boxes {ssd.boxes}, classes {ssd.classes}, "
        f"{anchors.shape[0]} anchors ({ssd.anchors}), input {input_size[0]}x{input_size[1]}, "
        f"box coder {ssd.coder_scales or fitted_coder or 'from the spec'}")
    cut = cut_graph_def(graph_def, ssd, input_size)
    with tempfile.TemporaryDirectory(prefix="trtssd-convert-") as tmp:
        pb, raw = Path(tmp) / "cut.pb", Path(tmp) / "raw.onnx"
        pb.write_bytes(cut.SerializeToString())
        run_tf2onnx_graphdef(pb, raw, [f"{TF_IMAGE_NAME}:0"], [ssd.boxes, ssd.classes], OPSET)
        model = finish_onnx(raw, ssd.boxes, ssd.classes, input_size, anchors.shape[0], batch_one=ssd.batch_one)
    num_classes = _num_classes(model, input_size, anchors.shape[0], model_name)
    labels = spec.labels if spec else labels_for(num_classes)
    if len(labels) != num_classes:
        raise ConversionError(f"{model_name}: expected {num_classes} labels (incl. background) for the graph's "
                              f"class output, found {len(labels)}")
    pp = spec.postprocess if spec else PostprocessSpec()
    scales = ssd.coder_scales or fitted_coder
    coder = BoxCoderSpec(*scales) if scales else (spec.box_coder if spec else BoxCoderSpec())
    info = ArtifactInfo(
        model_name=model_name,
        source_sha256=source_sha256,
        converter=converter,
        input_size=(int(input_size[0]), int(input_size[1])),
        anchors_cyxhw=anchors,
        box_coder=coder,
        score_activation=ssd.score_activation,
        labels=tuple(labels),
        postprocess=PostprocessSpec(
            score_activation=ssd.score_activation,
            score_threshold=pp.score_threshold,
            iou_threshold=ssd.iou_threshold if ssd.iou_threshold is not None else pp.iou_threshold,
            max_detections_per_class=pp.max_detections_per_class,
            max_total_detections=pp.max_total_detections,
        ),
    )
    return save_artifact(model, info, dst)


def finish_onnx(raw: Path, boxes_name: str, classes_name: str, input_size: tuple[int, int], num_anchors: int,
                batch_one: bool = False):
    """Rename I/O to the artifact contract, reshape boxes to ``[batch, A, 4]``, dynamic batch.

    ``batch_one``: the source graph had a static batch of 1 (TF2 signatures), so constant Reshape
    targets ``[1, ...]`` are made ``[0, ...]`` ("copy the batch dimension").
    """
    import onnx
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(onnx.load(str(raw)))
    if batch_one:
        dynamic_batch_reshapes(graph)
    tensors = graph.tensors()
    image = tensors.get(f"{TF_IMAGE_NAME}:0")
    if image is None or image not in graph.inputs:
        raise ConversionError(f"converted graph: expected input '{TF_IMAGE_NAME}:0', found {[t.name for t in graph.inputs]}")
    image.name, image.shape = INPUT_NAME, ["batch", input_size[0], input_size[1], 3]
    boxes_raw, classes = tensors[boxes_name], tensors[classes_name]
    boxes = gs.Variable(BOXES_NAME, dtype=np.float32, shape=["batch", num_anchors, 4])
    graph.nodes.append(gs.Node("Reshape", name="box_encodings_reshape",
                               inputs=[boxes_raw, gs.Constant("box_encodings_shape", np.array([-1, num_anchors, 4], np.int64))],
                               outputs=[boxes]))
    classes.name, classes.dtype, classes.shape = SCORES_NAME, np.float32, ["batch", num_anchors, None]
    graph.outputs = [boxes, classes]
    for t in graph.tensors().values():  # drop stale shapes of intermediates
        if isinstance(t, gs.Variable) and t not in graph.inputs and t not in graph.outputs:
            t.shape = None
    graph.cleanup().toposort()
    simplify_for_backends(graph, INPUT_NAME, input_size)
    model = gs.export_onnx(graph)
    model.opset_import[0].version = max(model.opset_import[0].version, OPSET)
    return onnx.shape_inference.infer_shapes(model)


def _num_classes(model, input_size: tuple[int, int], num_anchors: int, where: str) -> int:
    """Run the converted network once on two zero images to check output shapes; returns C."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    boxes, scores = sess.run([BOXES_NAME, SCORES_NAME], {INPUT_NAME: np.zeros((2, *input_size, 3), np.uint8)})
    if boxes.shape != (2, num_anchors, 4) or scores.ndim != 3 or scores.shape[:2] != (2, num_anchors):
        raise ConversionError(f"{where}: expected outputs [2, {num_anchors}, 4] and [2, {num_anchors}, C], "
                              f"found {list(boxes.shape)} and {list(scores.shape)}")
    return int(scores.shape[2])
