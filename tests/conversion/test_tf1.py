"""TF1 frozen-graph conversion, on tiny graphs with the TF OD API SSD structure (odapi_graphs.py)."""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # odapi_graphs (helper module beside the tests)

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnx_graphsurgeon")

from odapi_graphs import (  # noqa: E402
    CONF_TH, EGOHANDS_NON_SQUARE, TinySsd, assert_same_detections, graph_spec, multiple_grid_anchors, run_frozen_graph,
    ssd_box_specs, make_images, write_frozen_graph,
)

from trtssd.conversion.api import ensure_artifact  # noqa: E402
from trtssd.conversion.tf1 import convert_tf1  # noqa: E402
from trtssd.conversion.tfgraph import (  # noqa: E402
    NodeOverrides, find_ssd_graph, load_frozen_graph, od_api_anchors, parse_label_map_pbtxt,
)
from trtssd.detector import Detector  # noqa: E402
from trtssd.errors import ConversionError  # noqa: E402
from trtssd.models.labels import COCO_90, EGOHANDS, default_labels  # noqa: E402
from trtssd.models.spec import GridAnchorSpec, ModelSource, ModelSpec  # noqa: E402
from trtssd.postprocess.priors import grid_anchors_cyxhw  # noqa: E402

COCO_SQUARE = TinySsd(input_size=(64, 64), num_classes=91, seed=0)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTSSD_CACHE_DIR", str(tmp_path / "cache"))


def _corners_to_cyxhw(c: np.ndarray) -> np.ndarray:
    h, w = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    return np.stack([c[:, 0] + h / 2, c[:, 1] + w / 2, h, w], axis=1)


@pytest.mark.parametrize("min_scale, input_size, count", [
    (0.2, (300, 300), 1917),   # ssd_mobilenet_v1/v2_coco, ssdlite, ssd_inception_v2
    (0.05, (300, 300), 1917),  # egohands
    (0.2, (300, 480), 1917),   # non-square input: OD API scales the base anchor by min(h, w) / (h, w)
])
def test_od_api_anchor_generator_is_reproduced(min_scale, input_size, count):
    """Full 19/10/5/3/2/1 grid, aspect ratios 1, 2, 0.5, 3, 0.3333, max 0.95 (build_engine.py)."""
    spec = GridAnchorSpec(min_scale=min_scale)
    specs = ssd_box_specs(min_scale, 0.95, spec.aspect_ratios, 6)
    tf_corners = multiple_grid_anchors(spec.feature_map_sizes, specs, *input_size).numpy().astype(np.float64)
    expected = _corners_to_cyxhw(tf_corners)
    ours = od_api_anchors(spec, input_size)
    assert ours.shape == (count, 4)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    if input_size[0] == input_size[1]:  # the square case is what priors.grid_anchors_cyxhw generates
        np.testing.assert_allclose(grid_anchors_cyxhw(spec), expected, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def graphs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tf1")
    return {name: write_frozen_graph(cfg, d / f"{name}.pb")
            for name, cfg in (("coco", COCO_SQUARE), ("egohands", EGOHANDS_NON_SQUARE))}


@pytest.mark.parametrize("name, cfg", [("coco", COCO_SQUARE), ("egohands", EGOHANDS_NON_SQUARE)])
def test_finds_od_api_nodes(graphs, name, cfg):
    ssd = find_ssd_graph(load_frozen_graph(graphs[name]))
    assert (ssd.boxes, ssd.classes) == ("concat:0", "concat_1:0")
    assert ssd.image.startswith("Preprocessor/map/")
    assert ssd.anchors == "Concatenate/concat:0"
    assert ssd.input_size == cfg.input_size
    assert ssd.coder_scales == (10.0, 10.0, 5.0, 5.0)
    assert ssd.iou_threshold == pytest.approx(0.6)
    assert ssd.score_activation == "sigmoid"


@pytest.mark.parametrize("name, cfg, labels", [("coco", COCO_SQUARE, COCO_90), ("egohands", EGOHANDS_NON_SQUARE, EGOHANDS)])
def test_converted_frozen_graph_matches_tensorflow(graphs, name, cfg, labels):
    path, info = ensure_artifact(str(graphs[name]))
    assert info.input_size == cfg.input_size
    assert info.labels == labels  # default labels for 91 / 2 score columns
    assert info.score_activation == "sigmoid"
    np.testing.assert_allclose(info.anchors_cyxhw, od_api_anchors(graph_spec(cfg), cfg.input_size), atol=1e-6, rtol=0)
    images = make_images(cfg, 3, seed=7)
    with Detector(graphs[name], conf_th=CONF_TH) as det:
        dets = det.detect_batch([im[..., ::-1].copy() for im in images])  # Detector takes BGR
    compared = assert_same_detections(run_frozen_graph(graphs[name], images), dets, cfg)
    assert compared > 0  # the comparison saw detections


def test_registered_spec_anchors_are_checked(graphs, tmp_path):
    cfg = EGOHANDS_NON_SQUARE
    good = ModelSpec(name="tiny_hands", description="", source=ModelSource("tiny_hands.pb", "tf1_frozen"),
                     labels=EGOHANDS, input_size=cfg.input_size, anchors=graph_spec(cfg))
    info = convert_tf1(graphs["egohands"], tmp_path / "good.onnx", model_name="tiny_hands", source_sha256="0",
                       labels_for=default_labels, spec=good)
    assert info.num_anchors == od_api_anchors(good.anchors, cfg.input_size).shape[0]
    bad = replace(good, anchors=graph_spec(cfg, min_scale=0.2))  # the COCO min scale on an egohands graph
    with pytest.raises(ConversionError, match="differ from the spec"):
        convert_tf1(graphs["egohands"], tmp_path / "bad.onnx", model_name="tiny_hands", source_sha256="0",
                    labels_for=default_labels, spec=bad)


def _renamed(graph_def, old: str, new: str):
    """A copy of ``graph_def`` with regex ``old`` replaced by ``new`` in every node name (and input)."""
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    for node in out.node:
        node.name = re.sub(old, new, node.name)
        node.input[:] = [re.sub(old, new, i) for i in node.input]
    return out


@pytest.mark.parametrize("renames, flag, kind, overrides", [
    ([("Preprocessor/", "Prep/")], "--input_node", "resized-image",
     {"input_node": "Prep/map/TensorArrayV2Stack/TensorListStack"}),
    ([("BoxEncodingPredictor", "LocHead"), ("^concat", "raw_outputs")], "--box_node", "raw box-encoding",
     {"box_node": "raw_outputs"}),
])
def test_missing_node_explains_and_override_fixes(graphs, tmp_path, renames, flag, kind, overrides):
    gd = load_frozen_graph(graphs["coco"])
    for old, new in renames:
        gd = _renamed(gd, old, new)
    with pytest.raises(ConversionError) as err:
        find_ssd_graph(gd)
    msg = str(err.value)
    assert kind in msg and flag in msg and "nearest names" in msg
    ssd = find_ssd_graph(gd, NodeOverrides(**overrides))
    assert (ssd.image, ssd.boxes, ssd.classes) == (
        "Prep/map/TensorArrayV2Stack/TensorListStack:0" if flag == "--input_node" else ssd.image,
        "raw_outputs:0" if flag == "--box_node" else "concat:0",
        "raw_outputs_1:0" if flag == "--box_node" else "concat_1:0",
    )
    custom = tmp_path / "custom.pb"
    custom.write_bytes(gd.SerializeToString())
    _, info = ensure_artifact(str(custom), overrides=NodeOverrides(**overrides))
    assert info.num_anchors == 318 and info.num_classes == 91


def test_cli_convert_with_node_overrides(graphs, tmp_path, capsys):
    from trtssd.cli import convert

    parser = argparse.ArgumentParser()
    convert.register(parser.add_subparsers())
    ssd = find_ssd_graph(load_frozen_graph(graphs["egohands"]))
    out = tmp_path / "hands.onnx"
    args = parser.parse_args(["convert", str(graphs["egohands"]), "--input_node", ssd.image, "--box_node", "concat",
                              "--class_node", "concat_1:0", "-o", str(out)])
    assert args.func(args) == 0
    assert out.exists() and "2 classes" in capsys.readouterr().out


def test_zoo_tar_gz_with_pbtxt_labels(graphs, tmp_path):
    archive = tmp_path / "ssd_tiny_2018_01_28.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(graphs["egohands"], arcname="ssd_tiny_2018_01_28/frozen_inference_graph.pb")
    (tmp_path / "label_map.pbtxt").write_text("item {\n  id: 1\n  name: 'hand'\n}\n")
    _, info = ensure_artifact(str(archive))
    assert info.labels == ("background", "hand") and info.input_size == EGOHANDS_NON_SQUARE.input_size


@pytest.mark.parametrize("text, n, expected", [
    ("item { id: 1 name: 'a' } item { id: 3 display_name: \"c\" }", 4, ("background", "a", "", "c")),
    ("item {\n name: 'x'\n id: 2\n}", 3, ("background", "", "x")),
])
def test_parse_label_map_pbtxt(text, n, expected):
    assert parse_label_map_pbtxt(text, n) == expected


@pytest.mark.parametrize("name, num_classes, min_scale, archive", [
    ("ssd_mobilenet_v1_coco", 91, 0.2, "ssd_mobilenet_v1_coco_2018_01_28"),
    ("ssd_mobilenet_v2_coco", 91, 0.2, "ssd_mobilenet_v2_coco_2018_03_29"),
    ("ssdlite_mobilenet_v2_coco", 91, 0.2, "ssdlite_mobilenet_v2_coco_2018_05_09"),
    ("ssd_inception_v2_coco", 91, 0.2, "ssd_inception_v2_coco_2018_01_28"),
    ("ssd_mobilenet_v1_egohands", 2, 0.05, None),
    ("ssd_mobilenet_v2_egohands", 2, 0.05, None),
])
def test_registry_tf1_entries(name, num_classes, min_scale, archive):
    from trtssd.models.zoo import MODELS

    spec = MODELS[name]
    assert spec.source.kind == "tf1_frozen" and spec.num_classes == num_classes
    assert spec.anchors.min_scale == min_scale and spec.input_size == (300, 300)
    assert od_api_anchors(spec.anchors, spec.input_size).shape == (1917, 4)
    if archive:
        assert spec.source.url == f"http://download.tensorflow.org/models/object_detection/{archive}.tar.gz"
        assert spec.source.archive_member == f"{archive}/frozen_inference_graph.pb"
    else:  # egohands: trained by the user (no official download)
        assert spec.source.url is None and spec.source.note


@pytest.mark.parametrize("normalize_first, expected_ops", [
    (False, []),             # 2018 zoo graphs: resize, then (2/255) x - 1 (kept in the cut graph)
    (True, ["Mul", "Sub"]),  # newer OD API SSDs: normalise, then resize (re-created on the new input)
])
def test_normalisation_order(tmp_path, normalize_first, expected_ops):
    from trtssd.conversion.tfgraph import normalisation_before_image

    cfg = replace(EGOHANDS_NON_SQUARE, normalize_first=normalize_first)
    pb = write_frozen_graph(cfg, tmp_path / "g.pb")
    gd = load_frozen_graph(pb)
    assert [n.op for n in normalisation_before_image(gd, find_ssd_graph(gd))] == expected_ops
    images = make_images(cfg, 2, seed=3)
    with Detector(pb, conf_th=CONF_TH) as det:
        dets = det.detect_batch([im[..., ::-1].copy() for im in images])
    assert assert_same_detections(run_frozen_graph(pb, images), dets, cfg) > 0
